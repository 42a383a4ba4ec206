"""Shared fixtures: small synthetic volumes made by the tests themselves."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be downloaded in tests

import numpy as np
import pytest

from tiny import TINY_SETTINGS, tiny_mcsc_config, tiny_study_settings


@pytest.fixture(scope="session")
def phantoms():
    from napari_mcsc.data.phantom import make_phantom_set

    return make_phantom_set(3, shape=(8, 64, 64), seed=3)


@pytest.fixture()
def tiny_settings():
    """``TINY_SETTINGS`` as a dict of changes: ``config.replace(**tiny_settings)`` shrinks any
    configuration (the widget's included) without touching its run settings."""
    return dict(TINY_SETTINGS)


@pytest.fixture()
def tiny_config():
    """A fast-profile configuration small enough for a few CPU iterations per second, with
    method MCSC (not the fast profile's default, sup): most tests are about MCSC's training."""
    return tiny_mcsc_config()


@pytest.fixture()
def tiny_slice_set(phantoms, tiny_config):
    from napari_mcsc.data.phantom import paint_slices
    from napari_mcsc.data.slices import AnnotatedVolume, build_slice_set

    p = phantoms[0]
    return build_slice_set(
        [AnnotatedVolume(p.image, paint_slices(p.labels, [2, 5]), name="p0")],
        image_size=tiny_config.image_size,
        unlabelled=[phantoms[1].image],
    )


@pytest.fixture()
def trained(tiny_config, tiny_slice_set):
    """A model trained for 2 iterations on ``tiny_slice_set``."""
    from napari_mcsc.training import Trainer

    trainer = Trainer(tiny_config.replace(iterations=2), tiny_slice_set)
    list(trainer.run())
    return trainer.model


@pytest.fixture()
def rng():
    return np.random.default_rng(0)


@pytest.fixture()
def msd_folder(tmp_path):
    """A tiny Medical-Segmentation-Decathlon-style folder of phantoms: 3 patients x 2
    frames (6 slices of 48 x 48), train = the first 4 volumes, val = the last 2."""
    import json

    from napari_mcsc.data.phantom import make_phantom
    from napari_mcsc.io import write_volume

    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    names = []
    for patient in range(3):
        for frame in (1, 2):
            name = f"patient{patient:03d}_frame{frame:02d}"
            p = make_phantom((6, 48, 48), seed=patient * 10 + frame, variant=frame)
            write_volume(tmp_path / "imagesTr" / f"{name}.nii.gz", p.image)
            write_volume(tmp_path / "labelsTr" / f"{name}.nii.gz", p.labels)
            names.append(name)
    (tmp_path / "splits.json").write_text(json.dumps({"train": names[:4], "val": names[4:]}))
    labels = {"0": "bg", "1": "RV", "2": "MYO", "3": "LV"}
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))
    return tmp_path


@pytest.fixture()
def _one_thread(monkeypatch):
    """One torch thread (no thread probing): for tests that compare runs or train in rounds.
    Not automatic: a file or test asks for it with ``pytest.mark.usefixtures("_one_thread")``."""
    monkeypatch.setenv("NAPARI_MCSC_TORCH_THREADS", "1")


@pytest.fixture()
def pair(tmp_path):
    """An image and its sparse labels on disk, same geometry."""
    from cli_helpers import GEOMETRY, _image, _labels
    from napari_mcsc.io import write_volume

    return (
        write_volume(tmp_path / "scan.nii.gz", _image(), GEOMETRY),
        write_volume(tmp_path / "scan_labels.nii.gz", _labels(), GEOMETRY),
    )


@pytest.fixture()
def no_training(monkeypatch):
    """Replace training by Ctrl-C: exit 130 proves every check before it passed."""
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr("napari_mcsc.commands.train.run_training", interrupted)
    return calls


@pytest.fixture()
def study(tmp_path, phantoms):
    """A study of the three ``phantoms`` (arrays, not files) with ``tiny_study_settings``."""
    from napari_mcsc.study import Study

    scans = [(f"scan{i}", p.image, None) for i, p in enumerate(phantoms)]
    return Study.create_from_arrays(tmp_path / "study", scans, tiny_study_settings())
