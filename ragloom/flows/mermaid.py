"""Mermaid rendering of a flow (for notebooks, ``ragloom flow show`` and docs)."""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from ragloom.flows.builder import END, START

if TYPE_CHECKING:
    from ragloom.flows.builder import Flow


def _id(name: str) -> str:
    if name == START:
        return "__start__"
    if name == END:
        return "__end__"
    return "n_" + re.sub(r"\W", "_", name)


def _label(text: str) -> str:
    return text.replace('"', "#quot;")


def flow_to_mermaid(flow: Flow) -> str:
    """``flowchart TD`` text: plain edges solid, joins drawn as ``a & b --> join``, router choices dotted."""
    lines = ["flowchart TD", f"    {_id(START)}([START])", f"    {_id(END)}([END])"]
    from ragloom.flows.compiled import CompiledFlow

    for name, spec in flow.nodes.items():
        shape = f'[["{_label(name)}"]]' if isinstance(spec.fn, CompiledFlow) else f'["{_label(name)}"]'
        lines.append(f"    {_id(name)}{shape}")
    for edge in flow.edges:
        sources = " & ".join(_id(s) for s in edge.sources)
        lines.append(f"    {sources} --> {_id(edge.target)}")
    for router in flow.routers:
        if not router.targets:
            lines.append(f"    {_id(router.source)} -.->|router| {_id(router.source)}")
        for label, target in router.targets.items():
            shown = "END" if label == END else label
            text = "" if shown == target else f"|{_label(shown)}|"
            lines.append(f"    {_id(router.source)} -.->{text} {_id(target)}")
    return "\n".join(lines)


def mermaid_html(text: str) -> str:
    """HTML that renders Mermaid in Jupyter/VS Code (loads mermaid from its CDN when online)."""
    return (
        f'<pre class="mermaid">{html.escape(text)}</pre>'
        '<script type="module">import mermaid from "https://cdn.jsdelivr.net/npm/mermaid@10/dist/mermaid.esm.min.mjs";'
        "mermaid.run();</script>"
    )
