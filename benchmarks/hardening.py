"""Hardening numbers: flow-file fuzz outcomes, flow validation time by size, indexing peak memory by size.

- fuzz: N generated malformed flow files (tests/flows/flow_fuzz_cases.py) through ``compile_flow_bytes``
  (what ``ragloom flow validate`` runs): outcomes by mutation kind; a traceback is any non-ragloom exception.
- validate: wall time to load and compile a generated YAML flow of n nodes (``ragloom flow validate``'s path).
- memory: peak RSS of ``ragloom index DOCS --store DIR`` (default settings: whole-document chunker,
  embedded chromadb) on one generated text document of each size, in a fresh process (``/usr/bin/time``-free:
  ``resource.getrusage(RUSAGE_CHILDREN)``), with an empty embedding cache.

Run: .venv/bin/python benchmarks/hardening.py [--quick] [--mb 5 50]
Writes benchmarks/results/hardening.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "flows"))

from flow_fuzz_cases import cases, generated_flow  # noqa: E402

from ragloom.core.errors import RagloomError  # noqa: E402
from ragloom.flows.yaml_io import compile_flow_bytes  # noqa: E402


def fuzz(n: int, seed: int) -> dict[str, Any]:
    by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    started = time.perf_counter()
    for i, (kind, data) in enumerate(cases(seed, n)):
        name = f"case-{i}.yaml"
        try:
            compile_flow_bytes(data, name)
            outcome = "ok"
        except RagloomError as e:
            outcome = (
                "located"
                if str(e).startswith(f"{name}:") and str(e)[len(name) + 1].isdigit()
                else "unlocated"
            )
        except Exception:  # counted: that is the measurement
            outcome = "traceback"
        by_kind[kind.split("+")[0]][outcome] += 1
    return {
        "files": n,
        "seconds": time.perf_counter() - started,
        "by_kind": {k: dict(v) for k, v in by_kind.items()},
    }


def validate_times(sizes: list[int]) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        data = generated_flow(random.Random(0), n).encode()
        best = min(_timed(compile_flow_bytes, data, "big.yaml") for _ in range(2))
        rows.append({"nodes": n, "seconds": best})
    return rows


def _timed(fn: Any, *args: Any) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def _document(path: Path, n_chars: int) -> None:
    rng = random.Random(0)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
        for _ in range(5000)
    ]
    with open(path, "w", encoding="utf-8") as f:
        size = 0
        while size < n_chars:
            sentence = " ".join(rng.choices(words, k=rng.randint(5, 25))).capitalize() + ". "
            f.write(sentence + ("\n\n" if rng.random() < 0.1 else ""))
            size += len(sentence)


def index_memory(mb: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        _document(docs / "doc.txt", int(mb * 1_000_000))
        env = {**os.environ, "RAGLOOM_CACHE_DIR": str(Path(tmp) / "cache"), "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "ragloom", "index", str(docs), "--store", str(Path(tmp) / "index")]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:])
    return {"mb": mb, "peak_rss_mb": max(peak, before) / 1024, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--mb", type=float, nargs="*", default=None)
    args = parser.parse_args()
    n_fuzz = 2_000 if args.quick else 10_000
    sizes = [1_000, 5_000] if args.quick else [1_000, 10_000, 20_000]
    mbs = args.mb if args.mb is not None else ([5] if args.quick else [5, 50])
    result = {
        "fuzz": fuzz(n_fuzz, 20261204),
        "validate": validate_times(sizes),
        "index_memory": [index_memory(mb) for mb in sorted(mbs)],  # ascending: RUSAGE_CHILDREN is a max
    }
    out = ROOT / "benchmarks" / "results" / "hardening.json"
    out.write_text(json.dumps(result, indent=2))
    f = result["fuzz"]
    print(f"## Flow-file fuzz: {f['files']} files in {f['seconds']:.1f} s\n")
    print(
        "| mutation | files | located error | compiled | unlocated | traceback |\n|---|---|---|---|---|---|"
    )
    for kind, c in sorted(f["by_kind"].items()):
        total = sum(c.values())
        counts = " | ".join(str(c.get(k, 0)) for k in ("located", "ok", "unlocated", "traceback"))
        print(f"| {kind} | {total} | {counts} |")
    print("\n## Flow validation (load + compile a YAML flow)\n\n| nodes | seconds |\n|---|---|")
    for row in result["validate"]:
        print(f"| {row['nodes']:,} | {row['seconds']:.2f} |")
    print("\n## `ragloom index` on one text document (default settings)\n")
    print("| MB | peak RSS (MB) | seconds |\n|---|---|---|")
    for row in result["index_memory"]:
        print(f"| {row['mb']:g} | {row['peak_rss_mb']:.0f} | {row['seconds']:.1f} |")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
