"""data/normalise.py: intensity normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcsc.data.normalise import Normalisation, normalise_volume


class TestNormalisation:
    def test_mri_maps_percentiles_to_unit_range(self, rng):
        volume = rng.normal(100, 20, size=(4, 32, 32)).astype(np.float32)
        out = normalise_volume(volume)
        assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0
        assert np.mean(out == 1.0) == pytest.approx(0.005, abs=0.003)

    def test_nan_and_inf_are_ignored_and_zeroed(self, rng):
        volume = rng.uniform(0, 10, size=(3, 8, 8))
        volume[0, 0, 0] = np.nan
        volume[1, 1, 1] = np.inf
        volume[2, 2, 2] = -np.inf
        out = normalise_volume(volume)
        assert np.isfinite(out).all()
        assert out[0, 0, 0] == 0.0 and out[1, 1, 1] == 0.0
        assert out.max() == 1.0

    def test_constant_and_all_nan_volumes_become_zeros(self):
        assert not normalise_volume(np.full((2, 4, 4), 7.0)).any()
        assert not normalise_volume(np.full((2, 4, 4), np.nan)).any()

    def test_ct_window(self):
        volume = np.array([[[-1000.0, -125.0, 75.0, 275.0, 3000.0]]])
        out = normalise_volume(volume, Normalisation(mode="ct", window=(-125, 275)))
        np.testing.assert_allclose(out[0, 0], [0.0, 0.0, 0.5, 1.0, 1.0])

    def test_bad_settings_are_refused(self):
        with pytest.raises(ValueError, match="window"):
            Normalisation(mode="ct")
        with pytest.raises(ValueError, match="mode"):
            Normalisation(mode="pet")

    def test_dict_round_trip(self):
        norm = Normalisation(mode="ct", window=(-100.0, 200.0))
        assert Normalisation.from_dict(norm.to_dict()) == norm
