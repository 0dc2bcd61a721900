"""A self-contained HTML report of a flow evaluation: metric bars, per-node cost/latency bars, worst
questions.

No scripts, no external assets: CSS bars (a ``div`` whose width is the value) and ``<details>`` for the
context of each question. Every string from the run (questions, answers, passages, errors, node names) goes
through :func:`html.escape`, so a passage holding markup shows as text.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

__all__ = ["primary_metric", "render_html"]

#: Which score orders "worst questions", first present wins.
PRIMARY_ORDER = ("F1", "answer-in-context", "support-R@5", "nDCG@10", "span-hit@5", "citation-correct")
WORST = 10

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%} td,th{padding:3px 8px;text-align:left;vertical-align:top}
tr:nth-child(even){background:#f7f7f7} th{background:#eee}
.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#e4e8ef;height:12px;width:220px;display:inline-block}
.bar>div{height:12px;background:#4a78c2} .bar.warm>div{background:#d08a2c}
.q{border:1px solid #ddd;border-radius:4px;padding:8px;margin:10px 0}
.bad{color:#b00} .ok{color:#070} .passage{font-size:.9em;color:#444;margin:4px 0 4px 1em}
.meta{color:#555;font-size:.95em}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _bar(fraction: float, kind: str = "") -> str:
    width = max(0.0, min(1.0, fraction)) * 100.0
    return f'<span class="bar {kind}"><div style="width:{width:.1f}%"></div></span>'


def primary_metric(metrics: dict[str, float]) -> str | None:
    """The score that orders the worst questions (F1 first, then answer-in-context, then retrieval)."""
    for name in PRIMARY_ORDER:
        if name in metrics:
            return name
    return next(iter(metrics), None)


def _metrics_table(metrics: dict[str, float]) -> str:
    rows = "".join(
        f'<tr><td>{_e(n)}</td><td class="num">{v:.3f}</td><td>{_bar(v)}</td></tr>' for n, v in metrics.items()
    )
    return f"<table><tr><th>metric</th><th>mean</th><th></th></tr>{rows}</table>"


def _nodes_table(nodes: dict[str, dict[str, float]]) -> str:
    if not nodes:
        return "<p>no node ran</p>"
    top_ms = max(max(n["ms_p95"] for n in nodes.values()), 1e-9)
    top_tok = max(max(n["tokens_mean"] for n in nodes.values()), 1e-9)
    rows = []
    for name, n in nodes.items():
        rows.append(
            f"<tr><td>{_e(name)}</td>"
            f'<td class="num">{n["ms_p50"]:.1f}</td><td>{_bar(n["ms_p50"] / top_ms)}</td>'
            f'<td class="num">{n["ms_p95"]:.1f}</td><td>{_bar(n["ms_p95"] / top_ms)}</td>'
            f'<td class="num">{n["tokens_mean"]:.0f}</td><td>{_bar(n["tokens_mean"] / top_tok, "warm")}</td>'
            f'<td class="num">{n["cost_usd_total"]:.4f}</td></tr>'
        )
    head = (
        "<tr><th>node</th><th>p50 ms</th><th></th><th>p95 ms</th><th></th>"
        "<th>tokens/question</th><th></th><th>cost $ (total)</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _question(record: dict[str, Any]) -> str:
    status = record.get("status", "ok")
    scores = ", ".join(f"{_e(k)} {v:.2f}" for k, v in record.get("scores", {}).items())
    passages = "".join(
        f'<div class="passage"><b>[{i}] {_e(p.get("doc_id", ""))}</b> {_e(p.get("text", ""))}</div>'
        for i, p in enumerate(record.get("context", []), 1)
    )
    error = f'<div class="bad">{_e(record.get("error"))}</div>' if status != "ok" else ""
    gold = "; ".join(_e(a) for a in record.get("gold_answers", [])) or "-"
    docs = ", ".join(_e(d) for d in record.get("gold_docs", [])) or "-"
    return (
        f'<div class="q"><b>{_e(record["id"])}</b>: {_e(record.get("question", ""))}{error}'
        f"<div>answer: <i>{_e(record.get('answer') or '')}</i></div>"
        f'<div class="meta">gold answers: {gold} | gold documents: {docs} | cited: '
        f"{_e(', '.join(record.get('citations', [])) or '-')}</div>"
        f'<div class="meta">{scores}</div>'
        f"<details><summary>context ({len(record.get('context', []))} passages)</summary>{passages}</details>"
        "</div>"
    )


def _worst(records: Sequence[dict[str, Any]], metric: str | None) -> list[dict[str, Any]]:
    def key(r: dict[str, Any]) -> tuple[int, float]:
        failed = 0 if r.get("status") != "ok" else 1
        return failed, float(r.get("scores", {}).get(metric, 1.0)) if metric else 1.0

    return sorted(records, key=key)[:WORST]


def _facts(summary: dict[str, Any]) -> str:
    skip = {"metrics", "nodes", "totals", "failures"}
    items = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in summary.items() if k not in skip)
    t = summary.get("totals", {})
    items += (
        f"<tr><td>latency per question</td><td>p50 {t.get('ms_p50', 0):.1f} ms, "
        f"p95 {t.get('ms_p95', 0):.1f} ms</td></tr>"
        f"<tr><td>tokens</td><td>{t.get('tokens_mean', 0):.0f} per question, "
        f"{t.get('tokens_total', 0):.0f} in all; cost ${t.get('cost_usd_total', 0):.4f}</td></tr>"
    )
    return f"<table>{items}</table>"


def render_html(summary: dict[str, Any], records: Sequence[dict[str, Any]]) -> str:
    """The whole report as one HTML string."""
    metrics = summary.get("metrics", {})
    primary = primary_metric(metrics)
    failures = summary.get("failures", [])
    failed_html = (
        "<ul>" + "".join(f"<li><b>{_e(f['id'])}</b> {_e(f.get('error'))}</li>" for f in failures) + "</ul>"
        if failures
        else '<p class="ok">none</p>'
    )
    title = f"{summary.get('flow', 'flow')} on {summary.get('dataset', 'dataset')}"
    worst = "".join(_question(r) for r in _worst(records, primary))
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>{_facts(summary)}"
        f"<h2>Metrics</h2>{_metrics_table(metrics)}"
        f"<h2>Per node: latency and tokens</h2>{_nodes_table(summary.get('nodes', {}))}"
        f"<h2>Failures ({len(failures)})</h2>{failed_html}"
        f"<h2>Worst questions (by {_e(primary or '-')})</h2>{worst}"
        "</body></html>\n"
    )
