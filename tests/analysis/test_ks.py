import numpy as np
import pytest
from scipy.stats import ks_2samp

from mocoim_hub.analysis import ks_distance


def test_ks_matches_scipy_per_class_and_averages():
    rng = np.random.default_rng(0)
    a, b = rng.dirichlet(np.ones(3), 300), rng.dirichlet(np.ones(3) * 3, 250)
    distance = ks_distance(a, b, ["x", "y", "z"])
    for j, name in enumerate("xyz"):
        assert distance.per_class[name] == pytest.approx(ks_2samp(a[:, j], b[:, j]).statistic)
    assert distance.mean == pytest.approx(np.mean(list(distance.per_class.values())))
    assert ks_distance(a, a).mean == 0.0


def test_ks_errors():
    with pytest.raises(ValueError, match="same classes"):
        ks_distance(np.ones((4, 2)), np.ones((4, 3)))
