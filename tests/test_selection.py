"""Best-validation model selection keeps the best scored weights, not the last ones."""

from __future__ import annotations

import pytest
import torch

from napari_mcsc.training import Trainer
from napari_mcsc.training.selection import BestCheckpoint


def test_restores_the_weights_of_the_best_evaluation(tiny_config, tiny_slice_set):
    scores = iter([0.2, 0.9, 0.1])
    snapshots = {}

    def score(model):
        value = next(scores)
        snapshots[value] = {k: v.clone() for k, v in model.networks.state_dict().items()}
        return value

    selector = BestCheckpoint(score, every=2)
    trainer = Trainer(tiny_config.replace(iterations=6), tiny_slice_set, validation=selector)
    list(trainer.run())
    assert [i for i, _ in selector.scores] == [2, 4, 6]
    assert selector.best_iteration == 4
    final = trainer.model.networks.state_dict()
    for key, value in snapshots[0.9].items():
        assert torch.equal(final[key], value), key
    assert trainer.model.history[-1]["selected"]["best_iteration"] == 4


def test_rejects_a_zero_interval():
    with pytest.raises(ValueError, match="every"):
        BestCheckpoint(lambda m: 0.0, every=0)
