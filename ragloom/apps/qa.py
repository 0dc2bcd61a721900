"""Offline question answering with citations: index → retrieve → rerank → select → generate.

The flow is written with the Python DSL from registered components, so ``qa_flow().to_yaml()`` is the YAML
in ``examples/flows/qa.yaml`` (a test checks they compile to the same flow). The retriever and the LLM are
run resources (``context={"retriever": ..., "llm": ...}``), so one compiled flow serves any index.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ragloom.core.paths import bundled_text, cache_dir
from ragloom.core.registry import create
from ragloom.core.types import Document, Hit
from ragloom.documents.base import IngestReport
from ragloom.flows import END, START, Flow

#: Questions the demo asks about A Christmas Carol.
DEMO_QUESTIONS: tuple[str, ...] = (
    "What is the name of Scrooge's clerk?",
    "What is the name of Scrooge's nephew?",
    "What is the name of the ghost that visits Scrooge first?",
)

DEMO_DOC_ID = "a_christmas_carol"


class QAState(BaseModel):
    """The state of the QA flow: the question, candidate hits, the selected context and the answer."""

    model_config = ConfigDict(extra="forbid")

    question: str
    hits: list[Hit] = []
    context: list[Hit] = []
    answer: str = ""
    citations: list[str] = []


@dataclass(frozen=True)
class QASettings:
    """Knobs of the QA flow (defaults chosen for a 135M local model on 2 CPU cores)."""

    k: int = 20
    rerank_k: int = 8
    budget_tokens: int = 384
    max_tokens: int = 80
    fusion: str = "rrf"


def qa_flow(settings: QASettings = QASettings()) -> Flow:
    """The QA flow: hybrid retrieval → collaborative rerank → CORAG selection under a budget → generation.

    The collaborative (HybRank-style) reranker is the default because it reuses cached passage embeddings;
    late-interaction MaxSim needs a transformer pass per passage, too slow for 2 CPU cores per question.
    """
    flow = Flow(QAState, name="qa", max_steps=10)
    flow.add_node("retrieve", create("retrieval.hybrid", {"resource": "retriever", "k": settings.k}))
    flow.add_node("rerank", create("retrieval.rerank.collaborative", {"k": settings.rerank_k}))
    flow.add_node("select", create("select.corag", {"budget_tokens": settings.budget_tokens}))
    flow.add_node("generate", create("llm.generate", {"max_tokens": settings.max_tokens, "cite": "location"}))
    flow.add_edge(START, "retrieve")
    flow.add_edge("retrieve", "rerank")
    flow.add_edge("rerank", "select")
    flow.add_edge("select", "generate")
    flow.add_edge("generate", END)
    return flow


def corpus_documents(corpus: Path, report: IngestReport | None = None) -> list[Document]:
    """The user's files (PDF, HTML, Markdown, text, DOCX, EPUB under a folder, or one file) as documents
    keyed by relative path, read through :mod:`ragloom.documents`; unreadable files go to ``report``."""
    from ragloom.core.errors import ConfigError
    from ragloom.documents.folder import iter_documents

    if not corpus.exists():
        raise ConfigError(f"{str(corpus)!r} does not exist; point --corpus at a folder or a file")
    report = report if report is not None else IngestReport()
    documents = list(iter_documents(corpus, report, progress=True))
    if not documents:
        why = "; ".join(report.lines()) or "no files"
        raise ConfigError(
            f"no readable documents under {str(corpus)!r} ({why}); point --corpus at your documents"
        )
    return documents


def demo_documents() -> list[Document]:
    """The bundled novel (Project Gutenberg #24022, public domain)."""
    text = bundled_text().read_text(encoding="utf-8")
    meta = {"source": "a_christmas_carol.txt", "title": "A Christmas Carol", "format": "text"}
    return [Document(DEMO_DOC_ID, text, meta)]


def index_dir_for(documents: Sequence[Document], name: str) -> Path:
    """A cache folder per corpus location, so ``ragloom ask`` on two folders keeps two indexes."""
    digest = hashlib.sha1(f"{name}|structured-v2".encode()).hexdigest()[:12]  # new settings, new folder
    return cache_dir("indexes", f"{Path(name).name or 'corpus'}-{digest}")


def build_index(
    documents: Sequence[Document],
    path: Path,
    progress: bool | None = None,
    keep: Sequence[str] = (),
    late_chunking: bool = True,
) -> Any:
    """Open or (incrementally) build the index: structured chunks (section- and page-bounded, within
    MiniLM's window), embedded chromadb. ``late_chunking`` (the demo novel) embeds chunks in their
    document's context: it costs a second, windowed pass over every token, which a folder of files with
    sections and pages does not need (``ragloom ask`` turns it off: docs-a takes minutes with it)."""
    from ragloom.retrieval.index import Index

    index = Index.create(
        path,
        chunker="structured",
        chunker_params={},
        vector_store="chroma",
        late_chunking=late_chunking,
    )
    index.update(documents, progress=progress, keep=keep)  # keep: files unreadable this time stay indexed
    return index


def answer_questions(
    index: Any,
    questions: Sequence[str],
    llm: Any = None,
    settings: QASettings = QASettings(),
    on_answer: Callable[[str, Any], None] | None = None,
) -> list[Any]:
    """Run the QA flow for each question; ``on_answer(question, result)`` is called as each one finishes."""
    if llm is None:
        from ragloom.llm.local import default_llm

        llm = default_llm()
    compiled = qa_flow(settings).compile()
    resources = {"retriever": index.hybrid(fusion=settings.fusion), "llm": llm}
    results = []
    for question in questions:
        result = compiled.invoke({"question": question}, context=resources)
        results.append(result)
        if on_answer is not None:
            on_answer(question, result)
    return results
