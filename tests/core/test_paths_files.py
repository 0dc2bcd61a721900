"""Path helpers under odd environment variables, and the atomic folder swap when things go wrong."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from ragloom.core.errors import ConfigError
from ragloom.core.files import replace_dir
from ragloom.core.paths import cache_dir, data_dir


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake home and a separate working directory, so a literal '~' folder in the cwd would show."""
    home = tmp_path / "home"
    cwd = tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.chdir(cwd)
    return home


def test_cache_dir_expands_tilde(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGLOOM_CACHE_DIR", "~/rc")
    assert cache_dir("models") == home / "rc" / "models"
    assert (home / "rc" / "models").is_dir()
    assert list(Path.cwd().iterdir()) == []  # no literal "~" folder next to the user's files


def test_empty_cache_dir_variable_means_the_default(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGLOOM_CACHE_DIR", "")
    path = cache_dir("x")
    assert path.is_absolute() and path.is_relative_to(home / ".cache")
    assert list(Path.cwd().iterdir()) == []


def test_relative_cache_dir_is_made_absolute_at_the_call(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative path is resolved once, so a later chdir does not move the cache the caller holds."""
    monkeypatch.setenv("RAGLOOM_CACHE_DIR", "cache")
    path = cache_dir("x")
    assert path == Path.cwd() / "cache" / "x" and path.is_absolute()


def test_cache_dir_that_cannot_be_created_is_a_config_error(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A raw OSError named neither the setting nor the fix."""
    blocker = home / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("RAGLOOM_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(ConfigError, match=r"a-file/cache/models.*RAGLOOM_CACHE_DIR") as info:
        cache_dir("models")
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write to any folder")
def test_unwritable_cache_dir_is_a_config_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = home / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    monkeypatch.setenv("RAGLOOM_CACHE_DIR", str(locked))
    try:
        with pytest.raises(ConfigError, match=r"locked.*not writable.*RAGLOOM_CACHE_DIR"):
            cache_dir()
        with pytest.raises(ConfigError, match=r"locked/x.*RAGLOOM_CACHE_DIR"):
            cache_dir("x")
    finally:
        locked.chmod(0o700)


def test_data_dir_expands_tilde_and_ignores_an_empty_variable(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGLOOM_DATA", "~/datasets")
    assert data_dir() == home / "datasets"
    monkeypatch.setenv("RAGLOOM_DATA", "")
    assert data_dir().name == "data" and data_dir().is_absolute()


def _folder(path: Path, text: str) -> Path:
    path.mkdir(parents=True)
    (path / "payload.txt").write_text(text, encoding="utf-8")
    return path


def test_replace_dir_swaps_and_leaves_nothing_behind(tmp_path: Path) -> None:
    target = _folder(tmp_path / "index", "old")
    replace_dir(_folder(tmp_path / "index.tmp", "new"), target)
    assert (target / "payload.txt").read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_replace_dir_with_a_missing_tmp_keeps_the_old_folder(tmp_path: Path) -> None:
    """The old folder used to be moved aside before the failing rename: the index vanished."""
    target = _folder(tmp_path / "index", "old")
    with pytest.raises(FileNotFoundError, match=r"index\.tmp"):
        replace_dir(tmp_path / "index.tmp", target)
    assert (target / "payload.txt").read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


@pytest.mark.skipif(
    not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(tempfile.gettempdir()).st_dev,
    reason="needs /dev/shm on another filesystem than the temp dir",
)
def test_replace_dir_across_filesystems(tmp_path: Path) -> None:
    """os.replace cannot cross filesystems (EXDEV): the new folder is copied beside the target first."""
    target = _folder(tmp_path / "index", "old")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
        tmp = _folder(Path(shm) / "built", "new")
        replace_dir(tmp, target)
        assert not tmp.exists()
    assert (target / "payload.txt").read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_writer_killed_between_the_renames_leaves_an_index_readers_recover(tmp_path: Path) -> None:
    """The crash window of replace_dir: the old folder moved aside, the new one not yet in place."""
    from ragloom.core.types import Chunk
    from ragloom.retrieval.bm25 import BM25Retriever

    chunks = [
        Chunk("granite is an igneous rock", "rock", 0, 26),
        Chunk("green tea has caffeine", "tea", 0, 22),
    ]
    target = BM25Retriever(chunks).save(tmp_path / "bm25")
    os.replace(target, tmp_path / f"bm25.old-{_dead_pid()}")  # what a kill between the renames leaves

    reopened = BM25Retriever.load(target)
    assert target.is_dir() and [h.doc_id for h in reopened.retrieve("igneous rock", 1)] == ["rock"]


def test_a_swap_still_in_progress_is_left_alone(tmp_path: Path) -> None:
    from ragloom.core.files import recover_dir

    aside = tmp_path / f"index.old-{os.getpid()}"  # this process is alive: its swap is not abandoned
    aside.mkdir()
    recover_dir(tmp_path / "index")
    assert aside.is_dir() and not (tmp_path / "index").exists()
