"""Conv and residual encoders/decoders (appendix C) and their variants (appendix F)."""

import pytest
import torch

from rosetta_cl.cli import main
from rosetta_cl.models.architectures import stage_plan
from rosetta_cl.models.vae import VAE, ModelConfig, load_model, save_model


def image_model(side, arch="resnet", variant="same", latent=4, hidden=(64, 32)):
    return VAE(ModelConfig(side * side, latent, hidden, likelihood="bernoulli", arch=arch,
                           arch_variant=variant, image_shape=(1, side, side)))


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("side", "stages"), [(8, 1), (28, 2), (64, 4), (128, 5)])
def test_stages_follow_the_input_size(side, stages):
    assert len(stage_plan((1, side, side))) == stages


@pytest.mark.parametrize("side", [8, 28, 64, 128])
@pytest.mark.parametrize("arch", ["conv", "resnet"])
def test_image_models_map_flat_images_to_flat_outputs(side, arch):
    model = image_model(side, arch)
    x = torch.rand(2, side * side)
    out = model(x)
    assert out.decoded.shape == (2, side * side)
    assert out.mu.shape == (2, 4) and out.scale_tril.shape == (2, 4, 4)
    assert torch.isfinite(out.recon_nll).all() and (out.kl >= 0).all()
    assert torch.equal(model.encode(x), out.mu)


@pytest.mark.parametrize(("arch", "side"), [("resnet", 28), ("mlp", 8)])
def test_variants_are_ordered_by_size(arch, side):
    sizes = [n_params(image_model(side, arch, v)) for v in ("simple", "same", "complex")]
    assert sizes[0] < sizes[1] < sizes[2]


def test_bad_architecture_combinations():
    with pytest.raises(ValueError, match="conv has only 'same'"):
        image_model(8, "conv", "complex")
    with pytest.raises(ValueError, match="needs image data"):
        ModelConfig(5, 2, arch="conv")
    with pytest.raises(ValueError, match="arch 'vit'"):
        ModelConfig(64, 2, arch="vit", image_shape=(1, 8, 8))


@pytest.mark.parametrize(("args", "message"), [
    (["--arch", "conv"], "arch 'conv': gaussians8 is vector data; allowed: mlp"),
    (["--arch", "vit"], "arch 'vit': allowed mlp, conv, resnet"),
    (["--arch-variant", "huge"], "arch variant 'huge': allowed simple, same, complex"),
    (["--template-arch", "resnet"], "template arch 'resnet': gaussians8 is vector data"),
    (["--selection", "dbscan"], "selection 'dbscan': allowed kmeans, agglomerative, gmm, random"),
])
def test_cli_rejects_bad_architecture(args, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "gaussians8", *args, "--tracking-uri", f"sqlite:///{tmp_path}/x.db"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_resnet_saves_and_loads_without_pickle(tmp_path):
    model = image_model(28, "resnet", "complex")
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.config == model.config and loaded.config.image_shape == (1, 28, 28)
    x = torch.rand(3, 784)
    assert torch.equal(loaded.encode(x), model.encode(x))


def test_reset_parameters_redraws_conv_weights():
    model = image_model(8, "resnet")
    conv = model.encoder[0][1]
    before = conv.weight.detach().clone()
    model.reset_parameters()
    assert not torch.equal(before, conv.weight)


def test_conv_vae_learns_digits():
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().data[:256] / 16.0, dtype=torch.float32)
    model = image_model(8, "conv", latent=4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(60):
        out = model(x)
        loss = (out.recon_nll + out.kl).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_template_and_methods_can_differ(store):
    from mlflow.tracking import MlflowClient

    from rosetta_cl import RunConfig, run_benchmark

    result = run_benchmark(RunConfig(
        benchmark="digits", quick=True, seeds=1, epochs=1, methods=("vae", "rvae"),
        arch="resnet", arch_variant="simple", template_arch="resnet", subsample=200),
        tracking_uri=store)
    assert result.config.template_arch_variant == "same"
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("digits").experiment_id])
    variant = {r.info.run_name: r.data.params.get("model.arch_variant") for r in runs}
    assert variant["template"] == variant["target"] == "same"
    assert variant["vae/seed1"] == variant["rvae/seed1"] == "simple"
    archs = {r.data.params.get("model.arch") for r in runs
             if r.info.run_name != "sequential-digits"}
    assert archs == {"resnet"}
