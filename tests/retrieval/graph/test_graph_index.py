"""The graph index on a dozen real passages: nodes and edges, synonyms, incremental updates, persistence."""

from __future__ import annotations

import pytest

from ragloom.core.types import Document
from ragloom.retrieval.graph.extract import SpacyEntityExtractor, normalize_entity, title_entities
from ragloom.retrieval.graph.graph_index import GraphIndex
from ragloom.retrieval.graph.records import GraphSettings, chunk_node, document_title, entity_node

pytestmark = pytest.mark.slow  # real spaCy model and embedder


class FakeCountingExtractor:
    """The real extractor, counting the texts it is asked to extract."""

    def __init__(self) -> None:
        self.real = SpacyEntityExtractor()
        self.texts: list[str] = []

    def extract(self, text: str):
        return self.extract_many([text])[0]

    def extract_many(self, texts):
        self.texts += list(texts)
        return self.real.extract_many(texts)


def test_normalisation_and_titles() -> None:
    assert normalize_entity("The Beatles'") == "beatles"
    assert normalize_entity("“Lester Smith’s”") == "lester smith"
    assert normalize_entity("1995") == "" and normalize_entity("the") == ""
    assert title_entities("Lilu (mythology)") == ["lilu (mythology)", "lilu"]
    assert document_title(Document("Demon Dice", "x")) == "Demon Dice"
    assert document_title(Document("docs/a.txt", "x")) == ""
    assert document_title(Document("5a77ec115542992a6e59dff7", "x")) == ""
    assert document_title(Document("d1", "x", {"title": "Kentucky"})) == "Kentucky"


def test_graph_has_chunks_entities_titles_and_mentions(built_graph) -> None:
    g = built_graph.graph
    assert len(built_graph) == 12
    assert sum(1 for _, d in g.nodes(data=True) if d["kind"] == "chunk") == 12
    # the bridge: "Lester Smith" is mentioned in Dragon Dice's passage and is the title of another passage
    lester = entity_node("lester smith")
    assert g[chunk_node(built_graph.doc_chunks["Lester Smith"][0])][lester]["kinds"].get("title") == 1.0
    assert "mention" in g[chunk_node(built_graph.doc_chunks["Dragon Dice"][0])][lester]["kinds"]
    assert g.nodes[lester]["chunks"] >= 3
    kinds = {k for _, _, d in g.edges(data=True) for k in d["kinds"]}
    assert {"mention", "title", "cooccur", "synonym"} <= kinds
    assert not any(n.startswith("e:199") for n in g)  # dates are not entities


def test_synonym_edges_link_spelling_variants(built_graph) -> None:
    g = built_graph.graph
    a, b = entity_node("lake geneva"), entity_node("geneva lake")  # "Lake Geneva ... Geneva Lake"
    assert a in g and b in g
    assert g[a][b]["kinds"]["synonym"] >= built_graph.settings.synonym_threshold
    vec = built_graph.entity_vectors
    for u, v, d in g.edges(data=True):
        if "synonym" in d["kinds"]:
            assert u.startswith("e:") and v.startswith("e:") and u != v
            i, j = built_graph.entity_row(u[2:]), built_graph.entity_row(v[2:])
            assert float(vec[i] @ vec[j]) == pytest.approx(d["kinds"]["synonym"], abs=1e-5)


def test_incremental_update_extracts_only_changed_documents(embedder, graph_docs) -> None:
    extractor = FakeCountingExtractor()
    index = GraphIndex(embedder=embedder, extractor=extractor)  # type: ignore[arg-type]
    first = index.update(graph_docs)
    assert (first.added, first.extracted, len(extractor.texts)) == (12, 12, 12)
    again = index.update(graph_docs)
    assert (again.unchanged, again.extracted, again.embedded) == (12, 0, 0)
    edited = [
        d if d.id != "Kentucky" else Document(d.id, d.text + " Its capital is Frankfort.") for d in graph_docs
    ]
    extractor.texts.clear()
    report = index.update(edited)
    assert (report.changed, report.added, report.extracted) == (1, 0, 1)
    assert extractor.texts == [edited[8].text]
    assert entity_node("frankfort") in index.graph
    before = set(index.graph)
    assert index.delete(["Mount Everest", "unknown"]) == 1
    gone = before - set(index.graph)
    assert chunk_node(f"Mount Everest#0-{len(graph_docs[-1].text)}") in gone
    assert entity_node("nepal") in gone and entity_node("china") not in index.graph
    report = index.update(edited[:3], delete_missing=True)
    assert report.deleted == 8 and len(index) == 3 and report.extracted == 0


def test_save_and_load_round_trip(built_graph, embedder, tmp_path) -> None:
    path = built_graph.save(tmp_path / "graph")
    loaded = GraphIndex.load(path, embedder=embedder)
    assert loaded.settings == built_graph.settings
    assert set(loaded.graph.nodes) == set(built_graph.graph.nodes)

    def edges(g):
        return {(min(u, v), max(u, v), tuple(sorted(d["kinds"].items()))) for u, v, d in g.edges(data=True)}

    assert edges(loaded.graph) == edges(built_graph.graph)
    assert loaded.entity_names == built_graph.entity_names
    assert (loaded.entity_vectors == built_graph.entity_vectors).all()
    assert loaded.doc_hashes == built_graph.doc_hashes
    assert (
        loaded.update(
            [Document(d, built_graph.records[c[0]].chunk.text) for d, c in built_graph.doc_chunks.items()]
        ).extracted
        == 0
    )


def test_settings_are_checked() -> None:
    with pytest.raises(Exception, match="unknown keys"):
        GraphSettings.from_dict({"bogus": 1})
    assert GraphSettings.from_dict(GraphSettings().to_dict()) == GraphSettings()


def test_loading_a_corrupt_index_names_the_file_and_line(built_graph, embedder, tmp_path) -> None:
    from ragloom.core.errors import IndexError_

    path = built_graph.save(tmp_path / "graph")
    records = path / "records.jsonl"
    lines = records.read_text(encoding="utf-8").splitlines(keepends=True)
    records.write_text(lines[0] + '{"chunk": truncated\n' + "".join(lines[2:]), encoding="utf-8")
    with pytest.raises(IndexError_, match=r"records\.jsonl:2: unreadable graph index file.*rebuild"):
        GraphIndex.load(path, embedder=embedder)
    fresh = built_graph.save(tmp_path / "graph2")
    (fresh / "graph.json").unlink()
    with pytest.raises(IndexError_, match=r"graph\.json: unreadable graph index file"):
        GraphIndex.load(fresh, embedder=embedder)
