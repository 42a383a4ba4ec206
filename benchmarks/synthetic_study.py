"""Write a study of synthetic single-structure scans as a Decathlon folder for ``benchmark study``.

ACDC's scans have about ten slices and three structures; the studies issue 16 is checked
on include one of another shape: left-atrium MRI, one structure over 88 slices of about
140 x 200. This writes such a study from the bending tube of ``data/tube.py`` (one
structure that moves, turns and changes width over the stack, in a cluttered
background): ``--scans`` tubes of ``--shape`` (z y x), one seed each, so that every scan
is a new "patient" of one "protocol". All cases go in the ``val`` split, in seed order::

    python benchmarks/synthetic_study.py --out /tmp/tube_study --scans 8 --shape 88 144 208
    napari-mcsc benchmark study --data /tmp/tube_study --split val --arms sup:on:uncertain \\
        --out tube_study.json

The folder is a transient input (regenerated bit for bit from the same arguments): keep it
out of the repository.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from napari_mcsc.data.tube import LABEL_TUBE, make_tube
from napari_mcsc.io.geometry import Geometry
from napari_mcsc.io.volumes import write_volume


def write_tube_study(out: Path, scans: int, shape: tuple[int, int, int], first_seed: int) -> list[str]:
    """Write ``scans`` tubes (seeds ``first_seed`` on) under ``out``; return the case names."""
    names = []
    for seed in range(first_seed, first_seed + scans):
        tube = make_tube(shape, seed=seed)
        name = f"tube{seed:03d}"
        geometry = Geometry.from_zyx(spacing_zyx=tube.spacing)
        write_volume(out / "imagesTr" / f"{name}.nii.gz", tube.image, geometry)
        write_volume(out / "labelsTr" / f"{name}.nii.gz", tube.labels, geometry)
        names.append(name)
    (out / "splits.json").write_text(json.dumps({"val": names}, indent=1))
    seeds = f"{first_seed}-{first_seed + scans - 1}"
    dataset = {
        "name": f"bending tubes {shape[0]}x{shape[1]}x{shape[2]}, seeds {seeds}",
        "labels": {"0": "background", str(LABEL_TUBE): "tube"},
        "numTraining": scans,
    }
    (out / "dataset.json").write_text(json.dumps(dataset, indent=1))
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write (created)")
    parser.add_argument("--scans", type=int, default=8)
    parser.add_argument("--shape", type=int, nargs=3, default=(88, 144, 208), metavar=("Z", "Y", "X"))
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = write_tube_study(args.out, args.scans, tuple(args.shape), args.first_seed)
    print(f"{len(names)} scans of {tuple(args.shape)} in {args.out}: {', '.join(names)}")


if __name__ == "__main__":
    main()
