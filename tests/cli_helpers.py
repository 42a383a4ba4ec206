"""Small files, a tiny model and command-line calls for the tests of hostile but realistic
inputs (issue 9): nothing lost, nothing silently wrong.

A plain module rather than fixtures (like ``tiny``): the tests of the command line, the
readers, the checkpoint and the atomic writes import what they need from it. The fixtures
built on it (``pair``, ``no_training``) are in conftest.py.
"""

from __future__ import annotations

import numpy as np

from napari_mcsc.cli import main
from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.data.normalise import Normalisation
from napari_mcsc.io import Geometry
from napari_mcsc.model import SegmentationModel

SHAPE = (6, 32, 32)
GEOMETRY = Geometry.from_zyx(spacing_zyx=(3.0, 0.8, 0.8), origin_zyx=(5.0, -2.0, 1.0))


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(100.0, 20.0, SHAPE).astype(np.float32)


def _labels() -> np.ndarray:
    labels = np.zeros(SHAPE, np.uint8)
    labels[2, 8:20, 8:20] = 1
    labels[4, 10:14, 10:24] = 2
    return labels


def _tiny_config(**changes):
    from napari_mcsc.training import profile

    settings = dict(
        image_size=32,
        batch_size=2,
        labelled_batch_size=1,
        iterations=1,
        max_seconds=None,
        unet_channels=(4, 8, 16, 32, 64),
        swin_embed_dim=12,
        swin_heads=(1, 2, 2, 4),
        swin_window=2,
        projection_dim=8,
        device="cpu",
    )
    settings.update(changes)
    return profile("fast", **settings)


def _model(axis: int = 0) -> SegmentationModel:
    return SegmentationModel.create(
        _tiny_config().model_settings(), LabelMapping((0, 1, 2)), Normalisation(), axis
    )


def _one_line_error(capsys, code, expected_code=2):
    err = capsys.readouterr().err.strip()
    assert code == expected_code, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _train(pair, out, *extra):
    return main(
        [
            "train",
            "--image",
            pair[0],
            "--labels",
            pair[1],
            "--out",
            str(out),
            "--iterations",
            "1",
            "--device",
            "cpu",
            "--quiet",
            *extra,
        ]
    )
