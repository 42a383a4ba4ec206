"""What to paint next across a study: (scan, slice) pairs ranked by their slice scores.

Rankings come from each scan's last prediction (its slice scores, kept in the session
file, so ranking a study of hundreds of scans reads no image): a slice's mean
uncertainty, or, in a scan with painted slices, its share where the model differs from
them carried there (``inference.slice_scores``); slices where a structure came or went
at the scan's last prediction come first (``ScanRecord.changed``). Accepted scans and
annotated slices are left out. ``next_scan`` is the order a user walks the study in.
"""

from __future__ import annotations

from dataclasses import dataclass

from napari_mcsc.constants import ScanState


@dataclass(frozen=True)
class Suggestion:
    """A slice worth painting: the scan, the slice index, its uncertainty score, and
    whether a structure came or went there at the scan's last prediction."""

    scan: str
    slice: int
    score: float
    changed: bool = False


def suggestions(study, limit: int | None = 10, *, scans=None) -> list[Suggestion]:
    """The most uncertain slices not annotated yet, over the study's scans (or ``scans``,
    names), those where a structure came or went first, then the most uncertain; scans
    never predicted or accepted are left out."""
    wanted = None if scans is None else set(scans)
    found = []
    for record in study.scans:
        if record.state == ScanState.ACCEPTED or not record.slice_scores:
            continue
        if wanted is not None and record.name not in wanted:
            continue
        done, changed = set(record.annotated), set(record.changed)
        found.extend(
            Suggestion(record.name, index, float(score), index in changed)
            for index, score in enumerate(record.slice_scores)
            if index not in done
        )
    found.sort(key=lambda s: (not s.changed, -s.score, s.scan, s.slice))
    return found if limit is None else found[:limit]


def next_slice_of(study, scan: str) -> int | None:
    """The most uncertain slice of ``scan`` not annotated yet (None: not predicted)."""
    best = suggestions(study, 1, scans=[scan])
    return best[0].slice if best else None


def next_scan(study, after: str | None = None) -> str | None:
    """The first scan after ``after`` in the study's order (wrapping around) that is not
    accepted; None when every scan is."""
    names = study.names
    start = names.index(after) + 1 if after in names else 0
    for name in names[start:] + names[:start]:
        if study.scan(name).state != ScanState.ACCEPTED and name != after:
            return name
    return None


def most_uncertain_scan(study) -> str | None:
    """The predicted, not accepted scan whose unannotated slices are the most uncertain."""
    candidates = [s for s in study.scans if s.state != ScanState.ACCEPTED and s.uncertainty is not None]
    return max(candidates, key=lambda s: s.uncertainty).name if candidates else None
