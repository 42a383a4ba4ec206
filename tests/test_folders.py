"""``train --data DIR`` and ``predict --data DIR`` on Medical Segmentation Decathlon folders."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from napari_mcsc.cli import main
from napari_mcsc.io import write_volume


@pytest.fixture()
def msd(tmp_path, phantoms):
    """imagesTr/labelsTr with 3 cases (case2's labels painted on 2 slices), a splits.json
    that leaves out case3, imagesTs with 2 images, and macOS's ``._`` clutter."""
    from napari_mcsc.data.phantom import paint_slices

    root = tmp_path / "Task01"
    for folder in ("imagesTr", "labelsTr", "imagesTs"):
        (root / folder).mkdir(parents=True)
    for i, p in enumerate([*phantoms, phantoms[0]]):
        write_volume(root / "imagesTr" / f"case{i}.nii.gz", p.image)
        labels = paint_slices(p.labels, [2, 5]) if i == 2 else p.labels
        write_volume(root / "labelsTr" / f"case{i}.nii.gz", labels)
    for i in (0, 1):
        write_volume(root / "imagesTs" / f"test{i}.nii.gz", phantoms[i].image)
    (root / "imagesTr" / "._case0.nii.gz").write_bytes(b"\x00" * 10)
    (root / "dataset.json").write_text(
        json.dumps(
            {"name": "phantoms", "labels": {"0": "background", "1": "a", "2": "b", "3": "c", "4": "d"}}
        )
    )
    (root / "splits.json").write_text(json.dumps({"train": ["case1", "case0", "case2"], "val": ["case3"]}))
    return root


def test_first_k_cases_fully_labelled_the_rest_unlabelled(msd):
    from napari_mcsc.data.folders import read_training_data

    data = read_training_data(msd, 1)
    assert data.cases == ["case1", "case0", "case2"]  # splits.json's order
    assert [v.name for v in data.volumes] == ["case1"]
    assert data.volumes[0].labelled_slices(0) == list(range(8))  # empty slices count too
    assert len(data.unlabelled) == 2
    assert data.mapping.values == (0, 1, 2, 3, 4)  # dataset.json's classes, even unseen ones


def test_painted_label_files(msd):
    from napari_mcsc.data.folders import read_training_data

    data = read_training_data(msd, "painted")
    painted = {v.name: v.labelled_slices(0) for v in data.volumes}
    assert painted["case2"] == [2, 5] and len(painted["case0"]) > 2
    assert data.unlabelled == []


def test_train_and_predict_a_folder_then_resume_predicting(msd, tmp_path, capsys):
    model = tmp_path / "model.pt"
    assert (
        main(
            [
                "train",
                "--data",
                str(msd),
                "--labelled",
                "1",
                "--out",
                str(model),
                "--iterations",
                "1",
                "--device",
                "cpu",
                "--quiet",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    # 16 unpainted slices, cut into tiles at the painted structures' scale (field of view)
    assert re.search(r"on 8 painted and \d+ unlabelled slices, classes \[0, 1, 2, 3, 4\]", err)
    out = tmp_path / "pred"
    assert main(["predict", "--model", str(model), "--data", str(msd), "--out", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["test0_prediction.nii.gz", "test1_prediction.nii.gz"]
    (out / "test1_prediction.nii.gz").unlink()  # as if the first run had stopped there
    before = (out / "test0_prediction.nii.gz").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["predict", "--model", str(model), "--data", str(msd), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "1 of 2 images already predicted" in captured.err
    assert captured.out.strip().endswith("test1_prediction.nii.gz")
    assert (out / "test0_prediction.nii.gz").stat().st_mtime_ns == before
    assert (out / "test1_prediction.nii.gz").is_file()


def test_predict_refuses_two_inputs_with_one_output_name(msd, tmp_path, capsys):
    model = tmp_path / "model.pt"
    assert (
        main(
            [
                "train",
                "--data",
                str(msd),
                "--labelled",
                "painted",
                "--out",
                str(model),
                "--iterations",
                "1",
                "--device",
                "cpu",
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "predict",
                "--model",
                str(model),
                "--data",
                str(msd / "imagesTs"),
                "--data",
                str(msd / "imagesTs" / "*.nii.gz"),
                "--out",
                str(tmp_path / "p"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "same file" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--labelled", "1"], "--labelled goes with --data"),
        (["--data", "{msd}"], "--data needs --labelled"),
        (["--data", "{msd}", "--labelled", "some"], "number of cases"),
        (["--data", "{msd}", "--labelled", "9"], "has 3 cases"),
        (["--data", "{msd}", "--labelled", "1", "--image", "x.nii.gz"], "not both"),
        ([], "give the training data"),
    ],
)
def test_data_mistakes_exit_2_with_one_line(msd, tmp_path, capsys, args, message):
    args = [a.format(msd=msd) for a in args]
    assert (
        main(
            [
                "train",
                *args,
                "--out",
                str(tmp_path / "m.pt"),
                "--iterations",
                "1",
                "--device",
                "cpu",
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_images_to_predict_of_a_plain_folder(msd):
    from napari_mcsc.data.folders import images_to_predict

    assert [p.name for p in images_to_predict(str(msd / "imagesTr"))] == [f"case{i}.nii.gz" for i in range(4)]
    assert np.all([p.parent.name == "imagesTs" for p in images_to_predict(str(msd))])


@pytest.mark.parametrize("labelled", [1, "painted"])
def test_streamed_slice_set_equals_the_in_memory_one(msd, labelled):
    """``train --data`` reads the cases one at a time (lazy): the same tensors as with every
    volume in memory, without the native volumes kept."""
    import torch

    from napari_mcsc.data.folders import LazyVolumes, read_training_data
    from napari_mcsc.data.slices import build_slice_set

    eager = read_training_data(msd, labelled)
    lazy = read_training_data(msd, labelled, lazy=True)
    assert isinstance(lazy.volumes, LazyVolumes) and isinstance(lazy.unlabelled, LazyVolumes)
    assert lazy.mapping == eager.mapping and lazy.cases == eager.cases
    a = build_slice_set(eager.volumes, image_size=32, mapping=eager.mapping, unlabelled=eager.unlabelled)
    b = build_slice_set(
        lazy.volumes, image_size=32, mapping=lazy.mapping, unlabelled=lazy.unlabelled, keep_volumes=False
    )
    for name in ("labelled_images", "labelled_targets", "unlabelled_images"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert a.labelled_sources == b.labelled_sources and a.mapping == b.mapping
    assert len(a.volumes) == len(eager.volumes) and b.volumes == []


@pytest.mark.parametrize("labelled, unlabelled_slices", [(1, 16), ("painted", 6)])
def test_slice_set_holds_one_native_volume_at_a_time(msd, labelled, unlabelled_slices):
    """Each volume (labelled or not) is released before the next is read."""
    import weakref

    from napari_mcsc.data.folders import LazyVolumes, read_training_data
    from napari_mcsc.data.slices import build_slice_set

    folder = read_training_data(msd, labelled, lazy=True)
    alive = []

    def tracked(lazy):
        def read(case):
            alive.append(sum(ref() is not None for ref in refs))
            value = lazy.read(case)
            refs.append(weakref.ref(value))
            return value

        return LazyVolumes(lazy.cases, read)

    refs = []
    data = build_slice_set(
        tracked(folder.volumes),
        image_size=32,
        mapping=folder.mapping,
        unlabelled=tracked(folder.unlabelled),
        keep_volumes=False,
    )
    assert data.num_unlabelled == unlabelled_slices and len(alive) == 3
    assert alive == [0, 0, 0]


def test_decathlon_cases_are_found_in_every_supported_format_nii_gz_first(tmp_path):
    from napari_mcsc.data.decathlon import case_image_path
    from napari_mcsc.io import SUPPORTED_EXTENSIONS

    images = tmp_path / "imagesTr"
    images.mkdir()
    for i, ext in enumerate(SUPPORTED_EXTENSIONS):
        (images / f"case{i}{ext}").write_bytes(b"")
        assert case_image_path(tmp_path, f"case{i}") == images / f"case{i}{ext}"
    (images / "both.nii").write_bytes(b"")
    (images / "both.nii.gz").write_bytes(b"")
    assert case_image_path(tmp_path, "both").name == "both.nii.gz"
