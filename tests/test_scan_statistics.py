"""The CNN's batch-norm statistics taken from the scan it predicts."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from napari_mcsc.data.normalise import normalise_volume
from napari_mcsc.inference import predict_volume
from napari_mcsc.scan_statistics import MAX_SLICES, statistics_slices, with_scan_statistics


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
