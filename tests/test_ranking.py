"""study/ranking.py: what to paint next, ranked across the study's scans."""

from __future__ import annotations

import pytest

from napari_mcsc.constants import ScanState
from napari_mcsc.study import next_scan, next_slice_of, suggestions

pytestmark = pytest.mark.usefixtures("_one_thread")


def test_suggestions_rank_slices_across_scans_and_skip_annotated_ones(study):
    study.scan("scan0").slice_scores = [0.1, 0.9, 0.3]
    study.scan("scan1").slice_scores = [0.8, 0.2]
    study.scan("scan0").painted = [1]
    ranked = [(s.scan, s.slice) for s in suggestions(study, limit=None)]
    assert ranked == [("scan1", 0), ("scan0", 2), ("scan1", 1), ("scan0", 0)]
    assert next_slice_of(study, "scan0") == 2 and next_slice_of(study, "scan2") is None
    study.scan("scan1").state = ScanState.ACCEPTED
    assert [s.scan for s in suggestions(study)] == ["scan0", "scan0"]
    assert next_scan(study, "scan0") == "scan2" and next_scan(study, "scan2") == "scan0"
