"""The CNN's batch-norm statistics taken from the scan it predicts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from napari_mcsc.data.normalise import normalise_volume
from napari_mcsc.inference import predict_volume
from napari_mcsc.scan_statistics import MAX_SLICES, first_look, statistics_slices, with_scan_statistics


def _buffers(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.networks.cnn.state_dict().items()}


def _scan_input(model, stacked: np.ndarray) -> torch.Tensor:
    """Normalised slices as prediction feeds them to the CNN (whole, at the networks' size)."""
    data = torch.from_numpy(stacked.astype(np.float32))[:, None]
    size = model.image_size
    return F.interpolate(data, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def test_the_first_norm_holds_the_scans_statistics_and_the_model_is_left_as_it_was(trained, rng):
    volume = rng.normal(3.0, 2.0, size=(5, 40, 36)).astype(np.float32)
    before = _buffers(trained)
    stacked = normalise_volume(volume, trained.normalisation)
    adapted = with_scan_statistics(trained, stacked)

    conv, norm = trained.networks.cnn.encoder[0][0], adapted.networks.cnn.encoder[0][1]
    with torch.no_grad():
        features = conv(_scan_input(trained, stacked))
    np.testing.assert_allclose(norm.running_mean, features.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(norm.running_var, features.var(dim=(0, 2, 3)), rtol=1e-3, atol=1e-5)
    # the weights are the model's; its own statistics, weights and mode are untouched
    torch.testing.assert_close(adapted.networks.cnn.encoder[0][0].weight, conv.weight)
    for key, value in trained.networks.cnn.state_dict().items():
        torch.testing.assert_close(value, before[key])
    assert not adapted.networks.cnn.training
    assert adapted.networks.swin is trained.networks.swin
    assert norm.momentum == trained.networks.cnn.encoder[0][1].momentum


def test_a_long_scan_gives_its_statistics_from_slices_spread_over_it(trained, rng):
    assert list(statistics_slices(5)) == [0, 1, 2, 3, 4]
    spread = statistics_slices(3 * MAX_SLICES)
    assert len(spread) == MAX_SLICES and spread[0] == 0 and spread[-1] == 3 * MAX_SLICES - 1
    assert np.all(np.diff(spread) >= 2)  # spread out, not the first MAX_SLICES slices

    volume = rng.uniform(size=(MAX_SLICES + 8, 24, 24)).astype(np.float32)
    volume[-8:] += 5.0  # the last slices differ: left out, they would change the mean
    stacked = normalise_volume(volume, trained.normalisation)
    norm = with_scan_statistics(trained, stacked).networks.cnn.encoder[0][1]
    conv = trained.networks.cnn.encoder[0][0]
    with torch.no_grad():
        features = conv(_scan_input(trained, stacked[statistics_slices(len(stacked))]))
    np.testing.assert_allclose(norm.running_mean, features.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-5)


def test_prediction_with_the_scans_statistics_is_the_adapted_models(trained, rng):
    volume = rng.normal(0.0, 1.0, size=(4, 32, 32)).astype(np.float32)
    volume[:, 8:20, 8:20] += 3.0
    adapted = with_scan_statistics(trained, normalise_volume(volume, trained.normalisation))
    mine = predict_volume(trained, volume, scan_statistics=True)
    theirs = predict_volume(adapted, volume)
    np.testing.assert_array_equal(mine.labels, theirs.labels)
    np.testing.assert_allclose(mine.uncertainty, theirs.uncertainty, rtol=1e-5, atol=1e-6)
    # and the saved statistics give another prediction: the option is not a no-op
    plain = predict_volume(trained, volume)
    assert not np.allclose(plain.uncertainty, mine.uncertainty, atol=1e-4)


def test_a_model_trained_on_the_painted_square_keeps_its_statistics(trained, rng):
    cropped = dataclasses.replace(trained, settings=dataclasses.replace(trained.settings, field_share=0.5))
    stacked = rng.uniform(size=(3, 32, 32)).astype(np.float32)
    assert with_scan_statistics(cropped, stacked) is cropped


def test_a_first_look_is_a_scan_with_nothing_painted_or_reviewed():
    empty = np.zeros((3, 4, 4), np.int64)
    painted = empty.copy()
    painted[1, 2, 2] = 1
    assert first_look(None) and first_look(empty)
    assert not first_look(painted)
    assert not first_look(empty, reviewed=[0])  # a slice reviewed as empty is annotated too
    assert not first_look(None, reviewed=(2,))


def _adapted_scans(monkeypatch) -> list[int]:
    """Record the number of slices of each scan ``predict_volume`` adapts the CNN to."""
    import napari_mcsc.inference as inference

    seen: list[int] = []

    def spy(model, slices, device=None):
        seen.append(len(slices))
        return with_scan_statistics(model, slices, device)

    monkeypatch.setattr(inference, "with_scan_statistics", spy)
    return seen


def test_predicting_adapts_only_the_scans_nobody_painted(trained, rng, monkeypatch):
    from napari_mcsc.jobs import ImageInput, prediction_job, run_to_end

    seen = _adapted_scans(monkeypatch)
    painted = np.zeros((4, 24, 24), np.int64)
    painted[1, 8:14, 8:14] = 1
    items = [
        ImageInput("painted", rng.uniform(size=(4, 24, 24)).astype(np.float32), painted),
        ImageInput("reviewed", rng.uniform(size=(5, 24, 24)).astype(np.float32), None, reviewed=[2]),
        ImageInput("new", rng.uniform(size=(6, 24, 24)).astype(np.float32)),
    ]
    predictions = run_to_end(prediction_job(trained, items))
    assert seen == [6]  # the new scan's slices, and no other scan's
    assert [p.labels.shape for p in predictions] == [i.image.shape for i in items]


@pytest.mark.parametrize(("option", "adapted"), [([], True), (["--no-scan-statistics"], False)])
def test_predict_command_sees_each_scan_with_its_statistics_unless_told_not_to(
    trained, tmp_path, monkeypatch, option, adapted
):
    from cli_helpers import GEOMETRY, _image
    from napari_mcsc.checkpoint import save_model
    from napari_mcsc.cli import main
    from napari_mcsc.io import write_volume

    seen = _adapted_scans(monkeypatch)
    image = _image()
    scan = write_volume(tmp_path / "scan.nii.gz", image, GEOMETRY)
    model = save_model(trained, tmp_path / "model.pt")
    code = main(["predict", "--model", str(model), "--image", scan, "--out", str(tmp_path / "out"), *option])
    assert code == 0 and (tmp_path / "out" / "scan_prediction.nii.gz").is_file()
    assert seen == ([image.shape[trained.axis]] if adapted else [])


def test_a_training_job_adapts_its_unlabelled_images_not_its_painted_one(tiny_config, phantoms, monkeypatch):
    from napari_mcsc.data.phantom import paint_slices
    from napari_mcsc.jobs import ImageInput, TrainingJob, run_to_end

    seen = _adapted_scans(monkeypatch)
    painted, unlabelled = phantoms[0], phantoms[1]
    job = TrainingJob(
        tiny_config.replace(iterations=1),
        [ImageInput("painted", painted.image, paint_slices(painted.labels, [2, 5]))],
        [ImageInput("unlabelled", unlabelled.image)],
    )
    result = run_to_end(job.run())
    assert len(result.predictions) == 2
    assert seen == [unlabelled.image.shape[result.model.axis]]
