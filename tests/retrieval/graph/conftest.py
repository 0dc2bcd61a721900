"""Fixtures of the graph tests: a dozen Wikipedia-like passages (titles as ids) and a graph over them."""

from __future__ import annotations

import pytest

from ragloom.core.types import Document

PASSAGES = {
    "Lester Smith": "Lester Smith is an American game designer best known for "
    "Dragon Dice. He was born in Kentucky.",
    "Dragon Dice": "Dragon Dice is a collectible dice game published by TSR in "
    "1995. It was designed by Lester Smith.",
    "Demon Dice": "Demon Dice is a collectible dice game created by Lester Smith and Tim Brown.",
    "TSR": "TSR was an American game publishing company founded by Gary Gygax in Lake Geneva, Wisconsin.",
    "Gary Gygax": "Gary Gygax was an American game designer and author who co-created Dungeons & Dragons.",
    "Lake Geneva": "Lake Geneva is a city in Walworth County, Wisconsin, on the shore of Geneva Lake.",
    "Dungeons & Dragons": "Dungeons and Dragons is a fantasy tabletop role-playing "
    "game first published by TSR.",
    "Dave Arneson": "Dave Arneson was an American game designer who co-created "
    "Dungeons & Dragons with Gary Gygax.",
    "Kentucky": "Kentucky is a state in the Southeastern region of the United States, east of Missouri.",
    "Camellia sinensis": "Camellia sinensis is a species of evergreen shrub whose "
    "leaves are used to produce tea.",
    "Green tea": "Green tea is a type of tea made from Camellia sinensis leaves that have not been oxidized.",
    "Mount Everest": "Mount Everest is the highest mountain above sea level, on "
    "the border of Nepal and China.",
}


def make_docs() -> list[Document]:
    return [Document(title, text) for title, text in PASSAGES.items()]


@pytest.fixture
def graph_docs() -> list[Document]:
    return make_docs()


@pytest.fixture(scope="module")
def built_graph(embedder):
    """A GraphIndex over the passages with the real spaCy extractor and embedder (built once per module)."""
    from ragloom.retrieval.graph.graph_index import GraphIndex

    index = GraphIndex(embedder=embedder)
    index.update(make_docs())
    return index
