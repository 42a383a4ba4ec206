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


def test_named_cases_keep_the_split_order_and_unknown_names_are_refused(msd_folder):
    from napari_mcsc.data.decathlon import select_cases

    wanted = ["patient001_frame02", "patient000_frame01"]
    assert select_cases(msd_folder, "train", cases=wanted) == ["patient000_frame01", "patient001_frame02"]
    assert select_cases(msd_folder, "train", cases=wanted, limit=1) == ["patient000_frame01"]
    with pytest.raises(ValueError, match="not in the val split: patient000_frame01"):
        select_cases(msd_folder, "val", cases=wanted[1:])
