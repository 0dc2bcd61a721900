"""File-system helpers for writers that must never leave a half-written index behind."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def replace_dir(tmp: Path, target: Path) -> None:
    """Move the finished folder ``tmp`` to ``target``; an existing target is moved aside first, then removed.

    Readers see the old folder or the new one, never a mix (each ``os.replace`` is atomic).
    """
    if not target.exists():
        os.replace(tmp, target)
        return
    old = target.with_name(target.name + f".old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
