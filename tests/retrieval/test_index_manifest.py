"""The pure parts of indexing: the update planner, document hashes, vector keys, manifest round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragloom.core.errors import IndexError_
from ragloom.core.types import Chunk, Document
from ragloom.retrieval.manifest import DocEntry, Manifest, document_hash, plan_update, vector_key

hash_maps = st.dictionaries(st.sampled_from("abcdefgh"), st.sampled_from(["h1", "h2", "h3"]), max_size=8)


@settings(max_examples=300, deadline=None)
@given(hash_maps, hash_maps, st.booleans())
def test_plan_partitions_the_documents(old, new, delete_missing):
    plan = plan_update(old, new, delete_missing)
    groups = [set(plan.added), set(plan.changed), set(plan.deleted), set(plan.unchanged)]
    assert sum(len(g) for g in groups) == len(set(old) | set(new))  # disjoint and complete
    assert set(plan.added) == set(new) - set(old)
    assert set(plan.changed) == {d for d in new if d in old and old[d] != new[d]}
    if delete_missing:
        assert set(plan.deleted) == set(old) - set(new)
    else:
        assert plan.deleted == () and set(old) - set(new) <= set(plan.unchanged)
    assert plan.is_noop == (not plan.added and not plan.changed and not plan.deleted)
    assert plan_update(new, new).is_noop


def test_hashes_and_keys():
    a = Document("x", "text", {"title": "T"})
    assert document_hash(a) == document_hash(Document("x", "text", {"title": "T"}))
    assert document_hash(a) != document_hash(Document("x", "text", {"title": "U"}))
    assert document_hash(a) != document_hash(Document("x", "text!", {"title": "T"}))
    chunk = Chunk("text", "d|1", 0, 4)
    assert vector_key(chunk).rsplit("|", 1)[0] == chunk.id
    assert vector_key(chunk) != vector_key(Chunk("TEXT", "d|1", 0, 4))
    assert vector_key(chunk, "f" * 64) == f"{chunk.id}|{'f' * 16}"


def test_manifest_round_trip_and_errors():
    manifest = Manifest("model", "window", {"words": 5}, "memory", True, 3, {"a": DocEntry("h", ["a#0-1|x"])})
    assert Manifest.from_json(manifest.to_json()) == manifest
    with pytest.raises(IndexError_, match="unreadable index manifest"):
        Manifest.from_json("{not json")
    with pytest.raises(IndexError_, match="format"):
        Manifest.from_json(manifest.to_json().replace('"format": 1', '"format": 99'))
