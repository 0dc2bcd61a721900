"""Where ragloom keeps caches and finds datasets; both overridable by environment variables."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$RAGLOOM_CACHE_DIR`` or the user cache dir, joined with ``parts`` and created."""
    root = os.environ.get("RAGLOOM_CACHE_DIR")
    if root is None:
        from platformdirs import user_cache_dir

        root = user_cache_dir("ragloom")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """``$RAGLOOM_DATA`` or ``../shared/data`` next to the repository (the BEIR-layout datasets)."""
    env = os.environ.get("RAGLOOM_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def bundled_text(name: str = "a_christmas_carol.txt") -> Path:
    """Path of a text shipped as package data."""
    return Path(__file__).resolve().parents[1] / "data" / name
