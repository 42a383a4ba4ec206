"""The npe2 manifest and the contributions it names."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import napari_mcsc

MANIFEST = Path(napari_mcsc.__file__).parent / "napari.yaml"


def test_manifest_validates_with_npe2():
    npe2 = pytest.importorskip("npe2")
    manifest = npe2.PluginManifest.from_file(MANIFEST)
    assert manifest.name == "napari-mcsc"
    exe = shutil.which("npe2") or str(Path(sys.executable).parent / "npe2")
    proc = subprocess.run(
        [exe, "validate", str(MANIFEST)], capture_output=True, text=True, encoding="utf-8", errors="replace"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_command_resolves_to_a_callable():
    import importlib

    import yaml

    spec = yaml.safe_load(MANIFEST.read_text())
    for command in spec["contributions"]["commands"]:
        module, name = command["python_name"].split(":")
        assert callable(getattr(importlib.import_module(module), name)), command["id"]


def test_reader_patterns_are_the_supported_extensions():
    import yaml

    from napari_mcsc.io.formats import FILENAME_PATTERNS

    spec = yaml.safe_load(MANIFEST.read_text())
    reader = spec["contributions"]["readers"][0]
    assert reader["accepts_directories"] is True
    patterns = reader["filename_patterns"]
    assert len(patterns) == len(set(patterns))
    assert set(patterns) == set(FILENAME_PATTERNS)


def test_volume_writer_extensions_are_the_supported_extensions():
    import yaml

    from napari_mcsc.io.formats import SUPPORTED_EXTENSIONS

    spec = yaml.safe_load(MANIFEST.read_text())
    writer = next(w for w in spec["contributions"]["writers"] if w["command"] == "napari-mcsc.write_labels")
    extensions = writer["filename_extensions"]
    assert len(extensions) == len(set(extensions))
    assert set(extensions) == set(SUPPORTED_EXTENSIONS)


def test_sample_data_is_an_image_and_two_painted_slices():
    from napari_mcsc._sample_data import make_sample_layers

    (image, image_kwargs, image_kind), (labels, labels_kwargs, labels_kind) = make_sample_layers()
    assert (image_kind, labels_kind) == ("image", "labels")
    assert image.shape == labels.shape and image.ndim == 3
    painted = np.flatnonzero(labels.any(axis=(1, 2)))
    assert len(painted) == 2
    assert image_kwargs["scale"] == labels_kwargs["scale"]
    assert "geometry" in image_kwargs["metadata"]["napari_mcsc"]


def test_package_import_stays_light():
    code = "import sys, napari_mcsc; print('torch' in sys.modules, 'qtpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
