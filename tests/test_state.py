"""training/state.py: a round's training state carried into the next round."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcsc.data.phantom import paint_slices
from napari_mcsc.training import Trainer
from napari_mcsc.training.state import TrainState

pytestmark = pytest.mark.usefixtures("_one_thread")


def _events(trainer):
    return [
        (e.learning_rates["cnn"], e.learning_rates["swin"], e.losses.get("ct_weight")) for e in trainer.run()
    ]


def test_a_carried_round_continues_the_schedule_of_an_uninterrupted_run(tiny_config, tiny_slice_set):
    """Learning rates, the cross-teaching ramp and the optimiser's step count of two
    rounds (3 + 3 iterations) match one run of 6 on the same schedule."""
    config = tiny_config.replace(
        method="ct", schedule_horizon=6, lr_floor=0.2, supervised_warmup=0.3, consistency_rampup=0.5
    )
    whole = Trainer(config.replace(iterations=6), tiny_slice_set)
    expected = _events(whole)
    first = Trainer(config.replace(iterations=3), tiny_slice_set)
    got = _events(first)
    state = TrainState.capture(first)
    assert state.position == 3
    second = Trainer(config.replace(iterations=3), tiny_slice_set, init=first.model, carry=state)
    got += _events(second)
    assert np.allclose(np.array(got), np.array(expected), rtol=1e-9)
    steps = [int(s["step"]) for s in second.live.optimizers["cnn"].state_dict()["state"].values()]
    assert set(steps) == {6}
    # Without the carried state the second round would start again at the peak rate.
    restart = Trainer(config.replace(iterations=3), tiny_slice_set, init=first.model)
    assert _events(restart)[0][0] > 1.5 * got[3][0]


def test_a_state_with_other_classes_restarts_that_optimiser(tiny_config, tiny_slice_set, phantoms):
    from napari_mcsc.data.slices import AnnotatedVolume, build_slice_set

    first = Trainer(tiny_config.replace(method="sup", iterations=2), tiny_slice_set)
    list(first.run())
    state = TrainState.capture(first)
    one_class = np.where(phantoms[0].labels == 1, 1, 0)
    data = build_slice_set(
        [AnnotatedVolume(phantoms[0].image, paint_slices(one_class * 7, [3]))], image_size=64
    )  # a new label value: the classifier grows, its optimiser state no longer fits
    second = Trainer(tiny_config.replace(method="sup", iterations=1), data, init=first.model, carry=state)
    list(second.run())
    assert second.model.history[-1]["fresh_optimizers"] == ["cnn"]
