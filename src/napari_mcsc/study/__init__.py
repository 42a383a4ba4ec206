"""Studies: many scans of one protocol, one model and one training carried across them."""

from napari_mcsc.study.ranking import Suggestion, most_uncertain_scan, next_scan, next_slice_of, suggestions
from napari_mcsc.study.rounds import RoundResult, StudyRound, predict_scans
from napari_mcsc.study.session import ScanRecord, Study, StudyError
from napari_mcsc.study.settings import StudySettings

__all__ = [
    "RoundResult",
    "ScanRecord",
    "Study",
    "StudyError",
    "StudyRound",
    "StudySettings",
    "Suggestion",
    "most_uncertain_scan",
    "next_scan",
    "next_slice_of",
    "predict_scans",
    "suggestions",
]
