"""Texts every chunker is checked on: unicode, CRLF, and a slice of the bundled novel (CRLF, BOM)."""

from __future__ import annotations

import pytest

from ragloom.core.paths import bundled_text

UNICODE_TEXT = (
    "Ça va? Très bien — merci! Der Bär läuft über die Straße. 東京は日本の首都です。 "
    "Ελληνικά κείμενα εδώ. Emoji 🎉🚀 in text; naïve café coöperate.\n\n"
    "Zweiter Absatz: Dr. Müller kam um 3 p.m. an. Er sagte „Hallo“. Noch ein Satz!\n"
    "Ligatures ﬁ ﬂ and combining e\u0301 marks, NBSP\u00a0here, zero\u200bwidth.\n\n\n"
    "   Último párrafo con ñ y ü.   "
)

CRLF_TEXT = (
    "First line of the first paragraph.\r\nSecond line, same paragraph.\r\n\r\n"
    "Second paragraph starts here. It has two sentences.\r\n\r\n\r\n"
    "Third paragraph:\r\n  indented line\r\n\tTabbed line. End.\r\n"
)


def read_carol(n_chars: int | None = None) -> str:
    """The bundled novel exactly as stored (CRLF kept: newline=""), optionally its first ``n_chars``."""
    with open(bundled_text(), encoding="utf-8", newline="") as f:
        text = f.read()
    return text if n_chars is None else text[:n_chars]


@pytest.fixture(scope="session")
def carol_slice() -> str:
    text = read_carol()
    start = text.index("Marley was dead, to begin with.")
    return text[start - 1500 : start + 6000]


@pytest.fixture(scope="session")
def sample_texts(carol_slice: str) -> dict[str, str]:
    return {"unicode": UNICODE_TEXT, "crlf": CRLF_TEXT, "carol": carol_slice}
