"""Where a study panel's study comes from: a folder of scans, or the images open in napari.

Both return a ``Study`` (no widget here); the study panel shows it. A study over open
images writes each image once into the study's folder, with its geometry, and takes along
what was painted in its Labels layer; the study then shows one scan at a time, so the
images and their Labels layers leave the viewer.
"""

from __future__ import annotations

from pathlib import Path

from napari_mcsc.study import Study, StudyError

STUDY_FOLDER = "napari-mcsc-study"  # the session's folder, beside the scans


def study_of_scans(scans, folder: str | Path | None = None) -> Study:
    """A study over ``scans`` (a folder, files or patterns), kept in ``folder`` (default: a
    napari-mcsc-study folder beside the first scan); reopened if it exists."""
    scans = [scans] if isinstance(scans, (str, Path)) else list(scans)
    first = Path(scans[0])
    folder = Path(folder) if folder else (first if first.is_dir() else first.parent) / STUDY_FOLDER
    if (folder / "study.json").is_file():
        return Study.open(folder)
    return Study.create(folder, scans)


def study_of_layers(viewer, folder: str | Path) -> Study:
    """A study over the 3D images open in ``viewer``, kept in ``folder``; what is painted in
    an image's Labels layer (see ``_painting_of``) comes along, and the layers leave."""
    from napari.layers import Image, Labels

    from napari_mcsc._qt.layers import input_volumes
    from napari_mcsc._writer import geometry_from_layer_meta

    images = input_volumes(viewer, Image)
    if not images:
        raise StudyError("no 3D image is open: open the study's scans first, or use New study...")
    labels = input_volumes(viewer, Labels)
    scans = [(i.name, i.data, geometry_from_layer_meta(_meta(i), 3)) for i in images]
    study = Study.create_from_arrays(folder, scans)
    for image, name in zip(images, study.names, strict=True):
        painted = _painting_of(image, images, labels)
        if painted is not None:
            study.set_labels(name, painted.data)
            labels.remove(painted)
    for layer in [*images, *input_volumes(viewer, Labels)]:
        if layer in viewer.layers:
            viewer.layers.remove(layer)  # the study shows one scan at a time
    return study


def _painting_of(image, images, labels):
    """The painted Labels layer of ``image``: one of its shape whose name starts with the
    image's, else the only painted one of its shape when no other image shares that shape."""
    fits = [lab for lab in labels if lab.data.shape == image.data.shape and lab.data.any()]
    named = [lab for lab in fits if lab.name.startswith(image.name)]
    if named:
        return named[0]
    alone = sum(other.data.shape == image.data.shape for other in images) == 1
    return fits[0] if fits and alone else None


def _meta(layer) -> dict:
    """What napari hands a writer about ``layer``: its metadata, scale and translate."""
    return {"metadata": layer.metadata, "scale": tuple(layer.scale), "translate": tuple(layer.translate)}
