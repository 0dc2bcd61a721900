"""The filter language: semantics of each operator, errors that name field and operator, chroma parity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragloom.core.errors import ConfigError
from ragloom.core.types import Chunk
from ragloom.retrieval.filters import compile_filter, merge_where

PDF = {"source": "manuals/R-intro.pdf", "page": 42, "page_end": 43, "format": "pdf", "title": "R intro"}
HTML = {"source": "sqlite/lang_select.html", "format": "html", "section": "SELECT > Joins", "title": "Q"}


def m(where, meta) -> bool:
    f = compile_filter(where)
    assert f is not None
    return f.matches(meta)


@pytest.mark.parametrize(
    ("where", "pdf", "html"),
    [
        ({"format": "pdf"}, True, False),
        ({"format": {"$eq": "html"}}, False, True),
        ({"format": {"$ne": "pdf"}}, False, True),
        ({"format": {"$in": ["pdf", "docx"]}}, True, False),
        ({"format": {"$nin": ["pdf", "docx"]}}, False, True),
        ({"page": {"$gte": 42}}, True, False),
        ({"page": {"$gt": 42}}, False, False),
        ({"page": {"$lt": 42.5, "$gte": 40}}, True, False),
        ({"page": {"$lte": 41}}, False, False),
        ({"source": {"$prefix": "manuals"}}, True, False),
        ({"source": {"$prefix": "manuals/"}}, True, False),
        ({"source": {"$prefix": "manual"}}, False, False),  # a path prefix, not a string prefix
        ({"source": {"$prefix": "sqlite/lang_select.html"}}, False, True),
        ({"source": {"$glob": "*.pdf"}}, True, False),
        ({"source": {"$glob": "sqlite/*"}}, False, True),
        ({"source": {"$glob": "*/R-*.PDF"}}, False, False),  # case-sensitive, like POSIX paths
        ({"$or": [{"format": "html"}, {"page": 42}]}, True, True),
        ({"$and": [{"format": "pdf"}, {"page": {"$lt": 10}}]}, False, False),
        ({"format": "pdf", "title": "R intro"}, True, False),
        ({"section": {"$ne": "x"}}, True, True),  # a missing field matches $ne and $nin (MongoDB's rule)
        ({"section": {"$nin": ["x"]}}, True, True),
        ({"section": {"$glob": "*"}}, False, True),  # ... and nothing else
    ],
)
def test_operator_semantics(where, pdf, html):
    assert m(where, PDF) is pdf
    assert m(where, HTML) is html


def test_values_compare_by_type():
    assert not m({"page": "42"}, PDF)
    assert m({"page": 42.0}, PDF)
    assert not m({"flag": 1}, {"flag": True})
    assert m({"flag": True}, {"flag": True})
    assert not m({"page": {"$gte": 1}}, {"page": "3"})


def test_doc_id_is_a_field_of_every_chunk():
    f = compile_filter({"doc_id": {"$in": ["a", "b"]}})
    assert f is not None
    assert f.matches_chunk(Chunk("x", "a", 0, 1))
    assert not f.matches_chunk(Chunk("x", "c", 0, 1))


def test_empty_and_none_mean_no_filter():
    assert compile_filter(None) is None
    assert compile_filter({}) is None
    assert merge_where(None, {}) is None
    both = merge_where({"format": "pdf"}, {"page": 42})
    assert both is not None and both.matches(PDF) and not both.matches({**PDF, "page": 1})


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ({"page": {"$gte": "ten"}}, ["'page'", "'$gte'", "number"]),
        ({"page": {"$between": [1, 2]}}, ["'page'", "'$between'", "unknown operator"]),
        ({"source": {"$glob": 3}}, ["'source'", "'$glob'", "string"]),
        ({"format": {"$in": "pdf"}}, ["'format'", "'$in'", "list"]),
        ({"format": {"$in": [["pdf"]]}}, ["'format'", "'$in'"]),
        ({"format": {}}, ["'format'", "empty"]),
        ({"format": ["pdf"]}, ["'format'", "'$eq'"]),
        ({"$or": {"format": "pdf"}}, ["$or", "list"]),
        ({"$or": []}, ["$or", "non-empty"]),
        ({"$not": {"format": "pdf"}}, ["'$not'", "$and or $or"]),
        ({"$and": [{"format": "pdf"}, {"page": {"$lt": None}}]}, ["where.$and[1]", "'page'", "'$lt'"]),
    ],
)
def test_malformed_filters_name_field_and_operator(where, words):
    with pytest.raises(ConfigError) as e:
        compile_filter(where)
    for word in words:
        assert word in str(e.value)


def test_a_filter_must_be_a_mapping():
    with pytest.raises(ConfigError, match="mapping"):
        compile_filter("format = pdf")  # type: ignore[arg-type]


def test_chroma_clause_only_where_chroma_agrees():
    assert compile_filter({"format": "pdf"}).chroma == {"format": {"$eq": "pdf"}}  # type: ignore[union-attr]
    both = compile_filter({"format": "pdf", "page": {"$gte": 3, "$lte": 9}})
    assert both.chroma == {  # type: ignore[union-attr]
        "$and": [{"format": {"$eq": "pdf"}}, {"$and": [{"page": {"$gte": 3}}, {"page": {"$lte": 9}}]}]
    }
    for inexpressible in (
        {"source": {"$glob": "*.pdf"}},
        {"source": {"$prefix": "a"}},
        {"format": {"$ne": "pdf"}},
        {"$or": [{"format": "pdf"}, {"source": {"$glob": "*.md"}}]},
        {"format": {"$in": []}},
    ):
        assert compile_filter(inexpressible).chroma is None  # type: ignore[union-attr]


# -- properties ---------------------------------------------------------------------------------------
FIELDS = ("format", "page")
values = st.one_of(st.sampled_from(["pdf", "html", "md"]), st.integers(0, 5))
metas = st.fixed_dictionaries({}, optional={"format": st.sampled_from(["pdf", "html", "md"]), "page": values})
leaf = st.one_of(
    st.builds(lambda f, v: {f: v}, st.sampled_from(FIELDS), values),
    st.builds(lambda f, vs: {f: {"$in": vs}}, st.sampled_from(FIELDS), st.lists(values, max_size=3)),
    st.builds(lambda f, vs: {f: {"$nin": vs}}, st.sampled_from(FIELDS), st.lists(values, max_size=3)),
    st.builds(lambda v: {"page": {"$gte": v}}, st.integers(0, 5)),
    st.builds(lambda v: {"page": {"$lt": v}}, st.integers(0, 5)),
)
filters = st.recursive(
    leaf,
    lambda inner: st.builds(
        lambda op, parts: {op: parts},
        st.sampled_from(["$and", "$or"]),
        st.lists(inner, min_size=1, max_size=3),
    ),
    max_leaves=6,
)


def reference(where, meta) -> bool:
    """A direct reading of the documented semantics, independent of the compiler."""
    ok = True
    for field, cond in where.items():
        if field == "$and":
            ok &= all(reference(w, meta) for w in cond)
        elif field == "$or":
            ok &= any(reference(w, meta) for w in cond)
        else:
            op, arg = next(iter(cond.items())) if isinstance(cond, dict) else ("$eq", cond)
            has = field in meta
            v = meta.get(field)
            same = lambda a, b: type(a) is type(b) and a == b  # noqa: E731
            if op == "$eq":
                ok &= has and same(v, arg)
            elif op == "$in":
                ok &= has and any(same(v, a) for a in arg)
            elif op == "$nin":
                ok &= not (has and any(same(v, a) for a in arg))
            elif op == "$gte":
                ok &= isinstance(v, int) and v >= arg
            elif op == "$lt":
                ok &= isinstance(v, int) and v < arg
    return ok


@settings(max_examples=300, deadline=None)
@given(filters, metas)
def test_predicate_agrees_with_the_documented_semantics(where, meta):
    assert m(where, meta) is reference(where, meta)


@settings(max_examples=100, deadline=None)
@given(filters, st.lists(metas, max_size=6))
def test_and_or_compose_as_boolean_algebra(where, rows):
    f = compile_filter(where)
    for meta in rows:
        assert m({"$and": [where, where]}, meta) is f.matches(meta)  # type: ignore[union-attr]
        assert m({"$or": [where, {"page": {"$in": []}}]}, meta) is f.matches(meta)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def chroma_rows(tmp_path_factory):
    """A real chroma collection of 40 records whose metadata covers every field and value."""
    from ragloom.retrieval.chroma_store import ChromaVectorStore

    store = ChromaVectorStore(tmp_path_factory.mktemp("chroma"), collection="filters")
    rng = np.random.default_rng(0)
    rows = {
        f"r{i}": {"format": ["pdf", "html", "md"][i % 3], "page": i % 6, "doc_id": f"d{i % 4}"}
        for i in range(40)
    }
    store.add(list(rows), rng.normal(size=(40, 8)).astype(np.float32), list(rows.values()))
    return store, rows


@settings(max_examples=60, deadline=None)
@given(filters)
def test_chroma_clause_selects_what_the_predicate_selects(chroma_rows, where):
    """Where a chroma clause is emitted, chroma's own filtering returns exactly the predicate's rows."""
    store, rows = chroma_rows
    f = compile_filter(where)
    assert f is not None
    expected = {i for i, meta in rows.items() if f.matches(meta)}
    got = store.query(np.ones(8, dtype=np.float32), 100, where=where)
    assert {i for i, _ in got} == expected
    if f.chroma is not None:  # the clause went to chroma: check chroma alone agrees, not our fallback
        res = store._collection.get(where=f.chroma, include=[])
        assert set(res["ids"]) == expected
