"""Property-based tests (issue 9): reading, label mapping and slice extraction under random input.

Random shapes (1-4 D), dtypes, NaNs/infinities and label sets give either a valid
dataset (finite slices in [0, 1], class targets within the mapping) or one clear,
one-line error: ``VolumeReadError`` for files, ``AnnotationError`` for what they hold.
Never another exception.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.data.slices import AnnotatedVolume, AnnotationError, SliceSet, build_slice_set
from napari_mcsc.io import VolumeReadError, read_volume

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # blank-image warnings are expected

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

IMAGE_DTYPES = [
    np.bool_,
    np.uint8,
    np.int8,
    np.int16,
    np.uint16,
    np.int32,
    np.uint32,
    np.int64,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
]
LABEL_DTYPES = [np.bool_, np.uint8, np.int8, np.int16, np.uint32, np.int64, np.uint64, np.float32, np.float64]
SPECIAL_FLOATS = [np.nan, np.inf, -np.inf, 0.5, -1.0, 1e30, -0.0]


def shapes(min_dims: int = 1, max_dims: int = 4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=7)


@st.composite
def arrays(draw, dtypes, shape=None, labels=False):
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    shape = shape if shape is not None else draw(shapes())
    if labels and dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = st.sampled_from([0, 0, 0, 1, 2, 5, int(info.max), int(info.min)])
        array = draw(hnp.arrays(dtype, shape, elements=values))
    elif dtype.kind == "f":
        elements = st.one_of(
            st.floats(-1e3, 1e3, width=min(dtype.itemsize * 8, 64)), st.sampled_from(SPECIAL_FLOATS)
        )
        if labels:
            elements = st.one_of(st.sampled_from([0.0, 0.0, 1.0, 2.0]), elements)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # 1e30 in float16 -> inf: intended
            array = draw(hnp.arrays(dtype, shape, elements=elements.map(lambda v: dtype.type(v))))
    else:
        array = draw(hnp.arrays(dtype, shape))
    return array


def _check_dataset(data: SliceSet) -> None:
    """What a valid dataset means: something to train on, nothing silently wrong."""
    assert data.num_labelled >= 1
    for images in (data.labelled_images, data.unlabelled_images):
        assert bool(images.isfinite().all())
        assert images.numel() == 0 or (images.min() >= 0 and images.max() <= 1 + 1e-6)
    assert data.labelled_targets.min() >= 0
    assert data.labelled_targets.max() < data.mapping.num_classes


def _one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text and "\n" not in text, repr(text)


def _dataset(image, labels, axis, reviewed=()):
    try:
        volume = AnnotatedVolume(image, labels, reviewed=reviewed, name="fuzz")
        data = build_slice_set([volume], axis=axis, image_size=32)
    except AnnotationError as exc:
        _one_line(exc)
        return None
    _check_dataset(data)
    return data


# ------------------------------------------------------------ label mapping alone
@FUZZ
@given(st.lists(arrays(LABEL_DTYPES, labels=True), min_size=1, max_size=3))
def test_label_mapping_is_valid_or_refused(volumes):
    try:
        mapping = LabelMapping.from_label_volumes(volumes)
    except AnnotationError as exc:
        _one_line(exc)
        return
    assert mapping.values[0] == 0 and len(set(mapping.values)) == mapping.num_classes >= 2
    for volume in volumes:
        classes = mapping.to_classes(volume)
        assert classes.shape == np.shape(volume)
        np.testing.assert_array_equal(mapping.to_values(classes), np.asarray(volume).astype(np.int64))


# ------------------------------------------------- slice extraction, in memory
@st.composite
def image_and_labels(draw):
    shape = draw(shapes())
    image = draw(arrays(IMAGE_DTYPES, shape))
    same_shape = draw(st.booleans()) or draw(st.booleans())
    label_shape = shape if same_shape else draw(shapes())
    labels = draw(st.one_of(st.none(), arrays(LABEL_DTYPES, label_shape, labels=True)))
    return image, labels


@FUZZ
@given(image_and_labels(), st.integers(0, 2), st.lists(st.integers(-2, 8), max_size=2))
def test_slice_extraction_is_valid_or_refused(pair, axis, reviewed):
    image, labels = pair
    _dataset(image, labels, axis, reviewed)


# --------------------------------------------- reading + mapping + extraction
FORMATS = [".nii.gz", ".nii", ".mha", ".nrrd"]
SITK_DTYPES = [np.uint8, np.int8, np.int16, np.uint16, np.int32, np.float32, np.float64]


@st.composite
def files(draw):
    shape = draw(shapes(min_dims=2))  # SimpleITK has no 1-D images (tested in memory above)
    image = draw(arrays(SITK_DTYPES, shape))
    labels = draw(arrays([np.uint8, np.int16, np.float32], shape, labels=True))
    damage = draw(st.sampled_from([None, None, "truncate", "garbage", "flip"]))
    cut = draw(st.floats(0.0, 1.0))
    return image, labels, draw(st.sampled_from(FORMATS)), draw(st.sampled_from(FORMATS)), damage, cut


def _write(array: np.ndarray, path: Path, damage: str | None, cut: float) -> None:
    sitk.WriteImage(sitk.GetImageFromArray(array, isVector=False), str(path), useCompression=True)
    if damage is None:
        return
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: int(len(data) * cut)]
    elif damage == "garbage":
        data = bytearray(np.random.default_rng(int(cut * 1e6)).bytes(max(1, int(len(data) * cut))))
    elif data:
        data[int((len(data) - 1) * cut)] ^= 0xFF
    path.write_bytes(bytes(data))


@FUZZ
@given(files(), st.integers(0, 2))
def test_files_read_into_a_valid_dataset_or_one_clear_error(case, axis):
    image, labels, image_ext, label_ext, damage, cut = case
    with tempfile.TemporaryDirectory() as folder:
        image_path, label_path = Path(folder) / f"image{image_ext}", Path(folder) / f"labels{label_ext}"
        _write(image, image_path, damage, cut)
        _write(labels, label_path, None, cut)
        try:
            image_volume, label_volume = read_volume(image_path), read_volume(label_path)
        except VolumeReadError as exc:
            _one_line(exc)
            assert damage is not None
            return
    read = image_volume.array
    if damage is None:  # NIfTI drops trailing axes of length 1: compare in the input's shape
        assert read.size == image.size
    if damage in (None, "truncate") and read.size == image.size:
        # NaNs kept, and a truncated file never reads as a volume with a zero-filled tail
        np.testing.assert_array_equal(read.reshape(image.shape), image)
    _dataset(image_volume.array, label_volume.array, axis)
