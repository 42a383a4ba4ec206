"""Shared fixtures: small synthetic volumes made by the tests themselves."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be downloaded in tests

import numpy as np
import pytest

from tiny import TINY_SETTINGS, tiny_mcsc_config


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
