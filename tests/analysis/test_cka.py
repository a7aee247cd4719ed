"""CKA: identities, invariances, agreement with a direct HSIC computation, minibatch estimate."""

import numpy as np
import pytest
from scipy.stats import ortho_group

from mocoim_hub.analysis import batched, cka_matrix, linear_cka, minibatch_cka, rbf_cka

rng = np.random.default_rng(0)


def hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA straight from the definition: HSIC of centred Gram matrices, in float64."""
    n = len(x)
    centre = np.eye(n) - np.ones((n, n)) / n
    gram_x, gram_y = centre @ x @ x.T @ centre, centre @ y @ y.T @ centre
    return float((gram_x * gram_y).sum() / np.sqrt((gram_x**2).sum() * (gram_y**2).sum()))


@pytest.mark.parametrize("shape", [(50, 10), (20, 64)], ids=["more-examples", "more-features"])
def test_linear_cka_matches_the_definition(shape):
    x = rng.normal(size=shape)
    y = x @ rng.normal(size=(shape[1], 7)) + 0.5 * rng.normal(size=(shape[0], 7))
    assert linear_cka(x, y) == pytest.approx(hsic_cka(x, y), abs=1e-5)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-5)


def test_invariant_to_orthogonal_transforms_and_isotropic_scaling():
    x = rng.normal(size=(200, 16))
    y = np.tanh(x @ rng.normal(size=(16, 16)))
    rotation = ortho_group.rvs(16, random_state=1)
    base = linear_cka(x, y)
    assert linear_cka(x @ rotation * 7.5, y) == pytest.approx(base, abs=1e-5)
    assert rbf_cka(x @ rotation * 7.5, y) == pytest.approx(
        rbf_cka(x, y), abs=1e-5
    )  # relative bandwidth
    assert rbf_cka(x, x) == pytest.approx(1.0, abs=1e-6)
    assert linear_cka(x, rng.normal(size=(200, 16))) < 0.3


def test_absolute_bandwidth_is_not_scale_invariant():
    x = rng.normal(size=(100, 8))
    assert rbf_cka(x, x * 0.1, sigma=0.8) < 0.5  # shrunk: all within one bandwidth


def test_minibatch_cka_approaches_full_cka():
    x = rng.normal(size=(3000, 32))
    y = x @ rng.normal(size=(32, 32)) + rng.normal(size=(3000, 32)) * 2
    assert minibatch_cka(batched(x, y, batch_size=500)) == pytest.approx(linear_cka(x, y), abs=0.02)


def test_cka_matrix_and_errors():
    features = {"a": rng.normal(size=(30, 4)), "b": rng.normal(size=(30, 6))}
    matrix = cka_matrix(features, features)
    assert matrix.shape == (2, 2) and np.allclose(np.diag(matrix), 1, atol=1e-5)
    assert np.allclose(matrix, matrix.T, atol=1e-6)
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="Unknown CKA kind"):
        cka_matrix(features, features, "cosine")
