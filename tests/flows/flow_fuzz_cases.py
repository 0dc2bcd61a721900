"""Seeded generator of malformed flow files for the flow-file fuzz test (``test_flow_fuzz.py``).

``cases(seed, n)`` yields ``(kind, data)`` pairs: ``data`` is the bytes of a flow file, ``kind`` names the
mutation that made it. Seeds are mutations of ``examples/flows/*.yaml`` and of generated valid flows: byte
flips, truncation, other encodings, deep nesting, wrong types, unknown components, NULs, huge numbers, YAML
tags, anchors, aliases, merge keys, alias bombs, bad dates and edge shapes such as ``to: [[x]]``.
Deterministic for a seed, so a failure is reproducible from its case number.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "flows").glob("*.yaml"))

_COMPONENTS = ("flows.set", "flows.copy", "flows.increment", "flows.template")
_GARBAGE: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    10**30,
    -(10**40),
    float("inf"),
    float("nan"),
    "",
    "x",
    "START",
    "END",
    "__start__",
    [],
    [[]],
    [["x"]],
    {},
    {"a": 1},
    {"a": {"b": [1, {"c": None}]}},
    ["a", ["b"]],
    "0x1F",
    "2001-02-30",
    "1e999",
    "\u00e9\u4e2d\U0001f600",
    "a" * 300,
    "{x.__class__}",
    "{0}",
    "flows.set",
)
_SCALARS = (
    "~",
    "null",
    "yes",
    "no",
    "on",
    "off",
    "0x_",
    "0b2",
    "0o9",
    "0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
    "1_000",
    "+12",
    "-0",
    ".inf",
    "-.inf",
    ".nan",
    "1e309",
    "9" * 400,
    "2001-02-30",
    "2001-13-01",
    "2001-02-28T25:61:61",
    "2001-12-14t21:59:43.10-05:00",
    "0000-00-00",
    "1:20",
    "190:20:30",
    "'\\x00'",
    '"\\x00"',
    '"\\ud800"',
    '"\\U0010FFFF"',
    '"\\uDFFF\\uD800"',
    "&a 1",
    "*a",
    "*undefined",
    "!!int abc",
    "!!int 99999999999999999999",
    "!!float x",
    "!!float 1e400",
    "!!bool maybe",
    "!!timestamp 2001-02-30",
    "!!timestamp x",
    "!!binary '!!!'",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!omap [a: 1, a: 2]",
    "!!pairs [a: 1]",
    "!!omap {a: 1}",
    "!!str",
    "!!null x",
    "!!map [1]",
    "!!seq {a: 1}",
    "!!python/object/apply:os.system [id]",
    "!!python/name:os.system",
    "!foo bar",
    "!<tag:yaml.org,2002:python/none> ''",
    "!<!> x",
    "[[x]]",
    "[[[x]]]",
    "{[a]: 1}",
    "{? [a]: 1}",
    "{{a: 1}: 2}",
    "[a, [b, [c]]]",
    "{<<: 5}",
    "{<<: [1, 2]}",
    "{<<: *a}",
    "{<<: [*a, *a]}",
    "|\n  x",
    ">-\n  y",
    "'unterminated",
    '"bad \\q escape"',
    "@at",
    "`tick`",
    "%x",
    "- - -",
    ": :",
    "? ?",
)


def generated_flow(rng: random.Random, n_nodes: int | None = None) -> str:
    """A valid flow of ``n_nodes`` (default: a few) set/increment/template nodes in a chain with a loop."""
    n = n_nodes if n_nodes is not None else rng.randint(1, 12)
    lines = [
        "name: gen",
        "max_steps: 50",
        "state:",
        "  count: {type: int, default: 0}",
        "  text: {type: str, default: ''}",
        "  notes: {type: 'list[str]', reducer: append, default: []}",
        "nodes:",
    ]
    for i in range(n):
        lines.append(
            rng.choice(
                (
                    f"  n{i}: {{uses: flows.increment, with: {{key: count}}}}",
                    f"  n{i}: {{uses: flows.set, with: {{notes: [step {i}]}}}}",
                    f"  n{i}: {{uses: flows.template, with: {{template: 'at {{count}}', output_key: text}}}}",
                    f"  n{i}: flows.increment",
                    f"  n{i}:\n    uses: flows.copy\n    with: {{source: count, target: count}}"
                    "\n    retries: 1",
                )
            )
        )
    lines += ["edges:", "  - {from: START, to: n0}"]
    for i in range(1, n):
        lines.append(f"  - {{from: n{i - 1}, to: n{i}}}")
    if n > 1 and rng.random() < 0.5:
        lines += [
            f"  - from: n{n - 1}",
            "    when:",
            "      - {if: {key: count, op: '<', value: 3}, to: n0}",
            "      - else: END",
        ]
    else:
        lines.append(f"  - {{from: n{n - 1}, to: END}}")
    return "\n".join(lines) + "\n"


def _value_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the values after ``key:`` on each line (where a mutation can put a new value)."""
    return [(m.start(1), m.end(1)) for m in re.finditer(r"[\w\-]+:[ ]+([^\n{}\[\],]+)", text)]


def _replace_value(rng: random.Random, text: str, new: str) -> str:
    spans = _value_spans(text)
    if not spans:
        return text + new
    start, end = rng.choice(spans)
    return text[:start] + new + text[end:]


def _flip_bytes(rng: random.Random, text: str) -> bytes:
    data = bytearray(text.encode("utf-8"))
    for _ in range(rng.randint(1, 6)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _truncate(rng: random.Random, text: str) -> bytes:
    data = text.encode("utf-8")
    return data[: rng.randrange(len(data))]


def _encode(rng: random.Random, text: str) -> bytes:
    text = text.replace("name: ", "name: caf\u00e9-", 1) if rng.random() < 0.5 else text
    codec = rng.choice(("utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-8-sig"))
    data = text.encode(codec, errors="replace")
    if rng.random() < 0.3:  # a stray invalid UTF-8 sequence in otherwise UTF-8 text
        cut = rng.randrange(len(text))
        data = (
            text[:cut].encode()
            + rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"))
            + text[cut:].encode()
        )
    return data


def _deep(rng: random.Random, text: str) -> bytes:
    depth = rng.choice((30, 200, 1_000, 5_000, 50_000))
    shape = rng.choice(("flow-seq", "flow-map", "block", "mixed"))
    if shape == "flow-seq":
        value = "[" * depth + "x" + "]" * depth
    elif shape == "flow-map":
        value = "{a: " * depth + "1" + "}" * depth
    elif shape == "mixed":
        value = "[{a: " * (depth // 2) + "1" + "}]" * (depth // 2)
    else:
        depth = min(depth, 300)  # indentation grows with depth: keep the text small
        value = "\n" + "".join(" " * (2 * i + 4) + "k:\n" for i in range(depth)) + " " * (2 * depth + 4) + "1"
    return _replace_value(rng, text, value).encode()


def _wrong_type(rng: random.Random, text: str) -> bytes:
    doc = yaml.safe_load(text)

    def pick(node: Any) -> tuple[Any, Any] | None:
        """A random (container, key) in the tree."""
        slots: list[tuple[Any, Any]] = []

        def walk(n: Any, depth: int) -> None:
            items = n.items() if isinstance(n, dict) else enumerate(n) if isinstance(n, list) else ()
            for k, v in items:
                if len(slots) > 500 or depth > 20:  # aliases can make the tree huge or deep
                    return
                slots.append((n, k))
                walk(v, depth + 1)

        walk(node, 0)
        return rng.choice(slots) if slots else None

    for _ in range(rng.randint(1, 3)):
        slot = pick(doc)
        if slot is None:
            break
        container, key = slot
        container[key] = rng.choice(_GARBAGE)
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode()


def _unknown_component(rng: random.Random, text: str) -> bytes:
    name = rng.choice(
        (
            "flows.nope",
            "nope",
            "",
            "flows.",
            ".",
            "os:system",
            "builtins:eval",
            "a" * 200,
            "flows.set.extra",
            "FLOWS.SET",
            "retrieval.hybrid",
            "llm.generate",
            "'x:y'",
            "1",
        )
    )
    out = re.sub(r"uses: [\w.]+", f"uses: {name}", text, count=rng.randint(1, 3))
    return out.encode()


def _nul(rng: random.Random, text: str) -> bytes:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        chars.insert(
            rng.randrange(len(chars) + 1),
            rng.choice(("\x00", "\x01", "\x07", "\x1b", "\x7f", "\x85", "\ufeff", "\ufffe", "\u2028")),
        )
    return "".join(chars).encode("utf-8", errors="surrogatepass")


def _scalar(rng: random.Random, text: str) -> bytes:
    return _replace_value(rng, text, rng.choice(_SCALARS)).encode()


def _anchors(rng: random.Random, text: str) -> bytes:
    snippets = (
        "x-base: &base {uses: flows.increment, with: {key: count}}\n",
        "x-base: &base [1, 2]\n",
        "x-list: &l [a, b]\n",
    )
    out = rng.choice(snippets) + text
    out = re.sub(r"\{uses: flows\.\w+", lambda m: "{<<: *base", out, count=1) if rng.random() < 0.5 else out
    out = re.sub(r"to: (\w+)", lambda m: "to: *l", out, count=1) if rng.random() < 0.3 else out
    if rng.random() < 0.3:
        out = out.replace("nodes:\n", "nodes:\n  <<: *base\n", 1)
    if rng.random() < 0.3:
        out = out.replace("edges:", "edges: &e", 1) + "x-again: *e\n"
    if rng.random() < 0.2:
        out = _replace_value(rng, out, "&self [*self]")
    return out.encode()


def _bomb(rng: random.Random, text: str) -> bytes:
    width, levels = rng.choice(((10, 6), (9, 9), (2, 30), (100, 3)))
    lines = ["x-bomb:", "  l0: &l0 [lol]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    where = rng.random()
    if where < 0.5:
        return ("\n".join(lines) + "\n" + text).encode()
    return ("\n".join(lines) + "\n" + text.replace("{key: count}", f"{{key: *l{levels - 1}}}", 1)).encode()


def _edges(rng: random.Random, text: str) -> bytes:
    shape = rng.choice(
        (
            "to: [[x]]",
            "to: [[n0]]",
            "from: [[n0]]",
            "from: {a: 1}",
            "to: {a: b}",
            "to: []",
            "from: []",
            "to: [START]",
            "from: [END]",
            "to: 5",
            "from: null",
            "when: [[x]]",
            "when: {a: 1}",
            "when: [{if: [1], to: END}]",
            "when: [{if: {key: [count]}, to: END}]",
            "when: [{else: [[END]]}]",
            "when: [{if: {key: count, op: [x]}, to: END}]",
            "to: [n0, [n0]]",
        )
    )
    key = shape.partition(":")[0]
    out = re.sub(rf"(?<=[{{ ]){key}: [\w\[\], ]+?(?=[}},])", shape, text, count=1)
    if out == text:
        out = text.replace("edges:\n", f"edges:\n  - {{from: START, {shape}}}\n", 1)
    return out.encode()


def _splice(rng: random.Random, text: str) -> bytes:
    lines = text.splitlines(keepends=True)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        i = rng.randrange(len(lines))
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2:
            lines[i] = " " * rng.randint(1, 5) + lines[i]
        else:
            lines[i] = lines[i].lstrip()
    return "".join(lines).encode()


def _keys(rng: random.Random, text: str) -> bytes:
    new = rng.choice(
        (
            "? [a, b]\n: 1\n",
            "~: 1\n",
            "yes: 1\n",
            "1: one\n",
            "2001-01-01: d\n",
            ".inf: x\n",
            "nodes: {}\n",
            "state: []\n",
            "name: [x]\n",
            "'': 1\n",
            "? {a: 1}\n: x\n",
        )
    )
    out = text + new if rng.random() < 0.5 else new + text
    if rng.random() < 0.5:
        out = re.sub(
            r"^  n0:",
            rng.choice(("  1:", "  ~:", "  START:", "  yes:", "  [a]:", "  'a b':")),
            out,
            count=1,
            flags=re.M,
        )
    return out.encode()


def _documents(rng: random.Random, text: str) -> bytes:
    return rng.choice(
        (
            f"---\n{text}---\n{text}",
            f"%YAML 1.1\n---\n{text}",
            f"%YAML 2.0\n---\n{text}",
            "",
            "---\n",
            "...\n",
            f"%TAG ! tag:example.com,2000:\n---\n{text}",
            "- a\n- b\n",
            "just a string\nover two lines\n",
            "42\n",
            f"{text}\n...\n---\nextra: 1\n",
            "\ufeff" + text,
            "\t" + text,
        )
    ).encode()


#: mutation name -> function(rng, seed text) -> bytes of a flow file
MUTATIONS: dict[str, Callable[[random.Random, str], bytes]] = {
    "byte-flip": _flip_bytes,
    "truncate": _truncate,
    "encoding": _encode,
    "deep-nesting": _deep,
    "wrong-type": _wrong_type,
    "unknown-component": _unknown_component,
    "nul-control": _nul,
    "scalar-tag-number-date": _scalar,
    "anchor-alias-merge": _anchors,
    "alias-bomb": _bomb,
    "edge-shape": _edges,
    "line-splice": _splice,
    "odd-keys": _keys,
    "documents": _documents,
}


def seeds(rng: random.Random) -> list[str]:
    """The texts mutations start from: the example flows and a few generated valid flows."""
    return [p.read_text(encoding="utf-8") for p in EXAMPLES] + [generated_flow(rng) for _ in range(8)]


def cases(seed: int, n: int) -> Iterator[tuple[str, bytes]]:
    """``n`` malformed (or, by chance, still valid) flow files as ``(mutation name, bytes)``."""
    rng = random.Random(seed)
    texts = seeds(rng)
    names = sorted(MUTATIONS)
    for i in range(n):
        kind = names[i % len(names)]
        data = MUTATIONS[kind](rng, rng.choice(texts))
        if rng.random() < 0.15:  # a second mutation on top (only on text that is still UTF-8)
            try:
                second = names[rng.randrange(len(names))]
                data = MUTATIONS[second](rng, data.decode("utf-8"))
                kind = f"{kind}+{second}"
            except Exception:  # PyYAML itself may fail oddly on mutated text (KeyError, AttributeError)
                pass  # this seed cannot take that mutation: keep the first one
        yield kind, data
