"""RosettaPlugin: the R-VAE as an Avalanche plugin, usable with any Avalanche strategy whose
model exposes ``encode(x) -> posterior mean`` (and ``decode_mean(z)`` for eq. 1's decoder term),
or is built like Avalanche's own ``MlpVAE`` (``encoder`` + ``calc_mean``, ``decoder``), which it
reads through :func:`vae_view`. A model it cannot read is refused before the first epoch.

After each training experience it encodes that experience's data, clusters the latent means
(FAISS k-means by default) and keeps one anchor (x_r, z_r) per cluster. In every later minibatch,
``before_backward`` adds ``rho * (R / B) * sum_r ||z_r - mu(x_r)||^2`` to ``strategy.loss``
(optionally up to an affine map, and with the decoder term ||x_r - m(z_r)||^2; ``losses``).
With ``reinit=True`` the model gets fresh random weights before each later experience (the
paper's portability setting: Bob trains a new model); otherwise it keeps training.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from avalanche.core import SupervisedPlugin
from torch import nn

from rosetta_cl.anchors.points import Anchors, select_rosetta_points
from rosetta_cl.anchors.selectors import check_selection
from rosetta_cl.config.choices import ACCUMULATE
from rosetta_cl.data.tensors import dataset_tensors
from rosetta_cl.models.losses import anchor_loss, check_anchor_term
from rosetta_cl.models.vae import encode_means, reinitialize


class RosettaPlugin(SupervisedPlugin):
    """Avalanche plugin adding the Rosetta anchor term (eq. 1 of the paper) to any strategy.

    After each training experience it selects k Rosetta points from the experience's latent means
    (FAISS k-means by default); from the next experience on, every minibatch's loss gets
    ``rho * R / B * sum_r (||z_r - mu(x_r)||^2 + ||x_r - m(z_r)||^2)``. It combines with other
    Avalanche strategies and plugins (EWC, SI, LwF, replay).

    Parameters
    ----------
    k : int, default 8
        Rosetta points selected after each experience.
    rho : float, default 1.0
        Weight of the anchor term (0 disables it).
    reinit : bool, default False
        Fresh random weights (and optimizer state) before each later experience: the paper's
        sequential setting, where Bob does not have Alice's model.
    anchors : Anchors, optional
        Anchors to use from the first experience on (e.g. Alice's, from a ``.rosetta`` file).
    select : bool, default True
        Select new anchors after each experience.
    seed : int, default 0
        Seed of the selector.
    selection : str, default "kmeans"
        Selector name (``kmeans``, ``agglomerative``, ``gmm``, ``random``; :data:`SELECTORS`).
    accumulate : str, default "latest"
        What happens to earlier anchors after a new experience: ``all`` keeps them and appends the
        new k, ``latest`` keeps only the new k, ``reselect`` selects k over the union of the kept
        anchors (with their original z) and the new experience.
    fit : str, default "exact"
        ``exact`` (the paper's ||z_r - mu(x_r)||^2) or ``affine`` (the residual after the best
        affine map from the model's anchor means to the z_r; ours).
    decoder : str, default "squared"
        Eq. 1's decoder term: ``squared`` (||x_r - m(z_r)||^2, the paper's), ``nll``
        (-log p(x_r | z_r), ours) or ``none`` (the encoder term alone).
    kmeans_niter : int, default 25
        k-means iterations.
    max_points_per_centroid : int, optional
        Subsample for k-means as FAISS does by default (None: all points).

    Examples
    --------
    >>> import torch
    >>> from avalanche.training import Naive
    >>> from rosetta_cl import VAE, ModelConfig, RosettaPlugin, gaussians8
    >>> bench = gaussians8(subsample=200)
    >>> model = VAE(ModelConfig(input_dim=bench.input_dim))
    >>> rosetta = RosettaPlugin(k=8, rho=1.5, reinit=True)
    >>> strategy = Naive(model=model, optimizer=torch.optim.Adam(model.parameters()),
    ...                  criterion=lambda out, y: out.recon_nll.mean() + out.kl.mean(),
    ...                  plugins=[rosetta], evaluator=None)
    >>> for experience in bench.train_stream:
    ...     _ = strategy.train(experience)
    >>> len(rosetta.anchors)
    8
    """

    def __init__(
        self,
        k: int = 8,
        rho: float = 1.0,
        *,
        reinit: bool = False,
        anchors: Anchors | None = None,
        select: bool = True,
        seed: int = 0,
        selection: str = "kmeans",
        accumulate: str = "latest",
        fit: str = "exact",
        decoder: str = "squared",
        kmeans_niter: int = 25,
        max_points_per_centroid: int | None = None,
    ):
        super().__init__()
        if k < 1:
            raise ValueError(f"k={k}: must be >= 1")
        if rho < 0:
            raise ValueError(f"rho={rho}: must be >= 0")
        self.k, self.rho, self.reinit, self.select, self.seed = k, float(rho), reinit, select, seed
        if accumulate not in ACCUMULATE:
            raise ValueError(f"accumulate {accumulate!r}: allowed {', '.join(ACCUMULATE)}")
        self.accumulate = accumulate
        check_anchor_term(fit, decoder)
        self.fit, self.decoder = fit, decoder
        check_selection(selection)
        self.selection = selection
        self.options = ({"niter": kmeans_niter, "max_points_per_centroid": max_points_per_centroid}
                        if selection == "kmeans" else {})
        self.anchors = anchors
        self.selections: list = []  # Selection of each experience, for inspection
        self._device_anchors: Anchors | None = None
        self._experiences_done = 0
        self._model = None  # the strategy's model as a VAE (vae_view), set per experience

    def before_training_exp(self, strategy, **kwargs):
        self._model = vae_view(strategy.model, self.decoder if self.rho else "none")
        if self.reinit and self._experiences_done > 0:
            reinitialize(strategy.model)
            strategy.optimizer.state.clear()
        self._device_anchors = (self.anchors.to(strategy.device) if self.anchors is not None
                                else None)

    def before_backward(self, strategy, **kwargs):
        if self._device_anchors is None or self.rho == 0:
            return
        anchors = self._device_anchors
        term = anchor_loss(self._model, anchors.x, anchors.z, self.rho,
                           strategy.train_mb_size, fit=self.fit, decoder=self.decoder)
        strategy.loss += term
        parts = getattr(strategy, "loss_parts", None)
        if parts is not None:
            parts["rosetta"] = term.detach()

    def after_training_exp(self, strategy, **kwargs):
        self._experiences_done += 1
        if not self.select:
            return
        x, _ = dataset_tensors(strategy.experience.dataset)
        z = encode_means(self._model, x).cpu()
        x = x.cpu()
        if self.accumulate == "reselect" and self.anchors is not None:
            x = torch.cat([self.anchors.x.to(x), x])  # earlier anchors keep their original z
            z = torch.cat([self.anchors.z.to(z), z])
        selection = select_rosetta_points(z, self.k, seed=self.seed,
                                          method=self.selection, **self.options)
        self.selections.append(selection)
        new = Anchors(x[selection.indices], z[selection.indices])
        if self.anchors is None or self.accumulate != "all":
            self.anchors = new
        else:
            self.anchors = self.anchors.concat(new)


class AvalancheVAEView(nn.Module):
    """Avalanche's ``MlpVAE`` (``encoder`` -> ``calc_mean``; ``decoder``) read as the VAE the
    anchor term needs: ``encode(x)`` = the posterior mean, ``decode_mean(z)`` = the decoder's
    output (MlpVAE's is already a mean in [0, 1]). Holds the model, so its parameters, train and
    eval modes are the model's own.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.config = SimpleNamespace(latent_dim=int(getattr(model, "dim", 0)))

    def encode(self, x):
        return self.model.calc_mean(self.model.encoder(x))

    def decode_mean(self, z):
        return self.model.decoder(z)


def vae_view(model: nn.Module, decoder: str = "squared"):
    """``model`` itself when it has rosetta-cl's VAE methods, an :class:`AvalancheVAEView` of a
    model built like Avalanche's ``MlpVAE``; otherwise a one-line ValueError naming what is
    needed (``decoder``: the anchor term's decoder part, which needs more of the model).
    """
    name = type(model).__name__
    needs = {"squared": "decode_mean", "nll": "decode"}.get(decoder)
    if hasattr(model, "encode"):
        view, has_decoder = model, needs is None or hasattr(model, needs)
    elif hasattr(model, "encoder") and hasattr(model, "calc_mean"):
        view = AvalancheVAEView(model)
        has_decoder = needs is None or (needs == "decode_mean" and hasattr(model, "decoder"))
    else:
        raise ValueError(f"RosettaPlugin needs a VAE it can read: encode(x) -> posterior mean, or"
                         f" Avalanche's MlpVAE layout (encoder + calc_mean); {name} has neither")
    if not has_decoder:
        raise ValueError(f"RosettaPlugin(decoder={decoder!r}) needs a model with {needs}(z) "
                         f"(decoder='squared' also reads an Avalanche-style `decoder`); {name} has"
                         " none: pass decoder='none'")
    return view


class AnchorInputsPlugin(SupervisedPlugin):
    """Adds the current anchors' inputs x_r (label -1) to each training experience's data, as the
    paper does for every method (the baselines see the x_r as ordinary data). Reads the anchors
    of ``rosetta`` (a RosettaPlugin, possibly with rho = 0) at the start of every experience.
    """

    def __init__(self, rosetta: RosettaPlugin):
        super().__init__()
        self.rosetta = rosetta

    def after_train_dataset_adaptation(self, strategy, **kwargs):
        anchors = self.rosetta.anchors
        if anchors is None:
            return
        from rosetta_cl.data.streams import tensor_dataset

        extra = tensor_dataset(anchors.x.cpu().numpy(), torch.full((len(anchors),), -1).numpy())
        strategy.adapted_dataset = strategy.adapted_dataset.concat(extra)
