"""TrainingJob without Qt: the events the widget and the command line follow, warm starts."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcsc.data.normalise import Normalisation
from napari_mcsc.data.phantom import paint_slices
from napari_mcsc.data.slices import AnnotatedVolume
from napari_mcsc.jobs import ImageInput, Status, TrainingJob, TrainingStarted
from napari_mcsc.training import ProgressEvent
from tiny import drain


def _run(job):
    return drain(job.run())


def test_a_job_trains_then_predicts_every_image(tiny_config, phantoms):
    p = phantoms[0]
    job = TrainingJob(
        tiny_config.replace(iterations=2),
        [ImageInput("p0", p.image, paint_slices(p.labels, [2, 5]))],
        [ImageInput("p1", phantoms[1].image)],
    )
    assert job.trainer is None and job.model is None
    events, result = _run(job)
    started = [i for i, e in enumerate(events) if isinstance(e, TrainingStarted)]
    progress = [i for i, e in enumerate(events) if isinstance(e, ProgressEvent)]
    assert len(started) == 1 and started[0] < progress[0] and len(progress) == 2
    assert events[started[0]].num_labelled == 2 and events[started[0]].num_unlabelled > 0
    assert isinstance(events[0], Status) and events[0].text == "preparing slices"
    assert job.trainer is not None and job.model is result.model
    assert result.iterations == 2 and result.outcome.complete and not result.stopped_early
    assert [pred.labels.shape for pred in result.predictions] == [p.image.shape] * 2


def test_warm_start_keeps_the_models_size_network_classes_and_normalisation(tiny_config, trained, phantoms):
    labels = paint_slices(phantoms[0].labels, [2, 5])
    labels[3, :4, :4] = 9  # a class the model does not know yet
    wider = tiny_config.replace(image_size=128, swin_embed_dim=48, iterations=1)
    # lazy volumes and no prediction, as the command line gives them
    job = TrainingJob(
        wider,
        (v for v in [AnnotatedVolume(phantoms[0].image, labels)]),
        init=trained,
        normalisation=Normalisation(mode="ct", window=(0.0, 1.0)),
        predict=False,
    )
    config, data = job.prepare()
    assert config.image_size == trained.image_size == data.image_size
    assert config.network.swin_embed_dim == trained.settings.network.swin_embed_dim
    assert data.mapping.values == (*trained.mapping.values, 9)
    assert data.normalisation == trained.normalisation
    assert data.volumes == []  # no preview: the native volumes are not kept


def test_a_job_stopped_before_it_starts_still_returns_a_model(tiny_config, phantoms):
    p = phantoms[0]
    job = TrainingJob(tiny_config, [ImageInput("p0", p.image, paint_slices(p.labels, [2]))], predict=False)
    job.request_stop()
    _events, result = _run(job)
    assert result.stopped_early and result.iterations == 0 and result.predictions == []
    assert np.isfinite(result.seconds)


def test_a_focus_must_be_one_of_the_painted_images(tiny_config, phantoms):
    p = phantoms[0]
    job = TrainingJob(tiny_config, [ImageInput("p0", p.image, paint_slices(p.labels, [2]))], focus="p9")
    with pytest.raises(ValueError, match="focus 'p9' is not one of the painted images"):
        _run(job)


@pytest.mark.parametrize("consistent", [False, True])
def test_jobs_make_the_masks_3d_consistent_when_asked(
    tiny_config, trained, phantoms, consistent, monkeypatch
):
    """The widget's "3D-consistent mask" reaches the prediction after training and the
    prediction of a loaded model (it once stopped at the jobs' arguments), with the slices
    the user marked reviewed."""
    import napari_mcsc.jobs as jobs

    asked = []
    real = jobs.predict_volume

    def recorded(*args, **kwargs):
        asked.append((kwargs["consistent"], list(kwargs["reviewed"])))
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "predict_volume", recorded)
    p = phantoms[0]
    item = ImageInput("p0", p.image, paint_slices(p.labels, [2, 5]), reviewed=[0])
    events, _ = _run(TrainingJob(tiny_config.replace(iterations=1), [item], consistent=consistent))
    predicted, predictions = drain(jobs.prediction_job(trained, [item], consistent=consistent))
    statuses = [e.text for e in [*events, *predicted] if isinstance(e, Status)]
    assert asked == [(consistent, [0]), (consistent, [0])]
    # the status says why a consistent prediction takes longer: the painted slices are carried
    carrying = [s for s in statuses if s.startswith("predicting p0")]
    assert len(carrying) == 2
    assert all(("carrying its painted slices" in s) == consistent for s in carrying)
    expected = real(
        trained, p.image, uncertainty=True, painted=item.labels, consistent=consistent, reviewed=[0]
    )
    assert np.array_equal(predictions[0].labels, expected.labels)
