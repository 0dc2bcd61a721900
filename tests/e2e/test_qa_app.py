"""The main job end to end: index a real text, answer with the real local LLM, cite real chunks."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragloom.apps.qa import QASettings, answer_questions, build_index, corpus_documents, qa_flow
from ragloom.cli import app
from ragloom.core.paths import bundled_text
from ragloom.flows import Flow
from ragloom.flows.yaml_io import flow_to_dict

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flows" / "qa.yaml"


def test_yaml_example_is_the_python_flow() -> None:
    from_yaml = Flow.from_yaml(EXAMPLE)
    assert flow_to_dict(from_yaml) == flow_to_dict(qa_flow())
    assert from_yaml.to_yaml() == qa_flow().to_yaml()


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first stave of the bundled novel (Marley's ghost), split into two files."""
    text = bundled_text().read_text(encoding="utf-8")
    start = text.index("MARLEY'S GHOST", 5000)
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "stave1a.txt").write_text(text[start : start + 6000], encoding="utf-8")
    (folder / "stave1b.md").write_text(text[start + 6000 : start + 12000], encoding="utf-8")
    return folder


@pytest.mark.slow
def test_answers_cite_selected_chunks_and_trace_counts_tokens(small_corpus: Path, tmp_path: Path) -> None:
    index = build_index(corpus_documents(small_corpus), tmp_path / "index", progress=False)
    assert len(index.chunks) > 5
    settings = QASettings(budget_tokens=256, max_tokens=32)
    (result,) = answer_questions(index, ["Who was Scrooge's partner?"], settings=settings)
    state = result.state
    assert state.answer.strip()
    from ragloom.documents import cite

    where = {cite(hit) for hit in state.context}  # citations say where: file (and page, section)
    assert where and set(state.citations) <= where and all(c.startswith("stave1") for c in state.citations)
    assert sum(len(h.text) for h in state.context) > 0
    assert [r.node for r in result.trace] == ["retrieve", "rerank", "select", "generate"]
    generate = result.trace[3]
    assert generate.usage.prompt_tokens > 0 and generate.usage.completion_tokens > 0
    for hit in state.context:  # every cited chunk maps back to its source file
        source = (small_corpus / hit.doc_id).read_text(encoding="utf-8")
        assert source[hit.chunk.start : hit.chunk.end] == hit.text
    reopened = build_index(corpus_documents(small_corpus), tmp_path / "index", progress=False)
    assert len(reopened.chunks) == len(index.chunks)  # second run reuses the index


@pytest.mark.slow
def test_ask_command_on_user_files(small_corpus: Path) -> None:
    result = CliRunner().invoke(app, ["ask", "What was Marley?", "--corpus", str(small_corpus), "--no-trace"])
    assert result.exit_code == 0, result.output
    assert "Q: What was Marley?" in result.output
    assert "stave1" in result.output  # a citation names a chunk of the user's files


def test_ask_command_rejects_an_empty_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ask", "anything", "--corpus", str(tmp_path)])
    assert result.exit_code == 2
    assert "no readable documents" in result.output


def test_ask_command_names_a_missing_path_and_reads_a_non_utf8_file(tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["ask", "anything", "--corpus", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "binary.txt").write_bytes(b"\x00\xff" * 50)
    only_binary = tmp_path / "bin"
    only_binary.mkdir()
    (only_binary / "binary.txt").write_bytes(b"\x00\xff" * 50)
    assert [d.text for d in corpus_documents(tmp_path)] == ["café"]  # Windows-1252 when not UTF-8
    bad = CliRunner().invoke(app, ["ask", "anything", "--corpus", str(only_binary)])
    assert bad.exit_code == 2 and "binary.txt: binary" in bad.output
