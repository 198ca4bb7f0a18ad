"""Benchmark 1: training-loop overhead of the R-VAE strategy against a plain PyTorch loop.

Same model (same initial weights), same data, same minibatches (same seeded shuffling), same
arithmetic: the negative ELBO plus the Rosetta anchor term on every minibatch and the
validation loss after every epoch. Ours is ``RosettaVAEStrategy`` (Avalanche template,
RosettaPlugin, per-epoch metrics) with MLflow logging on (a SQLite store in a temp folder);
the reference is the hand-written loop below. Both end with the same weights (checked).

    python benchmarks/perf/loop_overhead.py            # gaussians8 (MLP) and digits (conv)
    python benchmarks/perf/loop_overhead.py --tiny     # seconds, for CI
"""

from __future__ import annotations

import sys
import tempfile
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, interleaved, median, parser

from rosetta_cl.anchors.points import Anchors
from rosetta_cl.data.streams import digits, gaussians8
from rosetta_cl.data.tensors import dataset_tensors
from rosetta_cl.models.losses import anchor_loss, negative_elbo
from rosetta_cl.models.vae import VAE, ModelConfig


def setup(name: str, subsample: int | None):
    """(model config, D2 train inputs, D2 validation inputs, anchors: k inputs of D1 with
    latent targets)."""
    bench = (gaussians8 if name == "gaussians8" else digits)(subsample=subsample)
    d = bench.defaults
    arch = "mlp" if name == "gaussians8" else "conv"
    config = ModelConfig(bench.input_dim, d.latent_dim, d.hidden_for(arch), "full", d.likelihood,
                         d.obs_scale, arch, image_shape=d.image_shape)
    x1, _ = dataset_tensors(bench.train_stream[0].dataset)
    x2, _ = dataset_tensors(bench.train_stream[1].dataset)
    v2, _ = dataset_tensors(bench.valid_stream[1].dataset)
    k = min(d.rosetta_points, len(x1))
    anchors = Anchors(x1[:k], torch.randn(k, d.latent_dim, generator=torch.Generator()
                                          .manual_seed(1)))
    return config, x2, v2, anchors


def plain(config, x, val_x, anchors, epochs, batch_size=128, rho=1.5, seed=0) -> VAE:
    """The reference: a hand-written loop doing the strategy's arithmetic."""
    torch.manual_seed(seed)
    model = VAE(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    shuffle = torch.Generator().manual_seed(seed)
    # the strategy reads its experience through a DataLoader, whose iterator draws one number
    # (its base seed) from the global RNG: draw it too, so both see the same sampling noise
    torch.empty((), dtype=torch.int64).random_()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=shuffle)
        for i in range(0, len(x), batch_size):
            xb = x[order[i : i + batch_size]]
            optimizer.zero_grad()
            loss = negative_elbo(model(xb), 1.0).loss
            loss = loss + anchor_loss(model, anchors.x, anchors.z, rho, batch_size)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.inference_mode():
            negative_elbo(model(val_x), 1.0)
    return model


def ours(config, x, val_x, anchors, epochs, batch_size=128, rho=1.5, seed=0) -> VAE:
    """RosettaVAEStrategy with its per-epoch metrics sent to an MLflow run."""
    import mlflow
    from avalanche.benchmarks.scenarios import benchmark_from_datasets

    from rosetta_cl.data.streams import tensor_dataset
    from rosetta_cl.methods.strategies import RosettaVAEStrategy
    from rosetta_cl.tracking.mlflow_logger import MLflowLogger

    experience = benchmark_from_datasets(
        train=[tensor_dataset(x.numpy(), torch.zeros(len(x)).numpy())]).train_stream[0]
    torch.manual_seed(seed)
    model = VAE(config)
    with mlflow.start_run():
        strategy = RosettaVAEStrategy(model=model, k=len(anchors), rho=rho, anchors=anchors,
                                      select=False, train_mb_size=batch_size,
                                      train_epochs=epochs, loggers=[MLflowLogger()],
                                      val_x=val_x, seed=seed)
        strategy.train(experience)
    return model


def main(argv=None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    epochs = 2 if args.tiny else 50  # a paper run is 200 epochs: fixed costs amortise more
    repeats = args.repeats or (1 if args.tiny else 7)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        mlflow.set_experiment("perf")
        for name in ("gaussians8", "digits"):
            config, x, val_x, anchors = setup(name, 100 if args.tiny else None)
            same = all(torch.allclose(a, b, atol=1e-5) for a, b in zip(
                plain(config, x, val_x, anchors, 2).state_dict().values(),
                ours(config, x, val_x, anchors, 2).state_dict().values(), strict=True))
            times = interleaved({"plain": partial(plain, config, x, val_x, anchors, epochs),
                                 "ours": partial(ours, config, x, val_x, anchors, epochs)},
                                repeats)
            p, o = median(times["plain"]) / epochs, median(times["ours"]) / epochs
            rows.append({"benchmark": f"{name} ({config.arch}, {len(x)} points)",
                         "plain s/epoch": p, "ours s/epoch": o, "ratio": o / p,
                         "same weights": same, "repeats": repeats})
    return emit(f"Training-loop overhead, {epochs} epochs per call (target ratio <= 1.05)",
                rows, args.json_path)


if __name__ == "__main__":
    main()
