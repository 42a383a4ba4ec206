"""data/field_of_view.py: the square around the painted structures, and its way back."""

import numpy as np
import pytest

from napari_mcsc.data.field_of_view import Box, box_of_painting, field_share, painted_box, paste, tile_boxes
from napari_mcsc.data.slices import AnnotatedVolume, build_slice_set


def _disc_volume(shape=(8, 120, 160), centre=(40, 100), radius=10):
    """A dark volume with a bright disc on every slice, and its labels."""
    yy, xx = np.mgrid[: shape[1], : shape[2]]
    disc = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 < radius**2
    labels = np.repeat(disc[None], shape[0], axis=0).astype(np.uint8)
    image = (
        10 + 100 * labels.astype(np.float32) + np.random.default_rng(0).normal(0, 1, shape).astype(np.float32)
    )
    return image, labels


def test_the_box_is_the_painted_square_grown_by_the_margin_and_kept_inside_the_slice():
    painted = np.zeros((2, 100, 300), bool)
    painted[0, 40:80, 100:140] = True  # 40 x 40
    box = painted_box(painted, margin=0.25)
    assert (box.height, box.width) == (60, 60)
    assert (box.y0, box.x0) == (30, 90)  # centred on the structure
    corner = np.zeros((1, 100, 300), bool)
    corner[0, 0:20, 280:300] = True  # at the slice's corner: moved inside
    box = painted_box(corner, margin=0.25)
    assert box == Box(0, 32, 268, 300)  # and never smaller than MIN_SIDE
    assert painted_box(np.zeros((1, 50, 50), bool), 0.25) is None


def test_a_structure_filling_most_of_the_slice_keeps_the_whole_slice():
    painted = np.zeros((1, 64, 64), bool)
    painted[0, 8:56, 8:56] = True
    assert painted_box(painted, 0.25) == Box(0, 64, 0, 64)


def test_tiles_cover_the_whole_slice_at_the_share_they_are_given():
    tiles = tile_boxes((100, 230), 0.4)
    assert {(t.height, t.width) for t in tiles} == {(40, 40)}
    covered = np.zeros((100, 230), int)
    for t in tiles:
        covered[t.y0 : t.y1, t.x0 : t.x1] += 1
    assert covered.min() >= 1
    assert field_share([Box(0, 40, 0, 40), Box(0, 100, 0, 230)], [(100, 230), (100, 230)]) == 0.4


def test_paste_puts_values_back_in_place_and_fills_the_rest():
    values = np.arange(4, dtype=np.float32).reshape(1, 2, 2)
    out = paste(values, Box(1, 3, 2, 4), (4, 5), fill=-1)
    assert out.shape == (1, 4, 5)
    np.testing.assert_array_equal(out[0, 1:3, 2:4], values[0])
    assert (out[0, 0] == -1).all() and (out[0, :, :2] == -1).all()


def test_slices_are_cut_to_the_painted_square_and_extra_images_into_tiles():
    image, labels = _disc_volume()
    sparse = np.zeros_like(labels)
    sparse[[2, 5]] = labels[[2, 5]]
    whole = build_slice_set([AnnotatedVolume(image, sparse)], image_size=64)
    cut = build_slice_set(
        [AnnotatedVolume(image, sparse)], image_size=64, crop_margin=0.5, unlabelled=[image]
    )
    box = box_of_painting(sparse, 0, 0.5)
    assert cut.boxes == [box] and box.height == 38  # a 19 px disc, 9.5 px on each side
    assert cut.field_share == pytest.approx(38 / 120)
    # The disc fills far more of the networks' input once cut: resolution where it is.
    assert cut.labelled_targets.float().mean() > 5 * whole.labelled_targets.float().mean()
    assert cut.num_unlabelled == 6 + 8 * len(tile_boxes((120, 160), 38 / 120))
    assert whole.boxes == [Box(0, 120, 0, 160)] and whole.field_share is None


def test_a_model_trained_in_the_square_predicts_a_whole_volume_with_or_without_painting(tiny_config):
    from napari_mcsc.checkpoint import load_model, save_model
    from napari_mcsc.inference import predict_volume
    from napari_mcsc.jobs import TrainingJob, run_to_end

    image, labels = _disc_volume()
    sparse = np.zeros_like(labels)
    sparse[[2, 5]] = labels[[2, 5]]
    config = tiny_config.replace(method="sup", iterations=40, crop_margin=0.5)
    result = run_to_end(TrainingJob(config, [AnnotatedVolume(image, sparse)], predict=False).run())
    model = result.model
    assert model.settings.crop_margin == 0.5 and model.settings.field_share == pytest.approx(38 / 120)
    painted = predict_volume(model, image, painted=sparse)
    assert painted.labels.shape == image.shape and painted.uncertainty.shape == image.shape
    box = box_of_painting(sparse, 0, 0.5)
    outside = np.ones(image.shape[1:], bool)
    outside[box.y0 : box.y1, box.x0 : box.x1] = False
    assert not painted.labels[:, outside].any()  # background outside the square
    assert painted.labels[:, 40, 100].all()  # the disc's centre, on every slice
    tiled = predict_volume(model, image)  # no painting: tiles at the trained scale
    assert tiled.labels.shape == image.shape and tiled.labels[:, 40, 100].all()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        again = load_model(save_model(model, Path(folder) / "m.pt"))
    assert again.settings == model.settings
