"""commands/demo.py: when the demo's run counts as falling short."""

from __future__ import annotations

from napari_mcsc.training.outcome import RunOutcome


def test_demo_shortfall_rules():
    from napari_mcsc.commands.demo import EXPECTED_DICE, _shortfall

    done = RunOutcome(planned=5, done=5, ended_by="iterations", seconds=1.0)
    assert _shortfall(done, EXPECTED_DICE + 0.01) is None
    assert "below" in _shortfall(done, EXPECTED_DICE - 0.2)
    assert "below" in _shortfall(done, float("nan"))
