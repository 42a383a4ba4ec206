"""evaluation/interactive.py: the interactive benchmark scores the slices nobody painted."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcsc.evaluation.interactive import dice_on_slices, run_interactive
from tiny import TINY_SETTINGS

TINY = dict(TINY_SETTINGS, batch_size=4, labelled_batch_size=2)


def test_dice_on_slices_uses_only_the_kept_slices():
    truth = np.zeros((4, 4, 4), int)
    truth[:, 1:3, 1:3] = 1
    pred = truth.copy()
    pred[0] = 0  # wrong only on slice 0
    assert dice_on_slices(pred, truth, [1, 2, 3], [1]) == {1: 1.0}
    assert dice_on_slices(pred, truth, [0, 1], [1])[1] == pytest.approx(2 / 3)


def _one_volume(msd_folder, **settings) -> dict:
    """The scenario on the folder's first volume, 2 painted slices, quietly, on the CPU."""
    return run_interactive(
        str(msd_folder), painted=2, limit=1, device="cpu", log=lambda *_: None, **{**TINY, **settings}
    )


def test_interactive_run_scores_unpainted_slices(msd_folder):
    result = _one_volume(msd_folder, iterations=3, curve_at=[1, 3])
    row = result["volumes"][0]
    assert row["painted"] == [2, 3]  # round((i+1)*5/3) for 6 slices, halves up: 1.67->2, 3.33->3
    assert 0.0 <= result["dice_mean"] <= 1.0 and row["iterations"] == 3 and row["complete"]
    assert 0.0 <= row["ensemble_dice_mean"] <= 1.0
    assert [it for it, _ in row["curve"]] == [1, 3]
    assert 0.0 <= row["consistent_dice_mean"] <= 1.0 and set(row["consistent_dice"]) == set(row["dice"])


def test_a_saved_model_scores_what_the_run_scored(msd_folder, tmp_path):
    from napari_mcsc.checkpoint import load_model
    from napari_mcsc.data.decathlon import read_case
    from napari_mcsc.evaluation.interactive import mean_dice
    from napari_mcsc.inference import predict_volume

    result = _one_volume(msd_folder, iterations=2, method="sup", models_dir=tmp_path)
    row = result["volumes"][0]
    case = read_case(str(msd_folder), row["case"])
    keep = [s for s in range(case.image.shape[0]) if s not in row["painted"]]
    classes = [int(c) for c in row["dice"]]
    labels = predict_volume(load_model(tmp_path / f"{row['case']}.pt"), case.image, uncertainty=False).labels
    assert mean_dice(labels, case.labels, keep, classes) == pytest.approx(row["dice_mean"])


def test_interactive_run_can_keep_one_structure(msd_folder):
    result = _one_volume(msd_folder, iterations=2, method="sup", classes=[3])
    row = result["volumes"][0]
    assert set(row["dice"]) == {"3"} and result["classes"] == [3]
    assert "ensemble_dice_mean" not in row  # a supervised model has no trained Transformer


def test_a_painted_slice_with_nothing_on_it_is_trained_on_as_background(msd_folder):
    from napari_mcsc.data.decathlon import read_case
    from napari_mcsc.evaluation.interactive import train_on_painted
    from tiny import tiny_mcsc_config

    case = read_case(str(msd_folder), "patient000_frame01")
    truth = case.labels.copy()
    truth[0] = 0  # beyond the structures: the annotator looked and painted nothing
    config = tiny_mcsc_config(method="sup", iterations=1)
    trainer, _ = train_on_painted(case, [0, 3], config, truth=truth)
    assert trainer.data.num_labelled == 2


def test_a_run_that_averages_its_weights_also_scores_its_last_step(msd_folder):
    # decay 0: the average is the last step's weights, so both scores must agree exactly
    result = _one_volume(msd_folder, iterations=3, method="sup", average_weights=0.0)
    row = result["volumes"][0]
    assert row["last_step"]["dice_mean"] == pytest.approx(row["dice_mean"])
    assert row["last_step"]["consistent_dice"] == pytest.approx(row["consistent_dice"])
    assert result["last_step"]["dice_mean"] == pytest.approx(result["dice_mean"])
    plain = _one_volume(msd_folder, iterations=3, method="sup")
    assert "last_step" not in plain["volumes"][0] and "last_step" not in plain


def test_the_last_step_is_seen_before_the_weights_are_averaged(msd_folder):
    import torch

    from napari_mcsc.data.decathlon import read_case
    from napari_mcsc.evaluation.interactive import train_on_painted
    from tiny import tiny_mcsc_config

    case = read_case(str(msd_folder), "patient000_frame01")

    def last_and_final(**settings):
        seen = []
        config = tiny_mcsc_config(method="sup", iterations=3, **settings)
        trainer, _ = train_on_painted(case, [1, 3], config, truth=case.labels, on_last_step=seen.append)
        pairs = zip(seen[0].networks.cnn.parameters(), trainer.model.networks.cnn.parameters(), strict=True)
        return [torch.equal(a, b) for a, b in pairs]

    assert all(last_and_final())  # without averaging the run ends on its last step
    assert not all(last_and_final(average_weights=0.9))  # the average replaced it afterwards
