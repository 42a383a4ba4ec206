"""Partial results of a long benchmark as JSON lines, appended as they come.

A run that is killed leaves every line written so far; a resumed run appends to them.
"""

from __future__ import annotations

import json
from pathlib import Path


class ProgressLines:
    """A JSON-lines file of partial results, appended as they come (or nothing)."""

    def __init__(self, path: str | Path | None, *, fresh: bool) -> None:
        self.path = Path(path) if path else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if fresh:
                self.path.write_text("")

    def write(self, record: dict) -> None:
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        if self.path is None or not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
