"""A killed ``ragloom search`` resumes from its journal: the rerun reads the journaled candidates back
instead of evaluating them, and ends where an uninterrupted run ends (same records in order, same best flow).
Real components throughout: the tiny BEIR dataset indexed with MiniLM, the real CLI in a subprocess killed
with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import tiny_beir
from typer.testing import CliRunner

from ragloom.agents.search.flow_journal import (
    JOURNAL_FILE,
    SearchJournal,
    SearchJournalWarning,
    search_settings,
)
from ragloom.agents.search.flow_search import FlowRecord, read_seed, search_flow
from ragloom.cli import app
from ragloom.core.errors import ConfigError
from ragloom.eval.datasets import load_dataset
from ragloom.eval.flow_resources import dataset_resources
from ragloom.scale import LocalExecutor

ROOT = Path(__file__).resolve().parents[3]
QA = ROOT / "examples" / "flows" / "qa.yaml"
DOCS = [d for d in tiny_beir.DOCS if d[0] != "d4"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_beir.write_beir(tmp_path_factory.mktemp("journal") / "tiny", DOCS, tiny_beir.QUESTIONS[:3])


class RefusingExecutor(LocalExecutor):
    """The collaborator of a resumed search whose budget the journal already meets: any evaluation fails."""

    def map(self, fn: Any, items: Any, *, setup: Any = None) -> list[Any]:
        raise AssertionError(f"evaluated {len(list(items))} items; the journal should have answered")


class CountingExecutor(LocalExecutor):
    """Local threads that count the items of each map (the collaborator: how the search batches its work)."""

    def __init__(self) -> None:
        super().__init__(2)
        self.maps: list[int] = []

    def map(self, fn: Any, items: Any, *, setup: Any = None) -> list[Any]:
        self.maps.append(len(list(items)))
        return super().map(fn, items, setup=setup)


def _search_args(tiny: Path, out: Path, budget: int, *more: str) -> list[str]:
    common = ["search", "--seed", str(QA), "--dataset", str(tiny), "--dev-fraction", "1.0"]
    return [*common, "--budget", str(budget), "--out", str(out), *more]


def _outcome(out: Path) -> tuple[list[tuple[float, list[str], dict[str, Any]]], str]:
    """What must not depend on a kill: the records in order (costs are timings: left out), the best flow."""
    rows = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    return [(r["score"], r["edits"], r["flow"]) for r in rows], (out / "best_flow.yaml").read_text()


def _journal_rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / JOURNAL_FILE).read_text().splitlines()[1:]]


def _kill_after(cmd: list[str], journal: Path, records: int, timeout: float = 240.0) -> int:
    """Run ``cmd`` and SIGKILL it once ``journal`` holds ``records`` records; the records it held then."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if journal.is_file() and len(journal.read_bytes().splitlines()) - 1 >= records:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    assert proc.returncode == -signal.SIGKILL, (
        f"the search was not killed mid-way ({proc.returncode}): {stderr}"
    )
    return len(journal.read_bytes().splitlines()) - 1


@pytest.mark.slow
@pytest.mark.integration
def test_a_search_killed_with_sigkill_resumes_to_the_uninterrupted_outcome(
    tiny: Path, tmp_path: Path
) -> None:
    cli, budget = CliRunner(), 6
    whole = cli.invoke(app, _search_args(tiny, tmp_path / "whole", budget))
    assert whole.exit_code == 0, whole.output
    killed = tmp_path / "killed"
    cmd = [str(Path(sys.executable).with_name("ragloom")), *_search_args(tiny, killed, budget)]
    kept = _kill_after(cmd, killed / JOURNAL_FILE, records=2)
    assert 2 <= kept < budget and not (killed / "records.jsonl").exists()  # killed before the end
    resumed = cli.invoke(app, _search_args(tiny, killed, budget))
    assert resumed.exit_code == 0, resumed.output
    assert f"{kept} candidates already scored" in resumed.output
    assert resumed.output.count("(from the journal)") == kept  # read back, not evaluated again
    assert _outcome(killed) == _outcome(tmp_path / "whole")
    rows = _journal_rows(killed)
    assert [r["n"] for r in rows] == list(range(1, budget + 1)) and len({r["key"] for r in rows}) == budget
    whole_rows = _journal_rows(tmp_path / "whole")
    assert [(r["key"], r["edits"], r["parent"]) for r in rows] == [
        (r["key"], r["edits"], r["parent"]) for r in whole_rows
    ]


def test_other_settings_are_refused_naming_the_setting_and_fresh_starts_over(
    tiny: Path, tmp_path: Path
) -> None:
    cli, out = CliRunner(), tmp_path / "out"
    assert cli.invoke(app, _search_args(tiny, out, 2)).exit_code == 0
    before = (out / JOURNAL_FILE).read_bytes()
    other = cli.invoke(app, _search_args(tiny, out, 2, "--random-seed", "7"))
    assert other.exit_code == 2
    assert "holds another search: its random_seed is 0, this run's is 7" in other.output
    assert "--fresh" in other.output and "another --out" in other.output
    assert (out / JOURNAL_FILE).read_bytes() == before  # nothing written, nothing mixed
    fresh = cli.invoke(app, _search_args(tiny, out, 2, "--random-seed", "7", "--fresh"))
    assert fresh.exit_code == 0, fresh.output
    assert "from the journal" not in fresh.output
    assert json.loads((out / JOURNAL_FILE).read_text().splitlines()[0])["settings"]["random_seed"] == 7


def test_a_met_budget_evaluates_nothing_and_a_larger_one_continues(tiny: Path, tmp_path: Path) -> None:
    dataset = load_dataset(tiny)
    resources, _ = dataset_resources(dataset, tiny)
    seed, journal = read_seed(QA), tmp_path / JOURNAL_FILE

    def records(budget: int, **kw: Any) -> list[tuple[Any, ...]]:
        outcome = search_flow(seed, dataset, resources, budget=budget, seed=2, journal=journal, **kw)
        return [(r.data, r.score, r.edits, r.parent, r.metrics) for r in outcome.records]

    counting = CountingExecutor()
    first = records(3, executor=counting)
    assert counting.maps == [3, 3, 3]  # one candidate x 3 questions per map: each journaled before the next
    assert records(3, executor=RefusingExecutor()) == first  # every candidate read back
    assert records(2, executor=RefusingExecutor()) == first[:2]  # a smaller budget replays the start
    longer = records(5)
    assert longer[:3] == first and len(longer) == 5 == len(_journal_rows(tmp_path))
    plain = search_flow(seed, dataset, resources, budget=5, seed=2)  # no journal: the current behaviour
    with pytest.raises(ConfigError, match="its random_seed is 2, this run's is 3"):
        search_flow(seed, dataset, resources, budget=5, seed=3, journal=journal)
    assert [(r.data, r.score, r.edits, r.parent, r.metrics) for r in plain.records] == longer


def _record(score: float) -> FlowRecord:
    return FlowRecord({"nodes": {"a": {"uses": "x"}}}, score, 1.5, ("a.k=2",), {"R": score}, 0)


def _settings(tiny: Path, **kw: Any) -> dict[str, Any]:
    options = {"objective": "R", "method": "mcts", "seed": 0, "budget": 4} | kw
    return search_settings({"nodes": {}}, load_dataset(tiny), **options)


def test_a_torn_last_line_is_dropped_with_a_warning(tiny: Path, tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_FILE
    with SearchJournal.open(path, _settings(tiny)) as journal:
        journal.append("state-1", 1, _record(0.5))
        journal.append("state-2", 2, _record(0.75))
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"n": 3, "key": "ab')  # killed mid-write
    with pytest.warns(SearchJournalWarning, match=r"journal.jsonl:4: ignored a torn last line"):
        journal = SearchJournal.open(path, _settings(tiny))
    with journal:
        assert journal.size == 2 and journal.lookup("state-2") == (0.75, 1.5, {"R": 0.75})
        assert journal.lookup("state-3") is None
        journal.append("state-3", 3, _record(float("-inf")))  # a candidate that did not build
    assert path.read_bytes().startswith(whole) and len(path.read_bytes().splitlines()) == 4
    with SearchJournal.open(path, _settings(tiny, budget=9)) as journal:  # a larger budget: allowed
        assert journal.size == 3 and journal.lookup("state-3") == (float("-inf"), 1.5, {"R": float("-inf")})


def test_a_damaged_journal_and_a_second_writer_are_refused(tiny: Path, tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_FILE
    with SearchJournal.open(path, _settings(tiny)) as journal:
        journal.append("state-1", 1, _record(0.5))
        with pytest.raises(ConfigError, match="another search is writing this journal"):
            SearchJournal.open(path, _settings(tiny))
    with pytest.raises(ConfigError, match=r"its exclude is \[\], this run's is \[\"select.mmr\"\]"):
        SearchJournal.open(path, _settings(tiny, exclude=["select.mmr"]))
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "not json", lines[1]]) + "\n")
    with pytest.raises(ConfigError, match=r"journal.jsonl:2: not a search journal line"):
        SearchJournal.open(path, _settings(tiny))
