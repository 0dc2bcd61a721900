"""Chunkers as registry components / flow nodes."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from ragloom.core import registry
from ragloom.core.errors import StateUpdateError
from ragloom.core.types import Chunk

PARAMS = {
    "chunking.token": {"size": 16, "overlap": 4},
    "chunking.sentence": {"target_words": 10},
    "chunking.recursive": {"chunk_size": 60},
    "chunking.window": {"words": 8, "stride": 4},
    "chunking.paragraph": {"max_words": 30},
}
TEXT = "First paragraph here. It has two sentences.\r\n\r\nSecond paragraph, with one sentence only."


class DocState(BaseModel):
    body: str
    name: str = "doc-7"
    parts: list[Chunk] = []


def test_all_chunkers_are_registered() -> None:
    assert set(PARAMS) | {"chunking.semantic"} <= set(registry.names())


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_node_reads_text_and_doc_id_and_writes_chunks(name: str) -> None:
    node = registry.create(name, PARAMS[name])
    assert registry.component_ref(node) == registry.ComponentRef(name, PARAMS[name])
    update = node({"text": TEXT, "doc_id": "d1"})
    chunks = update["chunks"]
    assert chunks and all(TEXT[c.start : c.end] == c.text and c.doc_id == "d1" for c in chunks)


def test_key_names_are_configurable_and_pydantic_state_works() -> None:
    node = registry.create(
        "chunking.window", {"words": 5, "input_key": "body", "doc_id_key": "name", "output_key": "parts"}
    )
    update = node(DocState(body=TEXT))
    assert set(update) == {"parts"} and update["parts"][0].doc_id == "doc-7"


def test_missing_text_names_the_key() -> None:
    node = registry.create("chunking.sentence", {})
    with pytest.raises(StateUpdateError, match="'text'"):
        node({"doc_id": "x"})
