"""Every retriever honours ``where`` and still returns k: bm25, dense (chroma, in-memory), hybrid, graph,
reranked; plus the flow adapter (YAML ``with: {where}`` and a per-request state key)."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest

from ragloom.core.types import Document
from ragloom.retrieval.filters import compile_filter
from ragloom.retrieval.index import Index

# Hand-made documents carrying the ingestion layer's metadata contract (source, title, section, page, format).
# Every text says "report", so BM25 scores every chunk for the query and the counts below are exact.
PAGES = {
    1: "The R report introduces vectors, the basic data structure of the language.",
    2: "Arrays and matrices in R: the report explains dim attributes and indexing.",
    3: "Reading data: the report covers read.table and read.fwf for fixed-width files.",
    4: "Lists and data frames hold columns of different types, the report says.",
    5: "Statistical models in R are specified by formulae, per the report.",
    6: "Graphics procedures draw plots; the report lists high-level plotting commands.",
}
HTML = {
    "lang_select": ("SELECT > Joins", "The SELECT report: joins combine rows of two tables in SQLite."),
    "lang_insert": ("INSERT", "The INSERT report: new rows are added to a table in SQLite."),
    "pragma": ("PRAGMA > journal_mode", "A report on the journal mode pragma, WAL and rollback journals."),
    "fts5": ("FTS5 > Queries", "Full-text search report: MATCH queries over an FTS5 virtual table."),
}
NOTES = {
    "apples": "Orchard report: apples ripen in autumn and apples keep for months in cold storage.",
    "pears": "Orchard report: pears ripen off the tree, unlike apples.",
}


def documents() -> list[Document]:
    docs = [
        Document(
            f"manuals/R-intro.pdf#p{p}",
            text,
            {"source": "manuals/R-intro.pdf", "title": "An Introduction to R", "page": p, "page_end": p}
            | {"format": "pdf"},
        )
        for p, text in PAGES.items()
    ]
    docs += [
        Document(
            f"sqlite/{name}.html",
            text,
            {"source": f"sqlite/{name}.html", "title": name, "section": section, "format": "html"},
        )
        for name, (section, text) in HTML.items()
    ]
    docs += [
        Document(f"notes/{n}.md", t, {"source": f"notes/{n}.md", "title": n, "format": "md"})
        for n, t in NOTES.items()
    ]
    return docs


FILTERS = [
    {"source": {"$glob": "*.pdf"}},
    {"page": {"$gte": 2, "$lte": 4}},
    {"source": {"$prefix": "sqlite"}},
    {"doc_id": {"$in": ["notes/pears.md", "sqlite/fts5.html", "manuals/R-intro.pdf#p6"]}},
    {"$or": [{"format": "md"}, {"page": 5}]},
    {"format": {"$ne": "pdf"}},
    {"section": {"$glob": "*Joins*"}},
    {"format": "docx"},
]
QUERY = "apples orchard report"  # favours the notes: a post-filter on the top k would starve other scopes


@pytest.fixture(scope="module", params=["chroma", "memory"])
def index(request, tmp_path_factory, embedder) -> Index:
    path = tmp_path_factory.mktemp(f"idx-{request.param}")
    return Index.build(path, documents(), embedder=embedder, vector_store=request.param)


def matching(where) -> set[str]:
    f = compile_filter(where)
    assert f is not None
    return {d.id for d in documents() if f.matches({**d.metadata, "doc_id": d.id})}


def check(hits, where, k) -> None:
    expected = matching(where)
    assert {h.doc_id for h in hits} <= expected, where
    assert len(hits) == min(k, len(expected)), (where, [h.doc_id for h in hits])
    assert len({h.id for h in hits}) == len(hits)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
@pytest.mark.parametrize("k", [1, 3, 20])
def test_flat_retrievers_filter_before_top_k(index, mode, k):
    retriever = index.retriever(mode)
    for where in FILTERS:
        check(retriever.retrieve(QUERY, k, where), where, k)
    assert len(retriever.retrieve(QUERY, 20)) == 12  # no filter: everything


def test_batch_retrieval_filters_too(index):
    where = {"source": {"$prefix": "manuals"}}
    for mode in ("bm25", "dense", "hybrid"):
        for hits in index.retriever(mode).retrieve_many([QUERY, "SQLite joins report"], 4, where):
            check(hits, where, 4)


def test_index_retrieve_and_invalid_filter(index):
    check(index.retrieve(QUERY, 2, {"format": "html"}), {"format": "html"}, 2)
    from ragloom.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"'page'.*'\$gte'"):
        index.retrieve(QUERY, 2, {"page": {"$gte": "two"}})


def test_reranker_paths_keep_the_filter(index, embedder):
    """A reranker only reorders what the filtered first stage gave it: both the library path and eval's."""
    from ragloom.retrieval.rerankers.collaborative import CollaborativeReranker
    from ragloom.retrieval.rerankers.maxsim import MaxSimReranker

    for reranker in (MaxSimReranker(embedder), CollaborativeReranker(embedder)):
        for where in FILTERS[:4]:
            hits = reranker.rerank(QUERY, index.retrieve(QUERY, 20, where), 3)
            check(hits, where, 3)


def test_eval_pipeline_with_reranker_filters(embedder):
    from ragloom.eval.build import build_pipeline
    from ragloom.eval.pipelines import pipeline_spec_from_dict

    spec = pipeline_spec_from_dict({"name": "rr", "retrievers": ["bm25", "dense"], "reranker": "maxsim"})
    pipeline = build_pipeline(spec, embedder)
    pipeline.index(documents())
    # eval's corpus chunks carry no document metadata (yet): filter on doc_id, which every chunk has
    for where in (
        {"doc_id": {"$glob": "manuals/*"}},
        {"doc_id": {"$in": ["sqlite/pragma.html", "notes/pears.md"]}},
    ):
        check(pipeline.retrieve(QUERY, 3, where), where, 3)


@pytest.fixture(scope="module")
def graph_retriever(tmp_path_factory, embedder):
    """A graph over the documents with the filtered flat index as first stage (real spaCy + MiniLM)."""
    from ragloom.retrieval.graph.graph_index import GraphIndex
    from ragloom.retrieval.graph.retriever import GraphRetriever
    from ragloom.retrieval.graph.seeds import SeedLinker

    flat = Index.build(
        tmp_path_factory.mktemp("g-flat"), documents(), embedder=embedder, vector_store="memory"
    )
    graph = GraphIndex(embedder=embedder)
    graph.update(documents())
    return GraphRetriever(graph, linker=SeedLinker(graph, first_stage=flat.hybrid()))


@pytest.mark.parametrize("k", [1, 3, 10])
def test_graph_retriever_filters_walk_and_fill_up(graph_retriever, k):
    for where in FILTERS:
        check(graph_retriever.retrieve(QUERY, k, where), where, k)
        check(graph_retriever.retrieve("Which SQLite report joins rows?", k, where), where, k)
    batch = graph_retriever.retrieve_many([QUERY], k, {"format": "html"})
    check(batch[0], {"format": "html"}, k)


FLOW = """\
name: scoped
state:
  question: str
  hits: {{type: "list[Hit]", default: []}}
  where: {{type: "dict[str, Any] | None", default: null}}
nodes:
  find: {{uses: retrieval.index, with: {{path: "{index}", k: 3, where: {{format: {{$in: [pdf, html]}}}}}}}}
  rank: {{uses: retrieval.rerank.maxsim, with: {{k: 2}}}}
edges:
  - {{from: START, to: find}}
  - {{from: find, to: rank}}
  - {{from: rank, to: END}}
"""


def test_flow_nodes_take_where_from_yaml_and_from_state(index):
    from ragloom.flows import Flow

    compiled = Flow.from_yaml(FLOW.format(index=index.path)).compile()
    hits = compiled.invoke({"question": QUERY}).state.hits
    check(hits, {"format": {"$in": ["pdf", "html"]}}, 2)
    hits = compiled.invoke({"question": QUERY, "where": {"page": {"$lte": 3}}}).state.hits
    check(hits, {"$and": [{"format": {"$in": ["pdf", "html"]}}, {"page": {"$lte": 3}}]}, 2)


def test_flow_filter_errors_name_node_and_field(index):
    from ragloom.core.errors import ConfigError
    from ragloom.core.registry import create

    with pytest.raises(ConfigError, match=r"retrieval.index.*'page'.*'\$gte'"):
        create("retrieval.index", {"path": str(index.path), "where": {"page": {"$gte": "x"}}})
    node = create("retrieval.hybrid", {"index": str(index.path), "k": 2})
    with pytest.raises(ConfigError, match=r"state key 'where'.*'source'.*'\$glob'"):
        node({"question": QUERY, "where": {"source": {"$glob": 1}}})
    assert len(node({"question": QUERY, "where": None})["hits"]) == 2


class ScopedGraphState(TypedDict, total=False):
    question: str
    where: dict[str, Any]
    graph_seeds: Any
    subgraph: dict[str, float]
    hits: list[Any]


def test_graph_retrieve_node_takes_where_from_yaml_and_state(graph_retriever):
    """``graph.retrieve`` alone and after a subgraph node (ranking precomputed scores) filters alike."""
    from ragloom.core.registry import create
    from ragloom.flows import END, START, Flow

    state = ScopedGraphState
    alone = Flow(state, name="graph-scoped")
    alone.add_node("find", create("graph.retrieve", {"resource": "g", "k": 3, "where": {"format": "html"}}))
    alone.add_edge(START, "find")
    alone.add_edge("find", END)
    chained = Flow(state, name="graph-scoped-ppr")
    chained.add_node("subgraph", create("graph.subgraph.ppr", {"resource": "g"}))
    chained.add_node("find", create("graph.retrieve", {"resource": "g", "k": 3}))
    chained.add_edge(START, "subgraph")
    chained.add_edge("subgraph", "find")
    chained.add_edge("find", END)
    context = {"g": graph_retriever}
    hits = alone.compile().invoke({"question": QUERY}, context=context).state["hits"]
    check(hits, {"format": "html"}, 3)
    request = {"question": QUERY, "where": {"source": {"$glob": "*.pdf"}}}
    both = {"$and": [{"format": "html"}, request["where"]]}  # nothing is both: no hits, not an error
    check(alone.compile().invoke(request, context=context).state["hits"], both, 3)
    hits = chained.compile().invoke(request, context=context).state["hits"]
    check(hits, request["where"], 3)
