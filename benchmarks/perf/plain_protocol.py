"""The reference of benchmark 4: the gaussians8 sequential and reproducibility protocols as a
minimal plain-PyTorch script (no Avalanche, no MLflow, no per-epoch validation): the same
models (rosetta_cl.models.vae.VAE), data, epochs, seeds, anchor term and metrics.

    python benchmarks/perf/plain_protocol.py [--epochs 200] [--seeds 10]
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np
import torch

from rosetta_cl.data.streams import gaussians8
from rosetta_cl.data.tensors import dataset_tensors
from rosetta_cl.models.losses import anchor_loss, negative_elbo
from rosetta_cl.models.vae import VAE, ModelConfig

CONFIG = ModelConfig(5, 2, (64, 64), "full", "gaussian", 0.3, "mlp")


def train(x, epochs, seed, beta=1.0, anchors=None, rho=1.5, batch_size=128) -> VAE:
    torch.manual_seed(seed)
    model = VAE(CONFIG)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    shuffle = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=shuffle)
        for i in range(0, len(x), batch_size):
            xb = x[order[i : i + batch_size]]
            optimizer.zero_grad()
            loss = negative_elbo(model(xb), beta).loss
            if anchors is not None:
                loss = loss + anchor_loss(model, anchors[0], anchors[1], rho, batch_size)
            loss.backward()
            optimizer.step()
    return model


@torch.inference_mode()
def means(model, x) -> np.ndarray:
    return model.encode(x).numpy().astype(np.float64)


def select_anchors(model, x, k, seed=0):
    z = means(model, x).astype(np.float32)
    km = faiss.Kmeans(z.shape[1], k, niter=25, seed=seed, max_points_per_centroid=len(z))
    km.train(z)
    _, labels = km.index.search(z, 1)
    labels = labels[:, 0]
    chosen = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        d2 = ((z[members] - km.centroids[c]) ** 2).sum(1)
        chosen.append(members[d2.argmin()])
    chosen = np.array(chosen)
    return x[chosen], torch.as_tensor(z[chosen])


def lsd(source, target, masks) -> dict:
    design = np.hstack([source, np.ones((len(source), 1))])
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    per_point = ((design @ coef - target) ** 2).sum(1)
    return {name: float(per_point[m].mean()) for name, m in masks.items()}


def rv(runs) -> float:
    z = np.stack(runs)  # (M, N, d)
    centred = z - z.mean(0)
    cov = np.einsum("mni,mnj->nij", centred, centred) / (len(runs) - 1)
    return float(np.linalg.slogdet(cov)[1].mean())


def run(epochs=200, seeds=10, k=8, beta=2.5) -> dict:
    bench = gaussians8()
    (x1, _), (x2, _) = (dataset_tensors(e.dataset) for e in bench.train_stream)
    (v1, _), (v2, _) = (dataset_tensors(e.dataset) for e in bench.valid_stream)
    methods = {"vae": {}, "bvae": {"beta": beta}, "rvae": {}}
    out = {}
    # sequential: template on D1 -> anchors; target on D1 u D2; methods on D2 u x_r
    anchors = select_anchors(train(x1, epochs, 0), x1, k)
    target = means(train(torch.cat([x1, x2]), epochs, 0), torch.cat([v1, v2]))
    masks = {"D1": np.arange(len(target)) < len(v1), "D2": np.arange(len(target)) >= len(v1)}
    data = torch.cat([x2, anchors[0]])
    for method, kw in methods.items():
        out[f"sequential/{method}"] = [
            lsd(means(train(data, epochs, s, anchors=anchors if method == "rvae" else None,
                            **kw), torch.cat([v1, v2])), target, masks)
            for s in range(1, seeds + 1)]
    # reproducibility: template on D1 -> anchors; methods retrained on D1 u x_r; RV on D1
    anchors = select_anchors(train(x1, epochs, 0), x1, k)
    data = torch.cat([x1, anchors[0]])
    for method, kw in methods.items():
        out[f"reproducibility/{method}"] = rv([
            means(train(data, epochs, s, anchors=anchors if method == "rvae" else None, **kw),
                  v1) for s in range(1, seeds + 1)])
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--seeds", type=int, default=10)
    a = p.parse_args()
    start = time.perf_counter()
    result = run(a.epochs, a.seeds)
    print({k: v for k, v in result.items() if k.startswith("reproducibility")})
    print(f"{time.perf_counter() - start:.1f} s")
