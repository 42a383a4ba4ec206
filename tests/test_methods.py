"""training/methods.py: what each method trains, draws and minimises."""

import pytest
import torch

from napari_mcsc.training import Trainer
from napari_mcsc.training.methods import MCSC, METHODS, CrossTeaching, Supervised, method_named


def test_each_name_gives_its_method_and_an_unknown_one_lists_the_choices():
    assert [type(method_named(name)) for name in METHODS] == [MCSC, CrossTeaching, Supervised]
    with pytest.raises(ValueError, match="one of"):
        method_named("unet")


@pytest.mark.parametrize(
    "name, networks, unlabelled",
    [("sup", ("cnn",), False), ("ct", ("cnn", "swin"), True), ("mcsc", ("cnn", "swin", "projector"), True)],
)
def test_a_run_has_one_optimiser_per_network_its_method_trains(
    tiny_config, tiny_slice_set, name, networks, unlabelled
):
    trainer = Trainer(tiny_config.replace(method=name, iterations=2), tiny_slice_set)
    events = list(trainer.run())
    assert tuple(trainer.live.optimizers) == networks
    assert set(events[-1].learning_rates) == set(networks)
    assert trainer.model.trained_networks == frozenset(networks)
    assert trainer.model.has_trained_transformer == ("swin" in networks)
    assert method_named(name).uses_unlabelled == unlabelled
    assert ("ct_weight" in events[-1].losses) == unlabelled
    assert ("con_full" in events[-1].losses) == (name == "mcsc")


def test_supervised_training_leaves_the_transformer_untouched_and_in_eval_mode(tiny_config, tiny_slice_set):
    trainer = Trainer(tiny_config.replace(method="sup", iterations=2), tiny_slice_set)
    before = {k: v.clone() for k, v in trainer.model.networks.swin.state_dict().items()}
    seen = []
    trainer.model.networks.swin.register_forward_pre_hook(lambda module, args: seen.append(module.training))
    list(trainer.run())
    after = trainer.model.networks.swin.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(seen)  # never run in training mode (nor at all, but for a preview)


def test_a_supervised_fine_tune_of_an_mcsc_model_keeps_its_trained_transformer(tiny_config, tiny_slice_set):
    first = Trainer(tiny_config.replace(method="mcsc", iterations=1), tiny_slice_set)
    list(first.run())
    second = Trainer(tiny_config.replace(method="sup", iterations=1), tiny_slice_set, init=first.model)
    list(second.run())
    assert second.model.has_trained_transformer
    assert tuple(second.live.optimizers) == ("cnn",)
