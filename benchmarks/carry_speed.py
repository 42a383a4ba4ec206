"""What carrying the painted slices costs a long scan, the first time and on later rounds.

The 3D-consistent mask registers each slice to its neighbour to carry the painted labels
(``propagation``). A scan is predicted again after every round of training, with only its
painted slices changed, and the deformations are kept between predictions
(``propagation.REGISTRATIONS``). This times, on a synthetic tube of many slices (an
untrained fast-profile model: its masks do not matter here, its cost does): the
prediction without carrying; the first prediction with it; the same again (the next
round); and with one more slice painted.

    python benchmarks/carry_speed.py --shape 88 144 208 --painted 5 --threads 2 \\
        --out benchmarks/results/speed/carry_cache.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import torch

from napari_mcsc import propagation
from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.data.normalise import Normalisation
from napari_mcsc.data.phantom import paint_slices
from napari_mcsc.data.tube import make_tube, structure_slices
from napari_mcsc.inference import predict_volume
from napari_mcsc.model import SegmentationModel
from napari_mcsc.training.config import profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[88, 144, 208], metavar=("Z", "Y", "X"))
    parser.add_argument("--painted", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tube = make_tube(tuple(args.shape))
    mapping = LabelMapping.from_label_volumes([tube.labels])
    model = SegmentationModel.create(profile("fast").model_settings(), mapping, Normalisation())
    chosen = structure_slices(tube.labels, args.painted)
    low, high = max(itertools.pairwise(chosen), key=lambda pair: pair[1] - pair[0])
    extra = [(low + high) // 2]  # the middle of the largest gap, as a user paints next

    def timed(name: str, painted_slices: list[int], carry: float = propagation.WEIGHT) -> dict:
        before = propagation.REGISTRATIONS.registered
        start = time.perf_counter()
        sparse = paint_slices(tube.labels, painted_slices)
        predict_volume(model, tube.image, uncertainty=True, painted=sparse, consistent=True, carry=carry)
        row = {
            "prediction": name,
            "seconds": round(time.perf_counter() - start, 2),
            "slice_pairs_registered": propagation.REGISTRATIONS.registered - before,
        }
        print(json.dumps(row), flush=True)
        return row

    propagation.REGISTRATIONS.clear()
    rows = [
        timed("not carried", chosen, carry=0.0),
        timed("carried, first", chosen),
        timed("carried, next round (the same painted slices)", chosen),
        timed(f"carried, one more slice painted ({extra})", sorted(chosen + extra)),
    ]
    if args.out:
        result = {"shape": args.shape, "painted": chosen, "threads": args.threads, "rows": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
