"""training/batches.py: which painted and unlabelled slices each batch draws, with a focus."""

from __future__ import annotations

import pytest
import torch

from napari_mcsc.training.batches import TwoStreamBatches


def _batches(**focus) -> TwoStreamBatches:
    """10 painted slices, no unlabelled ones (supervised): 6 painted slices a batch."""
    return TwoStreamBatches(10, 0, 6, 4, torch.Generator().manual_seed(0), **focus)


def _drawn(batches, n=20) -> list[list[int]]:
    return [batches.next()[0] for _ in range(n)]


def test_without_a_focus_every_painted_slice_is_drawn_alike():
    draws = _drawn(_batches())
    assert _drawn(_batches(focus=[7, 8], focus_share=0.0)) == draws  # share 0: the plain stream
    every = [i for batch in draws for i in batch]  # 120 draws: 12 passes over the 10 slices
    assert all(every.count(i) == 12 for i in range(10))


def test_a_focus_takes_its_share_of_every_batch_and_the_rest_stays_open():
    draws = _drawn(_batches(focus=[7, 8], focus_share=0.5))
    assert all(len(batch) == 6 and set(batch[:3]) <= {7, 8} for batch in draws)
    rest = [i for batch in draws for i in batch[3:]]
    assert sorted(set(rest)) == list(range(10))  # the other half: every painted slice, the focus too


@pytest.mark.parametrize("focus", [[], list(range(10))], ids=["no focus", "everything in focus"])
def test_a_focus_on_no_slice_or_on_every_slice_changes_nothing(focus):
    assert _drawn(_batches(focus=focus, focus_share=0.5)) == _drawn(_batches())


def test_the_focus_stream_resumes_and_states_from_before_the_focus_still_load():
    batches = _batches(focus=[7, 8], focus_share=0.2)
    assert batches.n_focus == 1  # at least one slice a batch, never all of them
    batches.next()
    state = batches.state_dict()
    resumed = _batches(focus=[7, 8], focus_share=0.2)
    resumed.load_state_dict(state)
    assert resumed.focus_stream.state_dict() == batches.focus_stream.state_dict()
    _batches().load_state_dict({k: v for k, v in state.items() if k != "focus"})
