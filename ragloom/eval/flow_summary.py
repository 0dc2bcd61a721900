"""Summarise evaluation records: metric means, per-node latency (p50/p95), tokens and cost, failures.

Pure functions of the records (:mod:`.flow_records`), so a summary can be recomputed from ``records.jsonl``
alone, e.g. after a resumed run. :class:`FlowEvalReport` is what :func:`ragloom.eval.evaluate_flow` returns.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FlowEvalReport", "finite_or_null", "summarize"]


def finite_or_null(value: Any) -> Any:
    """``value`` with every non-finite float (nested) replaced by None: strict JSON has no NaN/Infinity."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_null(v) for v in value]
    return value


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else 0.0


def metric_means(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Mean of each score over the records that have it (a failed question scores as an empty output)."""
    names = list(dict.fromkeys(n for r in records for n in r.get("scores", {})))
    out = {}
    for name in names:
        values = [float(r["scores"][name]) for r in records if name in r.get("scores", {})]
        out[name] = sum(values) / len(values)
    return out


def node_stats(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per node, over the questions that ran it: ms p50/p95/mean, tokens mean/total, cost total, LLM calls."""
    per: dict[str, dict[str, list[float]]] = {}
    for r in records:
        for node, n in r.get("trace", {}).get("nodes", {}).items():
            s = per.setdefault(node, {"ms": [], "tokens": [], "cost_usd": [], "llm_calls": []})
            for key in s:
                s[key].append(float(n.get(key, 0.0)))
    return {
        node: {
            "questions": len(s["ms"]),
            "ms_p50": _pct(s["ms"], 50),
            "ms_p95": _pct(s["ms"], 95),
            "ms_mean": sum(s["ms"]) / len(s["ms"]),
            "tokens_mean": sum(s["tokens"]) / len(s["tokens"]),
            "tokens_total": sum(s["tokens"]),
            "cost_usd_total": sum(s["cost_usd"]),
            "llm_calls_mean": sum(s["llm_calls"]) / len(s["llm_calls"]),
        }
        for node, s in per.items()
    }


def summarize(records: Sequence[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """The summary JSON: counts, metric means, per-node stats, totals and the failed questions."""
    ok = [r for r in records if r.get("status") == "ok"]
    failed = [r for r in records if r.get("status") != "ok"]
    ms = [float(r.get("trace", {}).get("ms", 0.0)) for r in ok]
    tokens = [float(r.get("trace", {}).get("tokens", 0)) for r in ok]
    return {
        **meta,
        "n_questions": len(records),
        "n_ok": len(ok),
        "n_failed": len(failed),
        "metrics": metric_means(records),
        "nodes": node_stats(ok),
        "totals": {
            "ms_p50": _pct(ms, 50),
            "ms_p95": _pct(ms, 95),
            "tokens_mean": sum(tokens) / len(tokens) if tokens else 0.0,
            "tokens_total": sum(tokens),
            "cost_usd_total": sum(float(r.get("trace", {}).get("cost_usd", 0.0)) for r in ok),
            "llm_calls_total": sum(int(r.get("trace", {}).get("llm_calls", 0)) for r in ok),
        },
        "failures": [
            {"id": r["id"], "question": r.get("question", ""), "error": r.get("error")} for r in failed
        ],
    }


@dataclass
class FlowEvalReport:
    """One evaluation: the summary (``metrics``, ``nodes``, ``totals``, ``failures``) and every record."""

    summary: dict[str, Any]
    records: list[dict[str, Any]]
    out_dir: Path | None = None

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.summary["metrics"])

    @property
    def failures(self) -> list[dict[str, Any]]:
        return list(self.summary["failures"])

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``summary.json`` and ``report.html`` (records.jsonl is written as questions finish)."""
        from ragloom.eval.flow_html import render_html

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "summary": out / "summary.json",
            "html": out / "report.html",
            "records": out / "records.jsonl",
        }
        text = json.dumps(finite_or_null(self.summary), indent=2, allow_nan=False, ensure_ascii=False)
        paths["summary"].write_text(text + "\n", encoding="utf-8")
        paths["html"].write_text(render_html(self.summary, self.records), encoding="utf-8")
        return paths
