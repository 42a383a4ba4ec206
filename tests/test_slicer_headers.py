"""A prediction saved as .nrrd or .nii.gz opens in 3D Slicer in the right place.

Slicer places a volume by a few header fields only, so these are parsed here by hand (no
ITK on the reading side) and compared with the geometry the volume was written with:
NRRD's ``space``, ``space directions`` and ``space origin`` (ITK works in LPS, and so does
the header), NIfTI's qform and sform (codes non-zero, so Slicer does not fall back to a
bare voxel grid, and the affine in RAS: LPS with x and y negated).
"""

from __future__ import annotations

import gzip
import re
import struct

import numpy as np
import pytest

from napari_mcsc.io import Geometry, write_volume

_C, _S = np.cos(0.3), np.sin(0.3)
_ROTATION = np.array([[_C, -_S, 0], [_S, _C, 0], [0, 0, 1]]) @ np.array(
    [[_C, 0, _S], [0, 1, 0], [-_S, 0, _C]]
)
GEOMETRIES = {
    "axis-aligned": Geometry((0.9, 0.9, 3.0), (-120.5, 80.25, 33.0), tuple(np.eye(3).ravel())),
    "oblique": Geometry((0.7, 0.8, 2.5), (-10.0, 20.0, -30.0), tuple(_ROTATION.ravel())),
    # A reflection (determinant -1), as series stored with slices running towards the feet give.
    "oblique-flipped": Geometry(
        (1.1, 0.6, 4.0), (5.0, -7.0, 60.0), tuple((_ROTATION @ np.diag([1.0, 1.0, -1.0])).ravel())
    ),
}
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@pytest.fixture()
def labels():
    array = np.zeros((5, 7, 9), np.uint8)
    array[1:4, 2:5, 3:8] = 2
    array[2, 3, 4] = 1
    return array


def _expected_lps(geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """The columns ``direction * spacing`` (one per index axis x, y, z) and the origin, in LPS."""
    return geometry.direction_matrix * np.asarray(geometry.spacing), np.asarray(geometry.origin)


# --------------------------------------------------------------------------- NRRD


def _nrrd_header(path) -> dict[str, str]:
    """The ``field: value`` lines of a NRRD header (up to the blank line before the data)."""
    fields = {}
    with open(path, "rb") as fh:
        magic = fh.readline().decode("ascii").strip()
        assert magic.startswith("NRRD000"), magic
        for raw in fh:
            line = raw.decode("ascii").rstrip("\n")
            if not line:
                break
            if line.startswith("#") or ":=" in line:
                continue
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
    return fields


def _nrrd_vectors(text: str) -> np.ndarray:
    return np.array([[float(v) for v in group.split(",")] for group in re.findall(r"\(([^)]*)\)", text)])


@pytest.mark.parametrize("name", GEOMETRIES)
def test_nrrd_has_the_space_fields_slicer_reads(tmp_path, labels, name):
    geometry = GEOMETRIES[name]
    path = write_volume(tmp_path / "prediction.nrrd", labels, geometry)
    header = _nrrd_header(path)
    assert header["space"] == "left-posterior-superior"
    assert header["dimension"] == "3" and header["sizes"].split() == ["9", "7", "5"]  # x, y, z
    assert header["kinds"].split() == ["domain"] * 3
    columns, origin = _expected_lps(geometry)
    directions = _nrrd_vectors(header["space directions"])  # one vector per index axis
    np.testing.assert_allclose(directions, columns.T, atol=1e-6)
    np.testing.assert_allclose(_nrrd_vectors(header["space origin"])[0], origin, atol=1e-6)


# -------------------------------------------------------------------------- NIfTI


def _nifti_header(path) -> dict[str, object]:
    """The NIfTI-1 fields that place the volume, from the 348-byte header."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read(348)
    order = "<" if struct.unpack("<i", raw[:4])[0] == 348 else ">"
    assert struct.unpack(order + "i", raw[:4])[0] == 348 and raw[344:348] == b"n+1\x00"

    def floats(offset: int, count: int) -> np.ndarray:
        return np.array(struct.unpack_from(f"{order}{count}f", raw, offset), dtype=float)

    qform_code, sform_code = struct.unpack_from(order + "2h", raw, 252)
    return {
        "dim": struct.unpack_from(order + "8h", raw, 40),
        "pixdim": floats(76, 8),
        "qform_code": qform_code,
        "sform_code": sform_code,
        "quatern": floats(256, 3),
        "qoffset": floats(268, 3),
        "srow": np.stack([floats(280, 4), floats(296, 4), floats(312, 4)]),
    }


def _qform_affine(header: dict) -> np.ndarray:
    """The qform affine as the NIfTI-1 standard defines it (method 2)."""
    b, c, d = header["quatern"]
    a = np.sqrt(max(0.0, 1.0 - (b * b + c * c + d * d)))
    rotation = np.array(
        [
            [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
            [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
            [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
        ]
    )
    qfac = -1.0 if header["pixdim"][0] < 0 else 1.0
    scale = np.diag([header["pixdim"][1], header["pixdim"][2], qfac * header["pixdim"][3]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ scale
    affine[:3, 3] = header["qoffset"]
    return affine


@pytest.mark.parametrize("name", GEOMETRIES)
def test_nifti_has_the_qform_and_sform_slicer_reads(tmp_path, labels, name):
    geometry = GEOMETRIES[name]
    path = write_volume(tmp_path / "prediction.nii.gz", labels, geometry)
    header = _nifti_header(path)
    assert header["dim"][:4] == (3, 9, 7, 5)
    assert header["qform_code"] > 0 and header["sform_code"] > 0
    columns, origin = _expected_lps(geometry)
    expected = np.eye(4)
    expected[:3, :3] = LPS_TO_RAS @ columns
    expected[:3, 3] = LPS_TO_RAS @ origin
    # float32 in the header: compare to a few millionths of a millimetre per unit
    np.testing.assert_allclose(header["srow"], expected[:3], atol=1e-4)
    np.testing.assert_allclose(_qform_affine(header), expected, atol=1e-4)
    np.testing.assert_allclose(header["pixdim"][1:4], geometry.spacing, rtol=1e-6)
