import math

import numpy as np
import pytest
import torch

from rosetta_cl import VAE, ModelConfig, load_model, negative_elbo, rosetta_term, save_model
from rosetta_cl.models.vae import VAEOutput, kl_to_standard_normal


def test_kl_standard_normal_posterior_is_zero():
    mu = torch.zeros(3, 4)
    L = torch.eye(4).expand(3, 4, 4)
    assert torch.allclose(kl_to_standard_normal(mu, L), torch.zeros(3))


def test_kl_matches_hand_computed_full_covariance():
    # Sigma = L L^T with L = [[2, 0], [1, 0.5]]: tr = 4 + 1 + 0.25, log det = 2 log(2 * 0.5) = 0
    mu = torch.tensor([[1.0, -2.0]])
    L = torch.tensor([[[2.0, 0.0], [1.0, 0.5]]])
    expected = 0.5 * (5.25 + 5.0 - 2 - 0.0)
    assert kl_to_standard_normal(mu, L).item() == pytest.approx(expected)
    ref = torch.distributions.kl_divergence(
        torch.distributions.MultivariateNormal(mu, scale_tril=L),
        torch.distributions.MultivariateNormal(torch.zeros(2), torch.eye(2)))
    assert kl_to_standard_normal(mu, L).item() == pytest.approx(ref.item(), rel=1e-6)


def test_negative_elbo_weights_kl_by_beta():
    out = VAEOutput(None, None, None, None, torch.tensor([1.0, 3.0]), torch.tensor([0.5, 1.5]))
    assert negative_elbo(out, 1.0).loss.item() == pytest.approx(2.0 + 1.0)
    parts = negative_elbo(out, 4.0)
    assert parts.loss.item() == pytest.approx(2.0 + 4.0)
    assert parts.recon.item() == 2.0 and parts.kl.item() == 1.0


def test_rosetta_term_hand_value():
    z = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    mu = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    # rho * (R / B) * sum ||z - mu||^2 = 3 * (2 / 8) * (1 + 4)
    assert rosetta_term(mu, z, rho=3.0, batch_size=8).item() == pytest.approx(3.75)


def test_decoder_term_hand_value():
    """Eq. 1's second term: ||x_r - m(z_r)||^2 joins the sum, under the same rho R / B weight."""
    mu, z = torch.zeros(2, 2), torch.ones(2, 2)  # sum ||z - mu||^2 = 4
    value = rosetta_term(mu, z, rho=3.0, batch_size=8, decoder_term=torch.tensor(6.0))
    assert value.item() == pytest.approx(3.0 * 2 / 8 * 10)
    from rosetta_cl.models.losses import anchor_loss, decoder_term

    model = VAE(ModelConfig(3, 2, (8,), obs_scale=0.5))
    x = torch.rand(2, 3)
    with torch.no_grad():
        m = model.decode(z)
        squared = (x - m).pow(2).sum()
        assert decoder_term(model, x, z, "squared") == pytest.approx(squared.item())
        # Gaussian with std 0.5: -log p = sum (x - m)^2 / (2 * 0.25) + 3 * 2 * log(0.5 sqrt(2 pi))
        nll = squared / 0.5 + 6 * math.log(0.5 * math.sqrt(2 * math.pi))
        assert decoder_term(model, x, z, "nll") == pytest.approx(nll.item(), rel=1e-5)
        encoder = (z - model.encode(x)).pow(2).sum()
        assert anchor_loss(model, x, z, 3.0, 8, decoder="none") == pytest.approx(
            0.75 * encoder.item(), rel=1e-5)
        assert anchor_loss(model, x, z, 3.0, 8) == pytest.approx(
            0.75 * (encoder + squared).item(), rel=1e-5)
    with pytest.raises(ValueError, match="allowed squared, nll, none"):
        decoder_term(model, x, z, "l1")


def test_affine_fit_ignores_affine_maps_and_sees_the_rest():
    from rosetta_cl.models.losses import anchor_residual

    g = torch.Generator().manual_seed(0)
    z = torch.randn(12, 3, generator=g, dtype=torch.float64)
    A = torch.randn(3, 3, generator=g, dtype=torch.float64)
    mu = (z - 0.5) @ A  # an affine image of the targets: no residual
    assert anchor_residual(mu, z, "affine").abs().max() < 1e-5
    assert anchor_residual(mu, z, "exact").abs().max() > 0.1
    # a non-affine distortion is left over; the exact residual is an upper bound
    bent = mu + 0.3 * torch.sin(3 * mu)
    affine = anchor_residual(bent, z, "affine").pow(2).sum()
    assert 1e-3 < affine < anchor_residual(bent, z, "exact").pow(2).sum()
    with pytest.raises(ValueError, match="allowed exact, affine"):
        anchor_residual(mu, z, "rotation")


def test_decoder_mean_is_the_likelihoods_mean():
    z = torch.randn(4, 2)
    bern = VAE(ModelConfig(6, 2, (8,), likelihood="bernoulli"))
    assert torch.allclose(bern.decode_mean(z), torch.sigmoid(bern.decode(z)))
    gauss = VAE(ModelConfig(6, 2, (8,)))
    assert torch.equal(gauss.decode_mean(z), gauss.decode(z))


def test_gaussian_reconstruction_nll_hand_value():
    model = VAE(ModelConfig(input_dim=2, latent_dim=1, hidden=(4,)))
    x = torch.tensor([[1.0, 2.0]])
    decoded = torch.tensor([[0.0, 2.0]])
    # log_scale = 0 -> unit variance: 0.5 * 1 + 2 * 0.5 log(2 pi)
    assert model.reconstruction_nll(x, decoded).item() == pytest.approx(0.5 + math.log(2 * math.pi))


def test_bernoulli_reconstruction_nll_hand_value():
    model = VAE(ModelConfig(input_dim=1, latent_dim=1, hidden=(4,), likelihood="bernoulli"))
    nll = model.reconstruction_nll(torch.tensor([[1.0]]), torch.tensor([[0.0]]))
    assert nll.item() == pytest.approx(math.log(2.0))


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_posterior_shapes_and_cholesky(covariance):
    model = VAE(ModelConfig(input_dim=5, latent_dim=3, covariance=covariance))
    mu, L = model.posterior(torch.randn(7, 5))
    assert mu.shape == (7, 3) and L.shape == (7, 3, 3)
    assert torch.all(torch.triu(L, 1) == 0)
    assert torch.all(torch.diagonal(L, dim1=-2, dim2=-1) > 0)
    off = torch.tril(L, -1)
    assert (off.abs().sum() > 0) == (covariance == "full")
    assert torch.equal(model.encode(torch.ones(2, 5)), model.posterior(torch.ones(2, 5))[0])


def test_save_load_roundtrip_without_pickle(tmp_path):
    model = VAE(ModelConfig(input_dim=5, latent_dim=2))
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    x = torch.randn(4, 5)
    assert torch.equal(model.encode(x), loaded.encode(x))


def test_reset_parameters_gives_fresh_weights():
    model = VAE(ModelConfig(input_dim=5, latent_dim=2))
    before = [p.detach().clone() for p in model.parameters()]
    model.reset_parameters()
    changed = [not torch.equal(a, b)
               for a, b in zip(before, model.parameters(), strict=True) if a.ndim == 2]
    assert all(changed)
    assert np.isfinite(model(torch.randn(3, 5)).kl.detach().numpy()).all()
