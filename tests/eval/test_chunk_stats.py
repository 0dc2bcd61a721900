"""Chunk statistics: markup detection and the share of chunks over the embedder's window."""

from __future__ import annotations

from ragloom.eval.chunk_stats import chunk_stats, is_markup, markup_share, minilm_token_counter


def test_markup_detection_tells_svg_from_prose_and_tables() -> None:
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><path d="M10 10 L 20 20"/><text x="5">SELECT</text></svg>'
    assert is_markup(svg)
    assert not is_markup("The WAL file reaches a threshold size of 1000 pages.")
    assert not is_markup("a < b and c > d: comparisons are not tags")
    assert markup_share("") == 0.0
    assert 0.0 < markup_share("<b>bold</b> and a long sentence of plain prose around it") < 0.3


def test_chunk_stats_counts_chunks_over_the_minilm_window() -> None:
    counter = minilm_token_counter()
    short = "SQLite does a checkpoint when the WAL file reaches 1000 pages."
    long = "word " * 300
    stats = chunk_stats([short, long, "<div><span>x</span></div>"], counter)
    assert stats["chunks"] == 3
    assert stats["over_window_share"] == 1 / 3
    assert stats["markup_chunks"] == 1
    assert stats["tokens_max"] >= 300
