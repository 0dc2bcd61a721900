"""File-system helpers for writers that must never leave a half-written index behind."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path


def replace_dir(tmp: Path, target: Path) -> None:
    """Move the finished folder ``tmp`` to ``target``; an existing target is moved aside first, then removed.

    Readers see the old folder or the new one, never a mix (each ``os.replace`` is atomic). When the second
    rename fails the old folder is put back, so a failed swap never loses the index already written. A
    ``tmp`` on another filesystem (``os.replace`` cannot cross one) is first copied beside ``target``.
    """
    tmp, target = Path(tmp), Path(target)
    if not tmp.is_dir():
        raise FileNotFoundError(
            f"replace_dir: the finished folder {tmp} does not exist; {target} is unchanged"
        )
    tmp = _beside(tmp, target)
    if not target.exists():
        os.replace(tmp, target)
        return
    old = target.with_name(target.name + f".old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _beside(tmp: Path, target: Path) -> Path:
    """``tmp``, or a copy of it next to ``target`` when the two are on different filesystems."""
    parent = target.parent if target.parent.exists() else None
    if parent is None or os.stat(tmp).st_dev == os.stat(parent).st_dev:
        return tmp
    staged = target.with_name(target.name + f".tmp-copy-{os.getpid()}")
    shutil.rmtree(staged, ignore_errors=True)
    try:
        shutil.copytree(tmp, staged, symlinks=True)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    shutil.rmtree(tmp)
    return staged


def recover_dir(target: Path) -> None:
    """Finish a swap that a killed writer left half done.

    :func:`replace_dir` moves the old folder to ``<target>.old-<pid>`` and then moves the new one into place.
    A writer killed between the two renames leaves no ``target`` at all. Readers call this before opening, so
    the old folder comes back. Folders of a writer that is still running are left alone: its swap is in
    progress, not abandoned.
    """
    target = Path(target)
    if target.exists() or not target.parent.is_dir():
        return
    abandoned = [
        p for p in target.parent.glob(target.name + ".old-*") if not _alive(p.name.rsplit("-", 1)[1])
    ]
    if abandoned:
        newest = max(abandoned, key=lambda p: p.stat().st_mtime)
        os.replace(newest, target)


def _alive(pid: str) -> bool:
    """Whether process ``pid`` still runs (an unparsable suffix counts as running: leave its folder alone)."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, OverflowError):
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def utf8_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each line of a UTF-8 file (a leading byte order mark dropped).

    Decoding line by line lets a data file with one bad byte fail with a DatasetError naming the file and
    line, instead of a UnicodeDecodeError from deep inside a read loop.
    """
    from ragloom.core.errors import DatasetError

    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                yield lineno, raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise DatasetError(
                    f"{path}:{lineno}: not UTF-8 text ({e.reason}: byte {raw[e.start : e.start + 1]!r} at "
                    f"column {len(raw[: e.start].decode('utf-8', 'replace')) + 1}); convert the file to UTF-8"
                ) from None
