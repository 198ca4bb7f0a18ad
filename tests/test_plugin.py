"""RosettaPlugin inside real Avalanche strategies on a tiny two-experience stream."""

import numpy as np
import pytest
import torch
from avalanche.core import SupervisedPlugin
from avalanche.training import Naive
from avalanche.training.plugins import EvaluationPlugin

from rosetta_cl import VAE, ModelConfig, RosettaPlugin, RosettaVAEStrategy, encode_means
from rosetta_cl.anchors.points import Anchors
from rosetta_cl.data.streams import BenchmarkDefaults, gaussians8_data, make_benchmark


@pytest.fixture(scope="module")
def tiny():
    x, y, part = gaussians8_data(n_per_gaussian=40, seed=0)
    defaults = BenchmarkDefaults(2, 4, 5, (16, 16), "gaussian")
    return make_benchmark("tiny", x, y, part, 0, ("D1", "D2"), defaults)


class LossSpy(SupervisedPlugin):
    """Records strategy.loss at before_backward (placed before / after the RosettaPlugin)."""

    def __init__(self):
        super().__init__()
        self.values, self.exp = [], None

    def before_training_exp(self, strategy, **kwargs):
        self.exp = strategy.experience.current_experience

    def before_backward(self, strategy, **kwargs):
        self.values.append((self.exp, float(strategy.loss.detach())))


def stock_naive(model, plugins, epochs=3):
    """avalanche's own Naive strategy with a VAE criterion: no rosetta-cl strategy code."""
    return Naive(model=model, optimizer=torch.optim.Adam(model.parameters(), 1e-3),
                 criterion=lambda out, y: out.recon_nll.mean() + out.kl.mean(),
                 train_mb_size=32, train_epochs=epochs, plugins=plugins,
                 evaluator=EvaluationPlugin())


def test_anchor_term_added_on_every_minibatch_of_second_experience(tiny):
    before, after = LossSpy(), LossSpy()
    plugin = RosettaPlugin(k=4, rho=5.0, reinit=True, accumulate="all")  # fresh model: term > 0
    model = VAE(ModelConfig(5, 2, (16, 16)))
    strategy = stock_naive(model, [before, plugin, after], epochs=2)
    strategy.train(tiny.train_stream[0])
    assert plugin.anchors is not None and len(plugin.anchors) == 4
    strategy.train(tiny.train_stream[1])
    n_batches = 2 * int(np.ceil(len(tiny.train_stream[1].dataset) / 32))
    pairs = list(zip(before.values, after.values, strict=True))
    first = [(b, a) for (e, b), (_, a) in pairs if e == 0]
    second = [(b, a) for (e, b), (_, a) in pairs if e == 1]
    assert all(a == b for b, a in first)  # no anchors yet during experience 0
    assert len(second) == n_batches
    assert all(a > b for b, a in second)  # the term was added on every minibatch
    # accumulate "all": k more after the second experience
    assert len(plugin.anchors) == 8


def test_default_accumulate_keeps_the_latest_k(tiny):
    """The default is the mode our continual measurements support (README: latest)."""
    plugin = RosettaPlugin(k=4, rho=1.0, reinit=True)
    strategy = stock_naive(VAE(ModelConfig(5, 2, (16, 16))), [plugin], epochs=1)
    strategy.train(tiny.train_stream[0])
    first = plugin.anchors.x.clone()
    strategy.train(tiny.train_stream[1])
    assert plugin.accumulate == "latest" and len(plugin.anchors) == 4
    assert not torch.equal(plugin.anchors.x, first)


def anchor_distance(tiny, rho, epochs=15):
    torch.manual_seed(0)
    model = VAE(ModelConfig(5, 2, (16, 16)))
    plugin = RosettaPlugin(k=4, rho=rho, reinit=True, select=True)
    strategy = stock_naive(model, [plugin], epochs=epochs)
    strategy.train(tiny.train_stream[0])
    anchors = plugin.anchors
    strategy.train(tiny.train_stream[1])
    return float(((encode_means(model, anchors.x) - anchors.z) ** 2).sum())


def decoded_distance(tiny, decoder, epochs=15):
    torch.manual_seed(0)
    model = VAE(ModelConfig(5, 2, (16, 16)))
    plugin = RosettaPlugin(k=4, rho=10.0, reinit=True, decoder=decoder)
    strategy = stock_naive(model, [plugin], epochs=epochs)
    strategy.train(tiny.train_stream[0])
    anchors = plugin.anchors
    strategy.train(tiny.train_stream[1])
    with torch.no_grad():
        return float(((model.decode_mean(anchors.z) - anchors.x) ** 2).sum())


def test_decoder_term_pulls_decoded_anchors_towards_their_inputs(tiny):
    """Eq. 1's decoder term: the new decoder maps each z_r back near its x_r (from D1, which
    the second experience's model never sees otherwise, but for the x_r)."""
    without, with_term = decoded_distance(tiny, "none"), decoded_distance(tiny, "squared")
    assert with_term < 0.85 * without, (with_term, without)


def test_decoder_term_needs_a_decoder(tiny):
    class EncoderOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(5, 2)

        def encode(self, x):
            return self.net(x)

    plugin = RosettaPlugin(k=2, rho=1.0, anchors=Anchors(torch.zeros(2, 5), torch.zeros(2, 2)))
    strategy = type("S", (), {"model": EncoderOnly(), "device": "cpu"})()
    with pytest.raises(ValueError, match="needs a model with decode_mean"):
        plugin.before_training_exp(strategy)
    RosettaPlugin(k=2, rho=1.0, decoder="none").before_training_exp(strategy)  # fine without
    with pytest.raises(ValueError, match="allowed squared, nll, none"):
        RosettaPlugin(decoder="yes")


def test_anchor_term_pulls_mu_of_anchors_towards_targets(tiny):
    free, anchored = anchor_distance(tiny, rho=0.0), anchor_distance(tiny, rho=10.0)
    assert anchored < 0.2 * free, (anchored, free)


def test_reinit_gives_fresh_weights_and_clears_optimizer(tiny):
    model = VAE(ModelConfig(5, 2, (16, 16)))
    plugin = RosettaPlugin(k=4, rho=1.0, reinit=True)
    strategy = stock_naive(model, [plugin], epochs=1)
    strategy.train(tiny.train_stream[0])
    trained = [p.detach().clone() for p in model.parameters()]
    plugin.before_training_exp(strategy)
    assert all(not torch.equal(a, b)
               for a, b in zip(trained, model.parameters(), strict=True) if a.ndim == 2)
    assert len(strategy.optimizer.state) == 0


def test_rosetta_strategy_logs_rosetta_term_per_epoch(tiny):
    model = VAE(ModelConfig(5, 2, (16, 16)))
    strategy = RosettaVAEStrategy(model=model, k=4, rho=2.0, train_epochs=2, train_mb_size=32)
    strategy.train(tiny.train_stream[0])
    assert "train/rosetta" not in strategy.evaluator.get_last_metrics()
    strategy.train(tiny.train_stream[1])
    metrics = strategy.evaluator.get_last_metrics()
    assert metrics["train/rosetta"] > 0
    assert metrics["train/loss"] == pytest.approx(
        metrics["train/recon"] + metrics["train/kl"] + metrics["train/rosetta"], rel=1e-4)


@pytest.fixture(scope="module")
def three_experiences():
    """8 Gaussians cut into 3 experiences by angle (a D1 -> D2 -> D3 stream)."""
    from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets

    from rosetta_cl.data.streams import tensor_dataset

    x, y, _ = gaussians8_data(n_per_gaussian=30, seed=0)
    parts = np.digitize(y, [3, 6])  # components 0-2 | 3-5 | 6-7
    return benchmark_from_datasets(train=[tensor_dataset(x[parts == p], y[parts == p])
                                          for p in range(3)]).train_stream


@pytest.mark.parametrize(("mode", "sizes"), [("all", [3, 6, 9]), ("latest", [3, 3, 3]),
                                             ("reselect", [3, 3, 3])])
def test_three_experience_stream_accumulation(three_experiences, mode, sizes):
    plugin = RosettaPlugin(k=3, rho=1.0, reinit=True, accumulate=mode)
    strategy = stock_naive(VAE(ModelConfig(5, 2, (16, 16))), [plugin], epochs=2)
    seen, history = [], []
    for experience in three_experiences:
        strategy.train(experience)
        seen.append(len(plugin.anchors))
        history.append(plugin.anchors.x.clone())
    assert seen == sizes
    x_all = [experience.dataset[i][0] for experience in three_experiences
             for i in range(len(experience.dataset))]
    pool = {tuple(np.round(v.numpy(), 6)) for v in x_all}
    assert all(tuple(np.round(row.numpy(), 6)) in pool for row in plugin.anchors.x)
    if mode == "latest":  # only the last experience's points
        last = {tuple(np.round(three_experiences[2].dataset[i][0].numpy(), 6))
                for i in range(len(three_experiences[2].dataset))}
        assert all(tuple(np.round(row.numpy(), 6)) in last for row in plugin.anchors.x)
    if mode == "all":  # earlier anchors are kept unchanged
        assert torch.equal(history[2][:3], history[0])


def test_bad_accumulate_mode():
    with pytest.raises(ValueError, match="accumulate 'some'"):
        RosettaPlugin(accumulate="some")


def _avalanche_vae_training(model, plugin):
    import numpy as np
    from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
    from avalanche.training.supervised import VAETraining

    from rosetta_cl.data.streams import tensor_dataset

    x = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0)).numpy()
    bench = benchmark_from_datasets(train=[tensor_dataset(x[:100], np.zeros(100, int)),
                                           tensor_dataset(x[100:], np.ones(100, int))])
    strategy = VAETraining(model, torch.optim.Adam(model.parameters()), train_mb_size=32,
                           train_epochs=1, plugins=[plugin], evaluator=None)
    return strategy, bench.train_stream


@pytest.mark.parametrize("decoder", ["none", "squared"])
def test_plugin_reads_avalanches_own_mlp_vae(decoder):
    """An Avalanche user's first try (VAETraining + MlpVAE + RosettaPlugin) trained the first
    experience, then failed with "'MlpVAE' object has no attribute 'encode'"."""
    from avalanche.models import MlpVAE

    from rosetta_cl.anchors.rosetta_plugin import AvalancheVAEView

    torch.manual_seed(0)
    model = MlpVAE((1, 8, 8), nhid=2)
    plugin = RosettaPlugin(k=8, rho=1.0, decoder=decoder)
    strategy, stream = _avalanche_vae_training(model, plugin)
    for experience in stream:
        strategy.train(experience)
    # the default accumulate mode keeps the latest experience's 8
    assert isinstance(plugin._model, AvalancheVAEView) and len(plugin.anchors) == 8
    assert plugin.anchors.z.shape == (8, 2)
    model.eval()  # as encode_means reads it (MlpVAE has batch norm)
    with torch.no_grad():  # the anchors' z are the model's posterior means of their x
        z = model.calc_mean(model.encoder(plugin.anchors.x))
    assert torch.allclose(z, plugin.anchors.z, atol=1e-5)


def test_plugin_refuses_a_model_it_cannot_read_before_training():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 64))
    before = [p.detach().clone() for p in model.parameters()]
    strategy, stream = _avalanche_vae_training(model, RosettaPlugin(k=8, decoder="none"))
    with pytest.raises(ValueError, match=r"^RosettaPlugin needs a VAE it can read: encode\(x\)"):
        strategy.train(stream[0])
    # no step taken
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("shape", [(64,), (1, 8, 8)], ids=["flat", "image"])
def test_avalanches_vae_training_runs_two_experiences_with_default_plugin(shape):
    """Avalanche's own VAETraining + MlpVAE((1, 8, 8)) + RosettaPlugin() (defaults) through both
    experiences of the digits stream, as its flat 64-vectors and as 1x8x8 images: the anchor term
    compares the decoder's output with x_r in x_r's shape (it died on the second experience in
    decoder_term). MlpVAE's decoder always outputs images, and Avalanche's own VAE_loss compares
    them with X as given, so flat data need its criterion in X's shape (the guide says so)."""
    from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
    from avalanche.models import MlpVAE
    from avalanche.models.generator import VAE_loss
    from avalanche.training.supervised import VAETraining

    from rosetta_cl import digits
    from rosetta_cl.data.streams import tensor_dataset
    from rosetta_cl.data.tensors import dataset_tensors

    parts = []
    for experience in digits(subsample=150).train_stream:
        x, y = dataset_tensors(experience.dataset)
        parts.append(tensor_dataset(x.reshape(len(x), *shape).numpy(), y.numpy()))
    stream = benchmark_from_datasets(train=parts).train_stream
    torch.manual_seed(0)
    model = MlpVAE((1, 8, 8), nhid=2)
    plugin = RosettaPlugin()
    seen = []

    class Watch(SupervisedPlugin):
        def before_backward(self, strategy, **kwargs):
            seen.append(plugin._device_anchors is not None)

    def criterion(x, out):  # Avalanche's VAE_loss with MlpVAE's images in the batch's shape
        return VAE_loss(x, (out[0].reshape(x.shape), *out[1:]))

    strategy = VAETraining(model=model, optimizer=torch.optim.Adam(model.parameters()),
                           train_mb_size=30, train_epochs=1, plugins=[plugin, Watch()],
                           evaluator=None, criterion=criterion)
    for experience in stream:
        strategy.train(experience)
    assert plugin.anchors.x.shape == (8, *shape) and plugin.anchors.z.shape == (8, 2)
    assert any(seen) and not all(seen)  # the term acted on the second experience only


def test_decoder_term_compares_outputs_in_the_anchors_shape():
    from rosetta_cl.models.losses import decoder_term

    x = torch.rand(4, 64)

    class ImageDecoder:  # an image-shaped decoder output for flat anchors, and back
        def __init__(self, shape):
            self.shape = shape

        def decode_mean(self, z):
            return x.reshape(len(z), *self.shape) + 0.5

    for shape, anchors in [((1, 8, 8), x), ((64,), x.reshape(4, 1, 8, 8))]:
        assert float(decoder_term(ImageDecoder(shape), anchors, torch.zeros(4, 2))) == \
            pytest.approx(4 * 64 * 0.25)
