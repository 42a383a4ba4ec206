"""data/context.py: a slice with its neighbours, through training and prediction."""

import numpy as np
import pytest
import torch

from napari_mcsc.data.context import context_stack
from napari_mcsc.data.slices import AnnotatedVolume, build_slice_set


def test_each_slice_sits_between_its_neighbours_and_the_edges_repeat():
    volume = np.arange(5)[:, None, None] * np.ones((5, 2, 3))
    stack = context_stack(volume, [0, 2, 4], 3)
    assert stack.shape == (3, 3, 2, 3)
    assert stack[:, :, 0, 0].tolist() == [[0, 0, 1], [1, 2, 3], [3, 4, 4]]
    assert context_stack(volume, [1], 5)[0, :, 0, 0].tolist() == [0, 0, 1, 2, 3]


def test_slice_sets_carry_the_context_as_channels_and_one_target_per_slice(phantoms):
    from napari_mcsc.data.phantom import paint_slices

    p = phantoms[0]
    volume = AnnotatedVolume(p.image, paint_slices(p.labels, [0, 5]))
    flat = build_slice_set([volume], image_size=64, unlabelled=[phantoms[1].image])
    deep = build_slice_set([volume], image_size=64, unlabelled=[phantoms[1].image], context=3)
    assert deep.labelled_images.shape == (2, 3, 64, 64) and deep.labelled_targets.shape == (2, 64, 64)
    assert deep.num_unlabelled == flat.num_unlabelled
    torch.testing.assert_close(deep.labelled_images[:, 1], flat.labelled_images)  # the slice itself
    torch.testing.assert_close(deep.labelled_images[0, 0], flat.labelled_images[0])  # first: repeated


@pytest.mark.parametrize("method, targets", [("sup", {}), ("mcsc", {}), ("mcsc", {"teacher": "no_grad"})])
def test_a_model_with_context_trains_saves_loads_and_predicts_a_volume(
    tiny_config, phantoms, tmp_path, method, targets
):
    from napari_mcsc.checkpoint import load_model, save_model
    from napari_mcsc.data.phantom import paint_slices
    from napari_mcsc.inference import predict_volume
    from napari_mcsc.jobs import TrainingJob, run_to_end

    p = phantoms[0]
    sparse = paint_slices(p.labels, [0, 5])
    strong = {"strong_view": True} if targets else {}  # weak-to-strong views of context stacks
    config = tiny_config.replace(method=method, iterations=2, context_slices=3, **targets, **strong)
    job = TrainingJob(config, [AnnotatedVolume(p.image, sparse)], [phantoms[1].image], predict=False)
    model = run_to_end(job.run()).model
    assert model.networks.cnn(torch.zeros(1, 3, 64, 64)).logits.shape[1] == model.num_classes
    again = load_model(save_model(model, tmp_path / "m.pt"))
    assert again.settings.network.context_slices == 3
    first = predict_volume(model, p.image, painted=sparse)
    second = predict_volume(again, p.image, painted=sparse)
    assert first.labels.shape == p.image.shape
    np.testing.assert_array_equal(first.labels, second.labels)
