"""Pack chosen cases of a split dataset into compressed ``.npz`` files for a GPU machine.

A GPU machine lent for a benchmark has PyTorch but no SimpleITK and takes a small
working tree: this writes each case's image (float32, exact), labels (uint8) and
spacing as ``<out>/<case>.npz`` with the dataset's ``splits.json``/``dataset.json``, read
there by ``benchmarks/gpu_suite.py --packed``. The packed folder is a transient copy for
one run: keep it out of git (``.git/info/exclude``) and delete it afterwards.

    python benchmarks/pack_cases.py --data ../shared/data/acdc --out .device/acdc \
        --split val --tune train:0:140:14 --protocol-train 7 40

``splits.json`` there lists the packed cases only (in the dataset's order), and the
``--tune`` cases as a split of their own, ``tune``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from napari_mcsc.data.decathlon import load_split, read_case
from napari_mcsc.evaluation.protocol import first_patients


def _chosen(data: str, spec: str) -> list[str]:
    """``split`` or a Python slice of it, ``split:start[:stop[:step]]`` -> case names."""
    name, *bounds = spec.split(":")
    cases = load_split(data, name)
    if bounds:
        cases = cases[slice(*(int(b) if b else None for b in bounds))]
    return cases


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--split", action="append", default=[], help="split[:start:stop:step]")
    parser.add_argument("--tune", help="split[:start:stop:step]: cases packed and listed as split 'tune'")
    parser.add_argument(
        "--protocol-train",
        nargs=2,
        type=int,
        metavar=("K", "UNLABELLED"),
        help="the train cases of the first K patients and the next UNLABELLED cases",
    )
    args = parser.parse_args(argv)
    names: list[str] = []
    for spec in args.split:
        names += _chosen(args.data, spec)
    tune = _chosen(args.data, args.tune) if args.tune else []
    names += tune
    if args.protocol_train:
        k, extra = args.protocol_train
        train = load_split(args.data, "train")
        labelled = first_patients(train, k)
        names += labelled + [c for c in train if c not in labelled][:extra]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in dict.fromkeys(names):
        case = read_case(args.data, name)
        np.savez_compressed(
            out / f"{name}.npz",
            image=case.image.astype(np.float32),
            labels=case.labels.astype(np.uint8),
            spacing=np.asarray(case.geometry.spacing),
        )
    packed = set(names)
    splits = json.loads((Path(args.data) / "splits.json").read_text())
    splits = {split: [c for c in cases if c in packed] for split, cases in splits.items()}
    if tune:
        splits["tune"] = tune
    (out / "splits.json").write_text(json.dumps(splits, indent=1))
    if (Path(args.data) / "dataset.json").is_file():
        shutil.copy(Path(args.data) / "dataset.json", out / "dataset.json")
    size = sum(p.stat().st_size for p in out.iterdir()) / 2**20
    print(json.dumps({"cases": len(set(names)), "mib": round(size, 1), "out": str(out)}))


if __name__ == "__main__":
    main()
