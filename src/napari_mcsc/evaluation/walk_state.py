"""Where a study benchmark stands, on disk, so that a killed run continues where it was.

A study walk over 20 scans takes hours on a CPU. Its work folder holds ``run.json`` (what
the run is: scans, arms, settings; a resumed run must be the same run) and, per arm, the
study session and ``walk.json``: the rows of the scans finished and the scan in progress
(its painted slices, rounds and seconds so far). Both are written atomically after every
round, so a kill loses at most the round that was running.
"""

from __future__ import annotations

import json
from pathlib import Path

from napari_mcsc.atomic import atomic_write

RUN_FILE = "run.json"
WALK_FILE = "walk.json"


class WalkStateError(ValueError):
    """A work folder that cannot be used as asked (it says what to do)."""


def prepare_work_folder(folder: Path, description: dict, resume: bool, upgrade=None) -> bool:
    """Make ``folder`` ready for the run ``description``; True when it continues one.

    Without ``resume`` the folder must hold no earlier run; with it, an earlier run must be
    this same one (same scans, arms and settings), or there must be none (a fresh start).
    ``upgrade(earlier)`` gives an earlier description as this version would write it (a
    setting added since, at the default the earlier run had in effect).
    """
    folder = Path(folder)
    path = folder / RUN_FILE
    if path.is_file():
        if not resume:
            raise WalkStateError(
                f"{folder} holds an unfinished run: add --resume to continue it, or delete the "
                "folder to start again"
            )
        earlier, now = json.loads(path.read_text()), _plain(description)
        if upgrade is not None:
            earlier = _plain(upgrade(earlier))
        if earlier != now:
            changed = sorted(k for k in {*earlier, *now} if earlier.get(k) != now.get(k))
            raise WalkStateError(
                f"{folder} holds a different run (it differs in {', '.join(changed)}): resume it with "
                "the command line that started it, or delete the folder to start this one"
            )
        return True
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(path, description)
    return False


class WalkState:
    """One arm's progress: finished rows and the scan in progress (``None`` between scans)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / WALK_FILE
        self.rows: list[dict] = []
        self.in_progress: dict | None = None
        if self.path.is_file():
            data = json.loads(self.path.read_text())
            self.rows = list(data.get("rows", []))
            self.in_progress = data.get("in_progress")

    @property
    def started(self) -> bool:
        """Whether an earlier run of this arm saved anything."""
        return self.path.is_file()

    def progress(self, scan: str) -> dict | None:
        """The saved progress on ``scan``, if it was the scan in progress."""
        if self.in_progress is not None and self.in_progress.get("name") == scan:
            return dict(self.in_progress)
        return None

    def save_progress(self, progress: dict) -> None:
        self.in_progress = dict(progress)
        self._save()

    def finish(self, row: dict) -> None:
        self.rows.append(row)
        self.in_progress = None
        self._save()

    def _save(self) -> None:
        _write_json(self.path, {"rows": self.rows, "in_progress": self.in_progress})


def _plain(value):
    """``value`` as JSON gives it back (tuples become lists), for comparisons."""
    return json.loads(json.dumps(value))


def _write_json(path: Path, value) -> None:
    text = json.dumps(value, indent=1)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
