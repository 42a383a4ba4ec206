"""Checkpoints: one self-describing file, atomic writes, safe loading, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cli_helpers import _model, _one_line_error
from napari_mcsc.checkpoint import CheckpointError, load_model, save_model
from napari_mcsc.cli import main
from napari_mcsc.inference import predict_volume


def test_round_trip_gives_identical_predictions(trained, tmp_path, phantoms):
    path = save_model(trained, tmp_path / "sub" / "model.pt")
    loaded = load_model(path)
    a = predict_volume(trained, phantoms[1].image)
    b = predict_volume(loaded, phantoms[1].image)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.uncertainty, b.uncertainty, atol=1e-6)
    assert loaded.mapping == trained.mapping and loaded.normalisation == trained.normalisation
    assert loaded.settings == trained.settings and loaded.axis == trained.axis
    assert loaded.trained_networks == trained.trained_networks
    assert loaded.trained_iterations == 2 and loaded.history == trained.history


def test_file_holds_only_plain_data(trained, tmp_path):
    path = save_model(trained, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)  # would raise on pickled objects
    assert payload["format"] == "napari-mcsc" and payload["package_version"]
    assert any(k.startswith("swin.") for k in payload["state_dict"])
    assert any(k.startswith("projector.") for k in payload["state_dict"])


def test_no_temporary_file_is_left_behind(trained, tmp_path):
    save_model(trained, tmp_path / "m.pt")
    save_model(trained, tmp_path / "m.pt")  # overwrite
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_a_file_that_is_not_ours(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="not a napari-mcsc model"):
        load_model(other)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a napari-mcsc model"):
        load_model(text)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load_model(tmp_path / "nope.pt")


def test_damaged_weights(trained, tmp_path):
    path = save_model(trained, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["state_dict"].pop(next(iter(payload["state_dict"])))
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="damaged or incompatible"):
        load_model(path)


def test_a_model_file_written_by_version_0_1_0_still_loads_and_predicts_the_same():
    """tests/data/model_0.1.0.pt was written before the model stopped holding its
    training configuration (tests/data/make_model_0_1_0.py)."""
    import importlib.util
    from pathlib import Path

    import numpy as np

    from napari_mcsc.checkpoint import load_model
    from napari_mcsc.inference import predict_volume

    data = Path(__file__).parent / "data"
    spec = importlib.util.spec_from_file_location("make_model", data / "make_model_0_1_0.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    model = load_model(data / "model_0.1.0.pt")
    assert model.image_size == 32 and model.axis == 0
    assert list(model.mapping.values) == [0, 2]
    assert model.has_trained_transformer
    expected = np.load(data / "model_0.1.0_prediction.npy")
    np.testing.assert_array_equal(predict_volume(model, maker.fixed_volume()).labels, expected)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("format_version", "1"),
        ("format_version", None),
        ("axis", "0"),
        ("axis", 7),
        ("trained_iterations", "many"),
        ("trained_iterations", -3),
        ("history", "runs"),
        ("history", [1, 2]),
        ("label_values", 3),
        ("label_values", [0, "x"]),
        ("model", [1]),
        ("trained_networks", "cnn"),
        ("trained_networks", ["cnn", "gan"]),
        ("normalisation", "mri"),
        ("state_dict", None),
    ],
)
def test_checkpoint_fields_of_the_wrong_type(tmp_path, capsys, pair, field, value):
    path = save_model(_model(), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload[field] = value
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"m\.pt"):
        load_model(path)
    code = main(["predict", "--model", str(path), "--image", pair[0], "--out", str(tmp_path / "o")])
    _one_line_error(capsys, code)
