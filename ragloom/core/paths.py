"""Where ragloom keeps caches and finds datasets; both overridable by environment variables."""

from __future__ import annotations

import os
from pathlib import Path

from ragloom.core.errors import ConfigError


def _env_path(name: str) -> Path | None:
    """``$name`` as an absolute path (``~`` expanded, relative to the current directory), None when unset
    or empty. Why: a shell leaves ``~`` unexpanded in quotes and ``.env`` files, which used to create a
    literal ``~`` folder in the working directory; an empty value (a common way to unset a variable in
    compose files) used to put the cache in the working directory itself."""
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().absolute() if value else None


def cache_dir(*parts: str) -> Path:
    """``$RAGLOOM_CACHE_DIR`` or the user cache dir, joined with ``parts`` and created; a ConfigError naming
    the folder when it cannot be created or written."""
    root = _env_path("RAGLOOM_CACHE_DIR")
    if root is None:
        from platformdirs import user_cache_dir

        root = Path(user_cache_dir("ragloom")).absolute()
    path = Path(root, *parts)
    fix = "set RAGLOOM_CACHE_DIR to a folder you can write to"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a raw PermissionError/NotADirectoryError named neither the setting nor the fix
        raise ConfigError(
            f"cannot create the ragloom cache directory {path}: {e.strerror or e}; {fix}"
        ) from e
    if not os.access(path, os.W_OK | os.X_OK):  # an existing read-only folder would fail later, mid-write
        raise ConfigError(f"the ragloom cache directory {path} is not writable; {fix}")
    return path


def data_dir() -> Path:
    """``$RAGLOOM_DATA`` or ``../shared/data`` next to the repository (the BEIR-layout datasets)."""
    env = _env_path("RAGLOOM_DATA")
    if env is not None:
        return env
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def bundled_text(name: str = "a_christmas_carol.txt") -> Path:
    """Path of a text shipped as package data."""
    return Path(__file__).resolve().parents[1] / "data" / name
