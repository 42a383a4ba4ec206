"""data/decathlon.py: a Decathlon-style folder's splits and cases."""

from __future__ import annotations

import pytest

from napari_mcsc.data.decathlon import load_split, read_case


def test_split_and_cases(msd_folder):
    assert load_split(msd_folder, "val") == ["patient002_frame01", "patient002_frame02"]
    case = read_case(msd_folder, "patient000_frame01")
    assert case.image.shape == case.labels.shape == (6, 48, 48)
    with pytest.raises(ValueError, match="split 'test'"):
        load_split(msd_folder, "test")
