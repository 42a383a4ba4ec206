"""Running a job's generator in a napari worker thread, with every error reported."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator


class WorkerError(Exception):
    """An error raised in the worker thread, re-raised under a type that is reported.

    superqt's workers treat a ``RuntimeError`` as "the worker was deleted" and swallow it
    without emitting ``errored`` or ``finished``; torch's errors (out of memory among
    them) are ``RuntimeError``s, and the widget would wait forever.
    """


OUT_OF_MEMORY_ADVICE = (
    "the device ran out of memory. Lower 'Batch size', 'Max sets per scale' or 'Max pixels per "
    "set' in Advanced, use the Fast profile (smaller images), or train on another Device "
    "(the CPU uses main memory). The model trained so far is kept."
)


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def error_message(exc: BaseException) -> str:
    """What to tell the user about an error of the worker."""
    if getattr(exc, "out_of_memory", False) or is_out_of_memory(exc):
        return OUT_OF_MEMORY_ADVICE
    return str(exc) or exc.__class__.__name__


def reported(run: Callable[[], Generator]) -> Callable[[], Generator]:
    """A generator function running ``run()`` whose errors always get reported."""

    def reported_run():
        try:
            return (yield from run())
        except RuntimeError as exc:
            error = WorkerError(str(exc) or exc.__class__.__name__)
            error.out_of_memory = is_out_of_memory(exc)
            raise error from exc

    return reported_run


def make_worker(owner, run: Callable[[], Generator], *, on_yielded, on_done, on_error, on_finished, job=None):
    """A worker (not started) running ``run()``; stopped (``job`` too) when ``owner`` goes away."""
    from napari.qt.threading import create_worker

    worker = create_worker(reported(run), _start_thread=False, _connect={"errored": on_error})
    worker.yielded.connect(on_yielded)
    worker.returned.connect(on_done)
    worker.finished.connect(on_finished)

    def stop_on_destroy(*_args, job=job, worker=worker):
        if job is not None:
            job.request_stop()
        with contextlib.suppress(RuntimeError):
            worker.quit()

    owner.destroyed.connect(stop_on_destroy)
    return worker
