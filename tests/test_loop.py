"""evaluation/loop.py: the correction-loop benchmark."""

from __future__ import annotations

import pytest

from tiny import TINY_SETTINGS

TINY = dict(TINY_SETTINGS, batch_size=4, labelled_batch_size=2)


def test_loop_benchmark_adds_one_slice_per_round(msd_folder):
    from napari_mcsc.evaluation.loop import run_loop

    result = run_loop(
        str(msd_folder),
        painted=1,
        rounds=2,
        iterations=2,
        retrain_iterations=1,
        limit=1,
        device="cpu",
        log=lambda *_: None,
        **TINY,
    )
    row = result["volumes"][0]
    for arm in ("uncertain", "largest_gap", "gap"):
        counts = [len(r["painted"]) for r in row[arm]]
        assert counts == [1, 2, 3], arm
        assert all(0.0 <= r["dice_mean"] <= 1.0 for r in row[arm])
    assert len(result["uncertain_dice_by_round"]) == 3
    # one first training for every choice: the same model scores the same first round
    assert len({row[arm][0]["dice_mean"] for arm in ("uncertain", "largest_gap", "gap")}) == 1


def test_loop_benchmark_runs_the_chosen_choices_and_names_unknown_ones(msd_folder):
    from napari_mcsc.evaluation.loop import run_loop

    kw = dict(painted=1, rounds=1, iterations=2, retrain_iterations=1, limit=1, device="cpu", **TINY)
    partial = []
    result = run_loop(str(msd_folder), choosers=["gap"], log=lambda *_: None, on_volume=partial.append, **kw)
    assert "gap" in result["volumes"][0] and "uncertain" not in result["volumes"][0]
    assert partial == [result]  # after each volume, what a stopped run keeps
    with pytest.raises(ValueError, match="unknown slice choice best"):
        run_loop(str(msd_folder), choosers=["best"], log=lambda *_: None, **kw)


def test_loop_benchmark_ranks_slices_where_a_structure_came_or_went_first_as_the_widget_does(
    msd_folder, monkeypatch
):
    import numpy as np

    from napari_mcsc.evaluation import loop
    from napari_mcsc.inference import VolumePrediction

    looks = []

    def predict(model, image, **kw):
        """Label 1 on every slice at the first look, gone from slice 0 at later ones."""
        found = np.ones(image.shape, np.uint8)
        if looks:
            found[0] = 0
        looks.append(1)
        scores = np.linspace(0.1, 0.9, image.shape[0])  # the last slice the most uncertain
        return VolumePrediction(found, slice_scores=scores, ranking=np.argsort(-scores).tolist())

    monkeypatch.setattr(loop, "predict_volume", predict)
    kw = dict(painted=1, rounds=2, iterations=1, retrain_iterations=1, limit=1, device="cpu", **TINY)
    arms = ("uncertain", "scores")
    row = loop.run_loop(str(msd_folder), choosers=arms, log=lambda *_: None, **kw)["volumes"][0]
    added = {arm: set(row[arm][2]["painted"]) - set(row[arm][1]["painted"]) for arm in arms}
    assert added["uncertain"] == {0}  # where the structure went since the first round
    assert 0 not in added["scores"]  # the scores alone: the most uncertain slice left
