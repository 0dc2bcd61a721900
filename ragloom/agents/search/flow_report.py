"""``report.md`` of a flow search: what a person reads first (seed vs best, the Pareto front, the top
candidates and, with an optimizer LLM, the experience of its edits), and a picture of the search tree
(``tree.html``, a self-contained SVG; ``tree.png`` too when matplotlib, the ``plot`` extra, is installed),
next to the machine-readable files of :func:`ragloom.agents.search.flow_search.write_outcome`.

The tree puts each candidate at (evaluation number, score); a line joins it to the flow it was edited from,
the Pareto front is blue and the best flow red.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ragloom.agents.search.flow_llm import Experience
from ragloom.agents.search.flow_search import FlowRecord, FlowSearchOutcome

__all__ = ["draw_tree_png", "render_report", "render_tree_html", "write_report"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _edits(record: FlowRecord) -> str:
    return _cell("; ".join(record.edits) or "(seed)")


def _table(records: Sequence[FlowRecord], index: Mapping[int, int]) -> list[str]:
    lines = ["| # | score | cost | edits |", "|---|---|---|---|"]
    for r in records:
        lines.append(f"| {index[id(r)]} | {r.score:.4f} | {r.cost:.4g} | `{_edits(r)}` |")
    return lines


def render_report(
    outcome: FlowSearchOutcome, meta: Mapping[str, Any], experience: Sequence[Experience] = ()
) -> str:
    """The report as Markdown. ``meta``: objective, dataset, method... (shown as a list);
    ``experience``: the optimizer's log of edits and their score deltas (an advisor's ``experience``)."""
    index = {id(r): i for i, r in enumerate(outcome.records, 1)}
    seed, best = outcome.records[0], outcome.best
    lines = [
        "# Flow search report",
        "",
        *(f"- {k}: {v}" for k, v in meta.items() if not isinstance(v, dict | list)),
        f"- evaluations: {len(outcome.records)} in {outcome.seconds:.1f} s",
        f"- seed: {seed.score:.4f} (cost {seed.cost:.4g})",
        f"- best: {best.score:.4f} (cost {best.cost:.4g}), record {index[id(best)]}: `{_edits(best)}`",
        "",
        "## Pareto front (score up, cost down)",
        "",
        *_table(outcome.front, index),
        "",
        "## Top candidates",
        "",
        *_table(sorted(outcome.records, key=lambda r: -r.score)[:10], index),
    ]
    if experience:
        helped = sum(e.after > e.before for e in experience)
        lines += ["", f"## Experience ({helped} of {len(experience)} edits helped)", ""]
        lines += [e.line() for e in experience[-15:]]
    lines += ["", "Files: best_flow.yaml, pareto.json, records.jsonl, tree.html (tree.png: matplotlib).", ""]
    return "\n".join(lines)


def _colour(i: int, outcome: FlowSearchOutcome, front: set[int]) -> str:
    best = next(n for n, r in enumerate(outcome.records) if r is outcome.best)
    return "#d62728" if i == best else "#1f77b4" if i in front else "#999999"


def _edges(outcome: FlowSearchOutcome) -> list[tuple[int, int]]:
    """(parent, child) positions; a random walk's end point (no known parent) hangs off the seed."""
    return [(0 if r.parent is None else r.parent, i) for i, r in enumerate(outcome.records) if i > 0]


def render_tree_html(outcome: FlowSearchOutcome, width: int = 900, height: int = 480) -> str:
    """A self-contained HTML page with an inline SVG of the search tree (hover a node for its edits)."""
    records, pad = outcome.records, 40
    finite = [r.score for r in records if r.score != float("-inf")] or [0.0]
    y0, y1 = min(finite), max(max(finite), min(finite) + 1e-6)
    n = max(len(records) - 1, 1)

    def at(i: int) -> tuple[float, float]:
        y = max(records[i].score, y0)
        return pad + i / n * (width - 2 * pad), height - pad - (y - y0) / (y1 - y0) * (height - 2 * pad)

    front = {n for n, r in enumerate(records) if any(r is f for f in outcome.front)}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">']
    for a, b in _edges(outcome):
        (ax, ay), (bx, by) = at(a), at(b)
        parts.append(f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" stroke="#bbb"/>')
    for i, r in enumerate(records):
        (x, y), tip = at(i), html.escape(f"#{i + 1} score={r.score:.4f} cost={r.cost:.4g}: {_edits(r)}")
        fill = _colour(i, outcome, front)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{fill}"><title>{tip}</title></circle>')
    parts.append(f'<text x="{pad}" y="{height - 8}" font-size="12">evaluation →</text>')
    parts.append(f'<text x="4" y="{pad - 10}" font-size="12">score ({y0:.3f}–{y1:.3f})</text></svg>')
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>ragloom search tree</title></head><body>"
        f"<h2>Search tree: best {outcome.best.score:.4f} ({len(records)} evaluations)</h2>{''.join(parts)}"
        "<p>red: best; blue: Pareto front; grey: other candidates; hover for the edits.</p></body></html>\n"
    )


def draw_tree_png(outcome: FlowSearchOutcome, path: Path) -> bool:
    """Draw the tree with matplotlib; False (nothing drawn) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    records = outcome.records
    front = {n for n, r in enumerate(records) if any(r is f for f in outcome.front)}
    fig, ax = plt.subplots(figsize=(9, 4.8))
    for a, b in _edges(outcome):
        ax.plot([a, b], [records[a].score, records[b].score], color="#bbbbbb", linewidth=0.8, zorder=1)
    for i, r in enumerate(records):
        ax.scatter(i, r.score, color=_colour(i, outcome, front), s=60 if r is outcome.best else 25, zorder=2)
    ax.set_xlabel("evaluation")
    ax.set_ylabel("dev score")
    ax.set_title(f"search tree: best {outcome.best.score:.4f} ({len(records)} evaluations)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_report(
    outcome: FlowSearchOutcome,
    out: str | Path,
    meta: Mapping[str, Any],
    experience: Sequence[Experience] = (),
) -> dict[str, Path]:
    """Write ``report.md``, ``tree.html`` and (matplotlib installed) ``tree.png`` into ``out``; returns
    their paths by name."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"report": folder / "report.md", "tree_html": folder / "tree.html"}
    paths["report"].write_text(render_report(outcome, meta, experience), encoding="utf-8")
    paths["tree_html"].write_text(render_tree_html(outcome), encoding="utf-8")
    if draw_tree_png(outcome, folder / "tree.png"):
        paths["tree_png"] = folder / "tree.png"
    return paths
