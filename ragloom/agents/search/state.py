"""Persisted search state: every candidate evaluation (and LLM proposal) on disk, written atomically after
each batch, so a killed search resumes by deterministic replay without re-evaluating anything.

The file is JSON (``{"fingerprint": ..., "evaluations": {key: Evaluation}, "proposals": {hash: text}}``).
Its fingerprint (search space, method, dataset, metric) must match the run that resumes it: evaluations of
another dataset or metric would silently corrupt the search.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ragloom.agents.search.evaluate import Evaluation
from ragloom.core.errors import ConfigError

__all__ = ["SearchStore"]

VERSION = 1


class SearchStore:
    """Evaluations by candidate key; ``path=None`` keeps them in memory only."""

    def __init__(
        self, path: str | os.PathLike[str] | None, fingerprint: dict[str, Any] | None = None
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.fingerprint = fingerprint or {}
        self.evaluations: dict[str, Evaluation] = {}
        self.proposals: dict[str, str] = {}
        if self.path is not None and self.path.is_file():
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(
                f"{self.path}: search state is not valid JSON ({e}); delete it to start over"
            ) from e
        if not isinstance(data, dict):
            raise ConfigError(f"{self.path}: search state is not a JSON object; delete it to start over")
        if data.get("version") != VERSION or data.get("fingerprint") != json.loads(
            json.dumps(self.fingerprint, default=str)
        ):
            raise ConfigError(
                f"{self.path}: search state of a different search ({data.get('fingerprint')}); "
                "use another --out folder or delete the file to start over"
            )
        try:
            self.evaluations = {k: Evaluation.from_dict(v) for k, v in data.get("evaluations", {}).items()}
            self.proposals = dict(data.get("proposals", {}))
        except (AttributeError, TypeError, ValueError) as e:  # hand-edited or from an incompatible ragloom
            raise ConfigError(
                f"{self.path}: search state has a malformed evaluation or proposal ({e}); "
                "delete it to start over"
            ) from None

    def get(self, key: str) -> Evaluation | None:
        return self.evaluations.get(key)

    def put(self, key: str, evaluation: Evaluation) -> None:
        self.evaluations[key] = evaluation

    def save(self) -> None:
        """Write the state atomically (temp file + rename): a kill never leaves a half-written file."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": VERSION,
            "fingerprint": self.fingerprint,
            "evaluations": {k: v.to_dict() for k, v in self.evaluations.items()},
            "proposals": self.proposals,
        }
        tmp = self.path.with_name(self.path.name + f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps(payload, default=str), encoding="utf-8")
        os.replace(tmp, self.path)
