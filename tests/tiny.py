"""Network and sampling sizes small enough for a few CPU iterations per second.

A plain module rather than a fixture, so that the processes a test spawns can import it too.
"""

TINY_SETTINGS = dict(
    image_size=64,
    unet_channels=(8, 16, 32, 64, 128),
    swin_embed_dim=24,
    swin_heads=(1, 2, 4, 8),
    swin_window=4,
    projection_dim=32,
    block_sizes=(16, 8),
    max_sets=(4, 2),
    max_pixels_per_set=256,
    preview_every_seconds=0.0,
)


def tiny_mcsc_config(**changes):
    """A fast-profile MCSC configuration at ``TINY_SETTINGS`` (batch 4, 2 labelled, 3
    iterations, no warm-up, CPU, the paper's targets on unlabelled slices, which the
    filter tests vary from), with ``changes`` applied: the ``tiny_config`` fixture."""
    from napari_mcsc.training import profile
    from napari_mcsc.training.config import PAPER_TARGETS

    values = dict(
        TINY_SETTINGS,
        batch_size=4,
        labelled_batch_size=2,
        max_seconds=None,
        iterations=3,
        device="cpu",
        supervised_warmup=0.0,
        method="mcsc",
        **PAPER_TARGETS,
    )
    return profile("fast", **{**values, **changes})


def tiny_study_settings(**changes):
    """Study settings whose rounds train the ``TINY_SETTINGS`` networks on the CPU: method
    sup, a 3-iteration first round and 2-iteration rounds, with ``changes`` applied."""
    from napari_mcsc.study.settings import StudySettings

    class TinyStudySettings(StudySettings):
        def train_config(self, *, first, **overrides):
            return super().train_config(first=first, **{**TINY_SETTINGS, "device": "cpu", **overrides})

    values = dict(first_round_iterations=3, round_iterations=2, method="sup")
    return TinyStudySettings(**{**values, **changes})


def drain(generator):
    """Every event a job's generator yields, and its return value."""
    events = []
    try:
        while True:
            events.append(next(generator))
    except StopIteration as done:
        return events, done.value
