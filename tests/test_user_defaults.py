"""The rule that derives a user file's defaults (rosetta_cl.data.user_defaults)."""

import numpy as np

from rosetta_cl.data.user_defaults import derive_defaults


def test_values_in_the_unit_interval_get_a_bernoulli_likelihood():
    x = np.random.default_rng(0).random((100, 5)).astype(np.float32)
    derived = derive_defaults(x, np.repeat([0, 1], 50))
    assert derived.defaults.likelihood == "bernoulli" and derived.defaults.image_shape is None
    assert derived.defaults.latent_dim == 2 and derived.defaults.rosetta_points == 16
    assert derived.describe().startswith("values in [")
    assert "]: Bernoulli likelihood" in derived.describe()


def test_other_values_get_a_gaussian_likelihood_in_their_own_units():
    x = np.random.default_rng(0).normal(size=(100, 7)).astype(np.float32) * 40
    derived = derive_defaults(x, np.repeat([0, 1], 50))
    assert derived.defaults.likelihood == "gaussian" and derived.defaults.obs_scale is None
    assert "Gaussian likelihood with learned noise" in derived.describe()
    assert "vectors of 7 features, latent dim 2" in derived.describe()


def test_k_never_exceeds_the_training_points_of_d1():
    x = np.random.default_rng(0).random((60, 3, 4, 4)).astype(np.float32)
    part = np.array([0] * 15 + [1] * 45)  # D1: 15 rows -> 9 training points
    derived = derive_defaults(x, part)
    assert derived.defaults.rosetta_points == 9 and derived.defaults.image_shape == (3, 4, 4)
    assert "k 9 (all 9 training points of D1)" in derived.describe()
    assert "images 3x4x4 of 48 features" in derived.describe()
