"""Writes model_0.1.0.pt and model_0.1.0_prediction.npy: a tiny MCSC model saved by
napari-mcsc 0.1.0 (before the run specification), and its prediction of a fixed volume.

Kept so that every later version proves it still loads and predicts with files written
before the model stopped holding the whole training configuration. Run once, from the
repository root, with the version that should write them: python tests/data/make_model_0_1_0.py
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def fixed_volume() -> np.ndarray:
    """The volume whose prediction is stored: 3 slices of 40 x 40, a bright disc."""
    yy, xx = np.mgrid[:40, :40]
    disc = ((yy - 20) ** 2 + (xx - 18) ** 2 < 100).astype(np.float32)
    noise = np.random.default_rng(0).normal(0, 0.1, (3, 40, 40)).astype(np.float32)
    return disc[None] * 200 + noise * 20 + 50


def main() -> None:
    from napari_mcsc.checkpoint import save_model
    from napari_mcsc.data.slices import AnnotatedVolume
    from napari_mcsc.inference import predict_volume
    from napari_mcsc.jobs import TrainingJob, run_to_end
    from napari_mcsc.training import profile

    image = fixed_volume()
    labels = np.zeros(image.shape, np.uint8)
    labels[1] = (image[1] > 150).astype(np.uint8) * 2
    config = profile(
        "fast",
        method="mcsc",
        image_size=32,
        unet_channels=(4, 8, 16, 32, 64),
        swin_embed_dim=8,
        swin_depths=(1, 1, 1, 1),
        swin_heads=(1, 1, 2, 2),
        swin_window=4,
        projection_dim=8,
        block_sizes=(8, 4),
        max_sets=(2, 2),
        batch_size=2,
        labelled_batch_size=1,
        iterations=40,
        supervised_warmup=0.0,
        device="cpu",
    )
    job = TrainingJob(config, [AnnotatedVolume(image, labels, name="disc")], [], predict=False)
    result = run_to_end(job.run())
    save_model(result.model, HERE / "model_0.1.0.pt")
    labels = predict_volume(result.model, image).labels
    np.save(HERE / "model_0.1.0_prediction.npy", labels.astype(np.uint8))


if __name__ == "__main__":
    main()
