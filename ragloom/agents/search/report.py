"""Outputs of a search: ``best_flow.yaml``, ``pareto.json``, ``records.json``, ``report.md`` and a picture
of the search tree (``tree.png`` via matplotlib when installed, and a self-contained ``tree.html``).

The tree is drawn with the round on the x axis and the dev score on the y axis; an edge joins a candidate
to the parent it was edited from, Pareto-optimal candidates are highlighted and the best one is starred.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ragloom.agents.search.build import candidate_flow
from ragloom.agents.search.search import Record, SearchOutcome
from ragloom.agents.search.space import SearchSpace

__all__ = ["write_outputs"]


def write_outputs(
    outcome: SearchOutcome, space: SearchSpace, out: str | Path, extra: dict[str, Any] | None = None
) -> dict[str, Path]:
    """Write every output file into ``out``; returns their paths by name."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    paths = {
        "best_flow": root / "best_flow.yaml",
        "pareto": root / "pareto.json",
        "records": root / "records.json",
        "report": root / "report.md",
        "tree_html": root / "tree.html",
    }
    paths["best_flow"].write_text(candidate_flow(outcome.best.candidate, space, name="best_flow").to_yaml())
    front = [_point(r, outcome) for r in outcome.pareto]
    paths["pareto"].write_text(json.dumps({"cost_key": outcome.cost_key, "front": front}, indent=2) + "\n")
    payload = {
        "stopped": outcome.stopped,
        "rounds": outcome.rounds,
        "history": outcome.history,
        "records": [r.to_dict() for r in outcome.records],
        "experience": outcome.experience,
        **(extra or {}),
    }
    paths["records"].write_text(json.dumps(payload, indent=2, default=str) + "\n")
    paths["report"].write_text(render_markdown(outcome, extra or {}))
    paths["tree_html"].write_text(render_html(outcome))
    png = root / "tree.png"
    if draw_png(outcome, png):
        paths["tree_png"] = png
    return paths


def _point(r: Record, outcome: SearchOutcome) -> dict[str, Any]:
    return {
        "id": r.id,
        "score": r.score,
        "cost": r.evaluation.cost.get(outcome.cost_key, 0.0),
        "value": r.value,
        "flow": r.candidate.describe(),
        "candidate": r.candidate.to_dict(),
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(outcome: SearchOutcome, extra: dict[str, Any]) -> str:
    best = outcome.best
    seed = outcome.records[0]
    lines = [
        "# Workflow search report",
        "",
        f"- evaluations: {len(outcome.records)} ({outcome.scorer_evaluations} computed, the rest read back "
        f"from the saved state); rounds: {outcome.rounds}; stopped: {outcome.stopped}",
        f"- seed flow: score {seed.score:.4f}  `{seed.candidate.describe()}`",
        f"- best flow: score {best.score:.4f}  `{best.candidate.describe()}` (record {best.id}, "
        f"{outcome.cost_key} {best.evaluation.cost.get(outcome.cost_key, 0.0):.4g})",
    ]
    lines += [
        f"- final rule {rule}: record {r.id}, score {r.score:.4f}" for rule, r in outcome.finals.items()
    ]
    lines += [f"- {k}: {v}" for k, v in extra.items() if not isinstance(v, dict | list)]
    lines += [
        "",
        f"## Pareto front (score up, {outcome.cost_key} down)",
        "",
        "| id | score | cost | flow |",
        "|---|---|---|---|",
    ]
    for r in outcome.pareto:
        lines.append(
            f"| {r.id} | {r.score:.4f} | {r.evaluation.cost.get(outcome.cost_key, 0.0):.4g} "
            f"| `{_cell(r.candidate.describe())}` |"
        )
    lines += [
        "",
        "## Top candidates",
        "",
        "| id | round | parent | edit | score | cost |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(outcome.records, key=lambda r: -r.value)[:10]:
        lines.append(
            f"| {r.id} | {r.round} | {'-' if r.parent is None else r.parent} | {_cell(r.edit or 'seed')} | "
            f"{r.score:.4f} | {r.evaluation.cost.get(outcome.cost_key, 0.0):.4g} |"
        )
    helped = [e for e in outcome.experience if e["helped"]]
    lines += ["", f"## Experience ({len(helped)} of {len(outcome.experience)} edits helped)", ""]
    for e in outcome.experience[-15:]:
        mark = "helped" if e["helped"] else "hurt/neutral"
        lines.append(
            f"- {e['parent']} -> {e['child']}: {e['edit']} ({e['before']:.4f} -> {e['after']:.4f}, {mark})"
        )
    lines += [
        "",
        "Files: best_flow.yaml, pareto.json, records.json, tree.html (and tree.png with matplotlib).",
        "",
    ]
    return "\n".join(lines)


def _layout(outcome: SearchOutcome) -> list[tuple[Record, float, float]]:
    return [(r, float(r.round), r.score) for r in outcome.records]


def render_html(outcome: SearchOutcome, width: int = 900, height: int = 480) -> str:
    """A self-contained HTML page with an inline SVG of the search tree (hover a node for its flow)."""
    pts = _layout(outcome)
    xs = [x for _, x, _ in pts] or [0.0]
    ys = [y for _, _, y in pts] or [0.0]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    y0, y1 = min(ys), max(max(ys), min(ys) + 1e-6)
    pad = 40

    def sx(x: float) -> float:
        return pad + (x - x0) / (x1 - x0) * (width - 2 * pad)

    def sy(y: float) -> float:
        return height - pad - (y - y0) / (y1 - y0) * (height - 2 * pad)

    pos = {r.id: (sx(x), sy(y)) for r, x, y in pts}
    front = {r.id for r in outcome.pareto}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">']
    for r, _, _ in pts:
        if r.parent is not None:
            (ax, ay), (bx, by) = pos[r.parent], pos[r.id]
            parts.append(f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" stroke="#bbb"/>')
    for r, _, _ in pts:
        cx, cy = pos[r.id]
        color = "#d62728" if r.id == outcome.best.id else ("#1f77b4" if r.id in front else "#999")
        tip = html.escape(f"#{r.id} score={r.score:.4f} {r.edit or 'seed'}\n{r.candidate.describe()}")
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" fill="{color}"><title>{tip}</title></circle>'
        )
    parts.append(f'<text x="{pad}" y="{height - 8}" font-size="12">round →</text>')
    parts.append(f'<text x="4" y="{pad - 10}" font-size="12">score ({y0:.3f}–{y1:.3f})</text></svg>')
    body = "".join(parts)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>ragloom search tree</title></head><body>"
        f"<h2>Search tree: best {outcome.best.score:.4f} ({len(outcome.records)} evaluations)</h2>{body}"
        "<p>red: best; blue: Pareto front; grey: other candidates; hover for the flow.</p></body></html>\n"
    )


def draw_png(outcome: SearchOutcome, path: Path) -> bool:
    """Draw the tree with matplotlib; returns False (and draws nothing) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    pts = {r.id: (x, y) for r, x, y in _layout(outcome)}
    front = {r.id for r in outcome.pareto}
    fig, ax = plt.subplots(figsize=(9, 4.8))
    for r in outcome.records:
        if r.parent is not None:
            (ax_, ay), (bx, by) = pts[r.parent], pts[r.id]
            ax.plot([ax_, bx], [ay, by], color="#bbbbbb", linewidth=0.8, zorder=1)
    for r in outcome.records:
        color = "#d62728" if r.id == outcome.best.id else ("#1f77b4" if r.id in front else "#999999")
        ax.scatter(*pts[r.id], color=color, s=60 if r.id == outcome.best.id else 25, zorder=2)
    ax.set_xlabel("round")
    ax.set_ylabel("dev score")
    ax.set_title(f"search tree: best {outcome.best.score:.4f} ({len(outcome.records)} evaluations)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
