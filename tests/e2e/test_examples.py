"""Every example runs: the notebook (executed with a real kernel) and the DSL script on a small corpus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.slow
@pytest.mark.integration
def test_flows_notebook_runs_and_renders(tmp_path: Path) -> None:
    notebook = nbformat.read(EXAMPLES / "flows_notebook.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    rich = [o["data"] for o in outputs if o.get("output_type") == "execute_result"]
    assert any(
        "text/markdown" in d and "mermaid" in d["text/markdown"] for d in rich
    )  # the flow renders itself
    assert any("text/html" in d and "<table>" in d["text/html"] for d in rich)  # the trace renders as a table
    streams = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "2 " in streams and "uses: select.corag" in streams
    assert "interrupted before write" in streams and "done True" in streams  # checkpoint, resume
    assert "step 1 plan" in streams  # a subflow step, streamed
    assert "approved [['summarise', 'summarise'], ['review']]" in streams  # Send fan-out, interrupt, resume
    assert "['hi', '1 so far', 'and?', '3 so far']" in streams  # a thread's memory
    assert "stave-one#" in streams  # the QA cell cited a chunk of the indexed text


@pytest.mark.slow
@pytest.mark.integration
def test_qa_script_on_a_small_corpus(tmp_path: Path) -> None:
    from ragloom.core.paths import bundled_text

    text = bundled_text().read_text(encoding="utf-8")
    start = text.index("MARLEY'S GHOST", 5000)
    (tmp_path / "stave.txt").write_text(text[start : start + 5000], encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "qa_demo.py"),
            "--corpus",
            str(tmp_path),
            "--index",
            str(tmp_path / "index"),
            "-q",
            "Who was Marley?",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Q: Who was Marley?" in done.stdout and "cites stave.txt" in done.stdout
