"""What a napari-hub user gets from the installed wheel, checked in the venv it went into.

Run by check_wheel.sh with the venv's Python, from a folder outside the source tree and
under a virtual X server; not a pytest file (pytest would import the checkout instead).
Each check prints one line; the first failure stops with a message saying what broke.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
WIDGET = "Segment from painted slices (MCSC)"
HUB_LINKS = ("Source Code", "Bug Tracker", "Documentation", "User Support")
STARTED = time.monotonic()


def ok(text: str) -> None:
    print(f"  ok [{time.monotonic() - STARTED:5.1f} s] {text}", flush=True)


def fail(text: str) -> None:
    sys.exit(f"hub check FAILED: {text}")


def run(*command: str) -> str:
    proc = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", errors="replace")
    if proc.returncode != 0:
        fail(f"`{' '.join(command)}` exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def check_installed_not_checkout() -> None:
    import importlib.metadata

    import napari_mcsc

    where = Path(napari_mcsc.__file__).resolve()
    tree = os.environ.get("NAPARI_MCSC_SOURCE_TREE")
    if tree and Path(tree).resolve() in where.parents:
        fail(f"napari_mcsc was imported from the checkout ({where}), not from the installed wheel")
    if Path(sys.prefix).resolve() not in where.parents:
        fail(f"napari_mcsc comes from {where}, outside this venv ({sys.prefix})")
    version = importlib.metadata.version("napari-mcsc")
    if version != napari_mcsc.__version__:
        fail(f"the wheel says version {version} but napari_mcsc.__version__ is {napari_mcsc.__version__}")
    ok(f"napari-mcsc {version} imported from {where.parent}")


def check_metadata() -> None:
    """What the hub page shows: the classifier it lists plugins by, links, keywords."""
    import importlib.metadata

    meta = importlib.metadata.metadata("napari-mcsc")
    if "Framework :: napari" not in (meta.get_all("Classifier") or []):
        fail("the wheel lacks the 'Framework :: napari' classifier, so napari hub would not list it")
    links = {entry.split(",", 1)[0].strip() for entry in meta.get_all("Project-URL") or []}
    missing = [name for name in HUB_LINKS if name not in links]
    if missing:
        fail(f"the wheel's project URLs lack {', '.join(missing)} (setup.cfg project_urls)")
    if not meta.get("Keywords"):
        fail("the wheel has no keywords (setup.cfg keywords)")
    description = meta.get_payload() or meta.get("Description") or ""
    relative = re.findall(r"!\[[^\]]*\]\((?!https?://)([^)\s]+)", description)
    for image in relative:
        print(f"  notice: the README shows {image} by a relative link: a broken image on PyPI and the hub")
    ok(f"hub metadata: classifier, {', '.join(HUB_LINKS)}, keywords")


def check_cli() -> None:
    text = run(str(BIN / "napari-mcsc"), "--help")
    for command in ("train", "predict", "evaluate"):
        if command not in text:
            fail(f"`napari-mcsc --help` does not list the {command} command:\n{text}")
    predict = run(str(BIN / "napari-mcsc"), "predict", "--help")
    if "--dicom-seg" not in predict:
        fail("`napari-mcsc predict --help` has no --dicom-seg option")
    ok("napari-mcsc --help lists its commands")


def check_manifest() -> None:
    import npe2

    run(str(BIN / "npe2"), "validate", "--imports", "napari-mcsc")
    pm = npe2.PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest("napari-mcsc")
    contributions = manifest.contributions
    widgets = [w.display_name for w in contributions.widgets or []]
    if WIDGET not in widgets:
        fail(f"the manifest's widgets are {widgets}; {WIDGET!r} is missing")
    if not contributions.readers or not contributions.writers or not contributions.sample_data:
        fail("the manifest lacks a reader, a writer or sample data")
    wheel = os.environ.get("NAPARI_MCSC_WHEEL")
    if wheel and npe2.get_manifest_from_wheel(wheel).name != "napari-mcsc":
        fail(f"npe2 finds no napari-mcsc manifest in {wheel} (as napari hub reads it)")
    ok(f"npe2 discovers and validates the manifest (widgets: {', '.join(widgets)})")


def check_reader_and_writer(folder: Path) -> None:
    import npe2
    import numpy as np
    import SimpleITK as sitk

    scan = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) * 7
    image = sitk.GetImageFromArray(scan)
    image.SetSpacing((0.5, 0.75, 2.0))
    image.SetOrigin((10.0, -4.0, 3.0))
    path = folder / "scan.nii.gz"
    sitk.WriteImage(image, str(path))
    layers = npe2.read([str(path)], stack=False, plugin_name="napari-mcsc")
    data, kwargs, kind = layers[0]
    if kind != "image" or not np.array_equal(np.asarray(data), scan):
        fail(f"the reader gave a {kind} layer that is not the NIfTI written ({np.shape(data)})")
    if not np.allclose(kwargs["scale"], (2.0, 0.75, 0.5)) or not np.allclose(
        kwargs["translate"], (3, -4, 10)
    ):
        fail(f"the reader placed the scan at scale {kwargs['scale']}, translate {kwargs['translate']}")
    labels = (scan > 50).astype(np.uint8)
    written = npe2.write(str(folder / "labels.nrrd"), [(labels, kwargs, "labels")], plugin_name="napari-mcsc")
    back = sitk.ReadImage(written[0])
    if not np.array_equal(sitk.GetArrayFromImage(back), labels) or back.GetOrigin() != image.GetOrigin():
        fail("the writer's .nrrd does not hold the labels in the scan's geometry")
    ok("the reader opens a NIfTI in place; the writer saves labels as NRRD in its geometry")


def check_sample_and_widget() -> None:
    import napari
    import npe2

    command = npe2.PluginManager.instance().get_command("napari-mcsc.make_sample")
    kinds = [kind for *_, kind in command.exec()]
    if kinds != ["image", "labels"]:
        fail(f"make_sample_layers gave {kinds}, not an image and labels")
    ok("the sample data command gives an image and painted labels")

    viewer = napari.Viewer(show=False)
    try:
        viewer.open_sample("napari-mcsc", "phantom")
        if [layer.name for layer in viewer.layers] != ["phantom", "phantom annotations"]:
            fail(f"opening the sample gave layers {[layer.name for layer in viewer.layers]}")
        dock, widget = viewer.window.add_plugin_dock_widget("napari-mcsc", WIDGET)
        napari.qt.get_qapp().processEvents()
        if type(widget).__name__ != "MCSCWidget" or dock is None:
            fail(f"docking {WIDGET!r} gave {type(widget).__name__}")
        ok(f"the sample opens in a viewer and {WIDGET!r} docks in it")
    finally:
        viewer.close()


def main() -> None:
    print(f"hub checks with {sys.executable} in {Path.cwd()}", flush=True)
    check_installed_not_checkout()
    check_metadata()
    check_cli()
    check_manifest()
    with tempfile.TemporaryDirectory(prefix="napari-mcsc-hub-") as folder:
        check_reader_and_writer(Path(folder))
    check_sample_and_widget()
    print(f"hub checks passed in {time.monotonic() - STARTED:.0f} s", flush=True)


if __name__ == "__main__":
    main()
