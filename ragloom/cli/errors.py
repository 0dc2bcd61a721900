"""How every command reports a bad input: one line ``error: …`` on stderr and exit code 2, no traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from ragloom.core.errors import RagloomError

EXIT_BAD_INPUT = 2


@contextmanager
def clean_errors() -> Iterator[None]:
    """Turn a RagloomError raised inside the block into a one-line message and exit code 2."""
    try:
        yield
    except RagloomError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
