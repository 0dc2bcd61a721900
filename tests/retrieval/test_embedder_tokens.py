"""embed_tokens: offsets map back to the text; long texts are stitched from overlapping windows."""

from __future__ import annotations

import numpy as np
import pytest

from ragloom.retrieval.embedders import SentenceTransformerEmbedder, default_embedder, plan_windows


@pytest.mark.parametrize("n", range(0, 40))
def test_plan_windows_tiles_the_tokens_with_left_context(n: int) -> None:
    for window in range(1, 10):
        for overlap in range(window):
            plans = plan_windows(n, window, overlap)
            kept = [t for _, end, keep in plans for t in range(keep, end)]
            assert kept == list(range(n))
            for k, (start, end, keep) in enumerate(plans):
                assert 0 <= start <= keep < end <= n and end - start <= window
                assert k == 0 or keep - start >= overlap  # every kept token has left context


@pytest.fixture(scope="module")
def emb() -> SentenceTransformerEmbedder:
    return default_embedder()


@pytest.mark.slow
def test_offsets_map_back_to_the_text(emb: SentenceTransformerEmbedder) -> None:
    text = "Late chunking keeps context.\r\nScrooge's partner, Marley, was dead: 7 years! Ünïcode 🎉 end."
    vecs, offsets = emb.embed_tokens(text)
    ids, _ = emb.tokenize(text)
    assert vecs.shape == (len(ids), 384) == (len(offsets), 384) and vecs.dtype == np.float32
    assert offsets == sorted(offsets)
    pieces = [text[s:e] for s, e in offsets]
    assert all(p and not p.isspace() for p in pieces)
    words = emb.model.tokenizer.convert_ids_to_tokens(ids)
    for word, piece in zip(words, pieces, strict=True):
        if word.isascii() and piece.isascii() and word != "[UNK]":
            assert word.removeprefix("##") == piece.lower()
    assert emb.embed_tokens("")[0].shape == (0, 384) and emb.embed_tokens("  ")[1] == []


@pytest.mark.slow
def test_one_window_equals_a_plain_forward_pass_and_pools_to_embed(emb: SentenceTransformerEmbedder) -> None:
    import torch

    text = "Marley was dead, to begin with. There is no doubt whatever about that."
    vecs, _ = emb.embed_tokens(text)
    batch = emb.model.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        hidden = emb.model[0].auto_model(**batch).last_hidden_state[0].numpy()
    assert np.allclose(vecs, hidden[1:-1], atol=1e-4)
    pooled = hidden.mean(axis=0)  # sentence-transformers' mean pooling includes [CLS]/[SEP]
    fp32 = SentenceTransformerEmbedder(cache_dir=False, precision="fp32")  # token vectors are fp32 always
    assert np.allclose(pooled / np.linalg.norm(pooled), fp32.embed([text])[0], atol=1e-4)
    assert float(pooled @ emb.embed([text])[0]) / float(np.linalg.norm(pooled)) > 0.9999  # bf16 too


@pytest.mark.slow
def test_long_text_is_stitched_one_vector_per_token_and_agrees_with_one_window() -> None:
    text = " ".join(f"Sentence {i} talks about topic {i % 7} in some detail." for i in range(40))
    wide = SentenceTransformerEmbedder(cache_dir=False, token_window=510, token_overlap=64, token_prefix=0)
    narrow = SentenceTransformerEmbedder(cache_dir=False, token_window=96, token_overlap=32, token_prefix=0)
    ids, offsets = wide.tokenize(text)
    assert 96 * 2 < len(ids) <= 510
    one, off_one = wide.embed_tokens(text)
    stitched, off_st = narrow.embed_tokens(text)
    assert stitched.shape == one.shape == (len(ids), 384) and off_st == off_one == offsets
    cos = np.sum(one * stitched, axis=1) / (np.linalg.norm(one, axis=1) * np.linalg.norm(stitched, axis=1))
    assert cos.mean() > 0.8 and cos.min() > 0.5  # other windows: same tokens, less (but some) context
    first, _ = narrow.embed_tokens(text[: offsets[95][1]])
    assert np.allclose(stitched[:96], first, atol=1e-4)  # the first window is kept whole


@pytest.mark.slow
def test_document_prefix_gives_later_windows_the_opening_tokens() -> None:
    import torch

    text = "Scrooge and Marley. " + " ".join(f"Clause {i} says little." for i in range(30))
    emb = SentenceTransformerEmbedder(cache_dir=False, token_window=48, token_overlap=8, token_prefix=6)
    ids, offsets = emb.tokenize(text)
    vecs, off = emb.embed_tokens(text)
    assert vecs.shape == (len(ids), 384) and off == offsets
    # the second window covers content tokens [34, 76) after the 6 opening tokens; it keeps [42, 76)
    tok = emb.model.tokenizer
    row = torch.tensor([[tok.cls_token_id, *ids[:6], *ids[34:76], tok.sep_token_id]])
    with torch.inference_mode():
        hidden = emb.model[0].auto_model(input_ids=row).last_hidden_state[0].numpy()
    assert np.allclose(vecs[42:76], hidden[1 + 6 + 8 : 1 + 6 + 42], atol=1e-4)
