"""GANs from noise, unconditional and class-conditional, on the same Adversary as pix2pix.

One iteration is Algorithm 1 of Goodfellow et al. (2014) with k = ``d_steps``:

    D: min  d_loss(D(x), D(G(z)))            every iteration (the objective's own form)
    G: min  g_loss(D(G(z)))                  every k-th iteration (``generator_turn()``)

The objective and its paper settings are one option: ``--objective wgan`` brings weight
clipping 0.01, RMSprop 5e-5 and 5 critic steps (Arjovsky et al. 2017); ``wgan-gp`` brings a
gradient penalty of 10, Adam 1e-4 betas (0, 0.9), 5 critic steps and no batch norm in the
critic (Gulrajani et al. 2017); ``hinge`` brings spectral norm (Miyato et al. 2018);
``ebgan`` brings an auto-encoder discriminator whose reconstruction error is the energy,
``--margin`` and the pulling-away term weighted 0.1 (Zhao et al. 2017, see
:mod:`img2img.losses.energy`). Any of them can still be overridden by a flag (see
:data:`OBJECTIVE_PRESETS`). ``--diffaugment`` augments what the discriminator sees
(:mod:`img2img.losses.diffaugment`).

Data: an MNIST folder (IDX files), a folder of class sub-folders (labels from the folder
names), a flat folder of images, or ``toy:ring8`` / ``toy:grid25`` (2-D mixtures; small MLPs,
plots of the discriminator's decision surface and mode-coverage figures: the GAN lab).

Drawing from a trained model (``img2img sample``) is :mod:`img2img.sampling`; its Parzen
evaluation :func:`img2img.metrics.parzen.evaluate_parzen`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from img2img.config import TrainConfig, option
from img2img.data import resolve_split
from img2img.data.classes import ImageFolder, class_names
from img2img.data.mnist import MNIST, is_mnist_folder, mnist_split_files
from img2img.data.toy import ToyDataset, get_mixture, is_toy, mode_coverage
from img2img.data.transforms import make_generator
from img2img.losses import Adversary, get_objective, objective_option, objective_presets
from img2img.losses.diffaugment import diffaugment_option
from img2img.losses.energy import pulling_away_loss
from img2img.losses.path_length import path_length_penalty
from img2img.nets import init_weights
from img2img.nets.autoencoder import AutoEncoderDiscriminator
from img2img.nets.batchnorm import batch_statistics
from img2img.nets.blocks import NORMS
from img2img.nets.dcgan import (
    CONDITIONINGS,
    DCGANDiscriminator,
    DCGANGenerator,
)
from img2img.nets.mlp import MLPAutoEncoder, MLPDiscriminator, MLPGenerator
from img2img.nets.stylegan import StyleGenerator, mix_styles
from img2img.tasks.parts import StateFromParts, config_adversary, stepper_factory
from img2img.tasks.registry import register_task
from img2img.watch import GANWatch, check_losses

# Each objective's paper settings, applied when it is chosen to every field the user
# (flags, YAML) leaves unset. Fields not listed keep the DCGAN defaults of GANConfig; the
# critic's constraint (wgan: clipping at 0.01, wgan-gp: a penalty of 10) is the objective's
# own ``constraint``, added by ``GANConfig.presets``.
OBJECTIVE_PRESETS: dict[str, dict[str, Any]] = {
    "minimax": {},
    "nonsaturating": {},
    "lsgan": {},
    # Arjovsky et al. 2017, Algorithm 1: c = 0.01, RMSProp lr 5e-5, n_critic = 5.
    "wgan": {"optimizer": "rmsprop", "lr": 5e-5, "d_steps": 5},
    # Gulrajani et al. 2017, Algorithm 1: lambda = 10, Adam 1e-4 (0, 0.9), n_critic = 5, and
    # no batch norm in the critic (the penalty is per sample; batch norm couples samples).
    "wgan-gp": {"lr": 1e-4, "beta1": 0.0, "beta2": 0.9, "d_steps": 5, "d_norm": "none"},
    # Miyato et al. 2018 (SNGAN) with the hinge loss: spectral norm instead of batch norm.
    "hinge": {"spectral_norm": True, "d_norm": "none"},
    # Zhao et al. 2017: the pulling-away term at 0.1 (EBGAN-PT); MNIST's margin 10 is the
    # field's default. Departure: Adam at DCGAN's settings rather than the paper's per-data
    # set grid-searched learning rates.
    "ebgan": {"pt_weight": 0.1},
}

GENERATORS = ("dcgan", "style")

# The 2-D lab: small MLPs, big batches, many short epochs, a plot every 250 iterations.
TOY_PRESETS: dict[str, Any] = {
    "net": "mlp",
    "z_dim": 8,
    "hidden": 64,
    "batch_size": 128,
    "epochs": 100,
    "lr": 2e-3,
    "num_samples": 1000,
    "sample_every": 250,
    "log_every": 50,
    "num_workers": 0,
}
# On 2-D data WGAN-GP's own toy script (gan_toy.py, Gulrajani et al.) uses lambda = 0.1.
# EBGAN's energies of 2-D points are squared distances: a margin of 0.5 (a reconstruction
# 0.7 away, a third of the ring's radius) separates fakes from the ring's modes, and the
# lab's 2e-3 makes its coverage swing; ours (the paper has no 2-D experiment): with them
# it holds 3 of 8 modes after 800 iterations (tests/tasks/test_ebgan.py).
TOY_OBJECTIVE_PRESETS: dict[str, dict[str, Any]] = {
    "wgan-gp": {"gp_weight": 0.1},
    "ebgan": {"margin": 0.5, "lr": 1e-3},
}


@dataclass
class GANConfig(TrainConfig):
    """Defaults are DCGAN's (Radford et al. 2016); objectives bring their papers' settings."""

    task: str = option("gan", "which recipe to train")
    data: str = option(
        "", "MNIST folder (IDX files), image folder, class folders, or toy:ring8 / toy:grid25"
    )
    image_size: int = option(64, "image side: base * 2**k, e.g. 28 (MNIST's default), 32, 64")
    channels: int = option(3, "image channels (1 for MNIST, set automatically)")
    batch_size: int = option(64, "samples per iteration")
    epochs: int = option(25, "training epochs")
    decay_epochs: int = option(0, "final epochs over which the LR decays linearly to 0")
    num_samples: int = option(64, "samples in each progress grid (fixed z)")
    net: str = option("dcgan", "networks: dcgan (images) or mlp (2-D toy data)", ("dcgan", "mlp"))
    generator: str = option(
        "dcgan", "image generator: dcgan, or style (StyleGAN2-style, nets/stylegan.py)", GENERATORS
    )
    w_dim: int = option(128, "style generator: size of w (the reference's 512, small for CPUs)")
    mapping_layers: int = option(8, "style generator: layers of the mapping network z -> w")
    mapping_lr: float = option(0.01, "style generator: mapping network's lr multiplier")
    style_mixing: float = option(0.9, "style generator: probability of mixing two w's per batch")
    r1_gamma: float = option(0.0, "R1 penalty gamma on real images (style: 0.0002 * S^2 / batch)")
    r1_interval: int = option(16, "lazy R1: penalise every this many D steps (StyleGAN2: 16)")
    pl_weight: float = option(0.0, "style generator: path-length regularisation (StyleGAN2: 2)")
    pl_interval: int = option(4, "lazy path-length regularisation every this many G steps")
    z_dim: int = option(100, "noise dimension; z ~ N(0, I)")
    ngf: int = option(64, "generator width (DCGAN: last hidden layer)")
    ndf: int = option(64, "discriminator width (DCGAN: first layer)")
    hidden: int = option(128, "MLP hidden units")
    mlp_layers: int = option(3, "MLP hidden layers")
    g_norm: str = option("batch", "generator normalisation", NORMS)
    d_norm: str = option("batch", "discriminator normalisation", NORMS)
    objective: str = objective_option("nonsaturating", energy=True)
    margin: float = option(
        10.0,
        "EBGAN's energy margin m; the paper's: MNIST 10, CelebA 20, ImageNet-128 40, LSUN 80",
    )
    pt_weight: float = option(0.0, "weight of EBGAN's pulling-away term (ebgan: 0.1)")
    diffaugment: str = diffaugment_option()
    d_steps: int = option(1, "discriminator steps per generator step (Algorithm 1's k)")
    gp_weight: float = option(0.0, "gradient-penalty weight (wgan-gp: 10)")
    clip: float = option(0.0, "clip critic weights to [-clip, clip] (wgan: 0.01; 0: off)")
    spectral_norm: bool = option(False, "spectral normalisation in the discriminator")
    optimizer: str = option("adam", "optimizer of both networks", ("adam", "rmsprop"))
    lr: float = option(2e-4, "learning rate (both networks)")
    beta1: float = option(0.5, "Adam beta1")
    beta2: float = option(0.999, "Adam beta2")
    conditional: bool = option(False, "class-conditional G and D (labels from MNIST/folders)")
    num_classes: int = option(0, "classes for --conditional (set from the data)")
    conditioning: str = option("projection", "how D sees the label", CONDITIONINGS)
    embed_dim: int = option(32, "size of the label embedding joined to z")
    init: str = option("normal", "weight init of DCGAN nets", ("normal", "xavier", "kaiming"))
    init_gain: float = option(0.02, "std (normal) or gain of the weight init")
    watch_patience: int = option(
        200, "warn when D's loss stays ~0 this many iterations, and watch diversity after them"
    )
    collapse_ratio: float = option(0.25, "warn when sample diversity falls below this x real's")

    def latent_size(self) -> int:
        """Size of the latent vector a sample is drawn from (``img2img sample``, eval)."""
        return self.z_dim

    @staticmethod
    def presets(values: dict[str, Any]) -> dict[str, Any]:
        """Defaults implied by the data and the objective (objective wins over data)."""
        data = str(values.get("data", ""))
        found: dict[str, Any] = {}
        if is_toy(data):
            found.update(TOY_PRESETS)
        elif data and is_mnist_folder(data):
            found.update(image_size=28, channels=1, num_classes=10)
        elif data and (names := class_names(data)):
            found.update(num_classes=len(names))
        if values.get("generator") == "style":
            found.update(style_presets(values, found))
        objective = values.get("objective", "nonsaturating")
        found.update(objective_presets(values, "nonsaturating"))
        found.update(OBJECTIVE_PRESETS.get(objective, {}))
        if is_toy(data):
            found.update(TOY_OBJECTIVE_PRESETS.get(objective, {}))
        return found


def style_presets(values: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    """stylegan2-ada-pytorch's settings for its ``auto``/``cifar`` configs: Adam 0.0025 with
    betas (0, 0.99), no batch norm in D, and R1 gamma = 0.0002 * resolution^2 / batch."""
    size = values.get("image_size", found.get("image_size", 64))
    batch = values.get("batch_size", 64)
    return {
        "lr": 0.0025,
        "beta1": 0.0,
        "beta2": 0.99,
        "d_norm": "none",
        "r1_gamma": 0.0002 * size**2 / batch,
    }


def lazy_optimizer(config: GANConfig, interval: int) -> GANConfig:
    """``config`` with the lr and betas a network regularised every ``interval`` steps needs
    (stylegan2-ada-pytorch's training_loop): c = interval / (interval + 1), lr * c,
    betas ** c, so the optimizer's effective step stays what the main loss alone would
    get. Unchanged for ``interval`` 1."""
    if interval <= 1:
        return config
    c = interval / (interval + 1)
    return replace(config, lr=config.lr * c, beta1=config.beta1**c, beta2=config.beta2**c)


def build_networks(config: GANConfig) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) as ``config`` describes them."""
    classes = config.num_classes if config.conditional else 0
    if config.conditional and classes < 1:
        raise ValueError(
            f"{config.data}: --conditional needs labels: MNIST, a folder of class sub-folders, "
            "or --num-classes"
        )
    energy = get_objective(config.objective).energy
    if energy and config.conditional:
        raise ValueError(f"--objective {config.objective} has no class-conditional version")
    if config.net == "mlp":
        if config.conditional:
            raise ValueError("--conditional is not supported with --net mlp (2-D toy data)")
        g = MLPGenerator(z_dim=config.z_dim, hidden=config.hidden, layers=config.mlp_layers)
        kind = MLPAutoEncoder if energy else MLPDiscriminator
        d = kind(hidden=config.hidden, layers=config.mlp_layers, spectral_norm=config.spectral_norm)
        return g, d
    if config.generator == "style":
        if config.conditional:
            raise ValueError("--generator style is unconditional: drop --conditional")
        g: nn.Module = StyleGenerator(
            z_dim=config.z_dim,
            w_dim=config.w_dim,
            image_size=config.image_size,
            channels=config.channels,
            ngf=config.ngf,
            mapping_layers=config.mapping_layers,
            mapping_lr=config.mapping_lr,
        )
    else:
        g = DCGANGenerator(
            z_dim=config.z_dim,
            image_size=config.image_size,
            channels=config.channels,
            ngf=config.ngf,
            norm=config.g_norm,
            num_classes=classes,
            embed_dim=config.embed_dim,
        )
    shape = {"image_size": config.image_size, "channels": config.channels, "ndf": config.ndf}
    d_options = {**shape, "norm": config.d_norm, "spectral_norm": config.spectral_norm}
    if energy:
        return g, AutoEncoderDiscriminator(**d_options)
    d = DCGANDiscriminator(**d_options, num_classes=classes, conditioning=config.conditioning)
    return g, d


@torch.no_grad()
def generate(
    generator: nn.Module, z: Tensor, labels: Tensor | None = None, truncation: float = 1.0
) -> Tensor:
    """Run ``generator`` on ``z`` (N, z_dim) without touching its training state: batch norm
    uses the batch's statistics (as in training) and leaves its running averages alone.
    ``truncation`` psi < 1 (style generators only) pulls w towards its tracked mean."""
    with batch_statistics(generator):
        if truncation == 1:
            return generator(z, labels)
        if not isinstance(generator, StyleGenerator):
            raise ValueError("truncation needs a style generator (--generator style)")
        return generator(z, labels, truncation=truncation)


def gan_watch(adversary: Adversary, config: GANConfig) -> GANWatch:
    """The failure-mode watch for ``adversary``'s objective with the config's patience."""
    objective = adversary.objective
    return GANWatch(
        objective.bounded_below, objective.saturation, config.watch_patience, config.collapse_ratio
    )


def style_mixed_fakes(
    generator: StyleGenerator, z: Tensor, z_mix: Tensor, probability: float
) -> Tensor:
    """Training fakes with style mixing regularisation (stylegan2-ada-pytorch loss.py): with
    ``probability`` the layers from a random cutoff in [1, num_ws) on take ``z_mix``'s w, so
    the generator cannot rely on neighbouring layers' styles being correlated. The training
    forward also moves the tracked mean w."""
    ws = generator.broadcast(generator.map(z, update_mean=True))
    cutoff = int(torch.randint(1, generator.num_ws, ()))
    if float(torch.rand(())) < probability:
        ws = mix_styles(ws, generator.broadcast(generator.map(z_mix)), cutoff)
    return generator.synthesis(ws)


def latent_size(config: Any) -> int:
    """Size of the latent vector one sample of ``config``'s model is drawn from: its
    ``latent_size()`` where it has one (a DDGAN's holds every step's noise), else ``z_dim``."""
    size = getattr(config, "latent_size", None)
    return size() if size is not None else config.z_dim


def latent(n: int, z_dim: int, seed: int) -> Tensor:
    """``n`` fixed latent vectors (n, z_dim) ~ N(0, I) from ``seed`` (not the global RNG)."""
    return torch.randn(n, z_dim, generator=make_generator(seed, 11))


@register_task("gan", evaluation="samples", demo_tab="sample")
class GAN(StateFromParts):
    """The GAN recipe (see :mod:`img2img.tasks` for the interface)."""

    Config = GANConfig

    @staticmethod
    def dataset(config: GANConfig, split: str, augment: bool | None = None) -> Dataset | None:
        if is_toy(config.data):
            mixture = get_mixture(config.data)
            return ToyDataset(mixture, seed=config.seed + (split == "test"))
        if is_mnist_folder(config.data):
            files = mnist_split_files(config.data, split)
            return None if files is None else MNIST(*files, image_size=config.image_size)
        root = resolve_split(config.data, split)
        if root is None:
            return None
        return ImageFolder(root, image_size=config.image_size, channels=config.channels)

    @staticmethod
    def build_generator(config: GANConfig) -> nn.Module:
        return build_networks(config)[0]

    @staticmethod
    def per_image_statistics(config: GANConfig) -> bool:
        return False

    def __init__(
        self, config: GANConfig, total_steps: int, decay_steps: int, device: torch.device
    ) -> None:
        self.config = config
        self.device = device
        self.mixture = get_mixture(config.data) if is_toy(config.data) else None
        self.generator, discriminator = build_networks(config)
        self.generator.to(device)
        discriminator.to(device)
        self.style = isinstance(self.generator, StyleGenerator)
        if config.net == "dcgan":  # DCGAN's N(0, 0.02); the MLPs keep PyTorch's default
            # (the style generator keeps its equalized-lr N(0, 1) weights)
            for net in (discriminator,) if self.style else (self.generator, discriminator):
                init_weights(net, kind=config.init, gain=config.init_gain)

        if config.pl_weight and not self.style:
            raise ValueError("--pl-weight needs the style generator (--generator style)")
        self.pl_interval = config.pl_interval if config.pl_weight else 0
        g_config = lazy_optimizer(config, self.pl_interval)
        self.g_stepper = stepper_factory(g_config, total_steps, decay_steps)(self.generator)
        self.path_length_mean = torch.zeros((), device=device)
        objective = get_objective(config.objective)
        if objective.margin is not None:
            objective = objective.with_margin(config.margin)
        if config.pt_weight and not objective.energy:
            raise ValueError(
                f"--pt-weight {config.pt_weight}: the pulling-away term needs an auto-encoder "
                "discriminator's codes (--objective ebgan)"
            )
        if config.diffaugment and config.net == "mlp":
            raise ValueError("--diffaugment augments images; it has no meaning for 2-D points")
        # Lazy R1 (StyleGAN2): gamma * interval every interval-th step, D's optimizer adjusted.
        r1_interval = config.r1_interval if config.r1_gamma else 1
        d_stepper = stepper_factory(lazy_optimizer(config, r1_interval), total_steps, decay_steps)
        self.adversary = config_adversary(
            config,
            discriminator,
            d_stepper(discriminator),
            objective=objective,
            r1_weight=config.r1_gamma * r1_interval,
            r1_interval=r1_interval,
            d_steps=config.d_steps,
            aux_losses={"pt": (config.pt_weight, pulling_away_loss)} if config.pt_weight else None,
        )
        self.steppers = {"generator": self.g_stepper, "discriminator": self.adversary.stepper}
        self.conditional = config.conditional
        self.z_fixed = latent(max(config.num_samples, 2), config.latent_size(), config.seed)
        self.z_fixed = self.z_fixed.to(device)
        self.labels_fixed = (
            torch.arange(len(self.z_fixed), device=device) % config.num_classes
            if config.conditional
            else None
        )
        self.watch = gan_watch(self.adversary, config)

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        self.generator.train()
        real = batch["image"].to(self.device, non_blocking=True)
        labels = batch["label"].to(self.device) if self.conditional else None
        # With k > 1 critic steps, most iterations need no graph through G.
        reuse = self.adversary.d_steps == 1
        with torch.set_grad_enabled(reuse):
            fake = self._fake(len(real), labels)
        logs = self.adversary.update(real, fake, condition=labels)
        check_losses(logs, skip_nonfinite=self.config.skip_nonfinite)
        self.watch.observe(real, logs["d_loss"])
        if self.adversary.generator_turn():
            if not reuse:
                fake = self._fake(len(real), labels)
            g_loss = self.adversary.loss(fake, condition=labels)
            logs.update(self.adversary.g_logs, g_loss=g_loss.item())
            if (
                self.pl_interval
                and (self.adversary.updates // self.adversary.d_steps - 1) % (self.pl_interval) == 0
            ):
                g_loss = g_loss + self._path_length_term(len(real), logs)
            check_losses(logs, skip_nonfinite=self.config.skip_nonfinite)
            self.g_stepper.step(g_loss)
        return logs

    def _noise(self, n: int) -> Tensor:
        return torch.randn(n, self.config.z_dim, device=self.device)

    def _path_length_term(self, n: int, logs: dict[str, float]) -> Tensor:
        """Lazy path-length regularisation on half a batch (the reference's pl_batch_shrink
        2), weighted by the interval; its running mean length is task state."""
        ws = self.generator.broadcast(self.generator.map(self._noise(max(n // 2, 1))))
        ws = ws.detach().requires_grad_(True)
        penalty, self.path_length_mean = path_length_penalty(
            self.generator.synthesis(ws), ws, self.path_length_mean
        )
        logs["path_length"] = penalty.item()
        return self.config.pl_weight * self.pl_interval * penalty

    def _fake(self, n: int, labels: Tensor | None) -> Tensor:
        """A training batch of fakes; a style generator's with style mixing."""
        if not self.style:
            return self.generator(self._noise(n), labels)
        return style_mixed_fakes(
            self.generator, self._noise(n), self._noise(n), self.config.style_mixing
        )

    def sample(self, batch: dict[str, Any]) -> list[Tensor]:
        """The fixed-z samples as one grid column (N, C, H, W)."""
        return [generate(self.generator, self.z_fixed, self.labels_fixed)]

    def monitor(self) -> tuple[dict[str, float], dict[str, str]]:
        """Metrics and failure-mode warnings on the fixed z (see :mod:`img2img.watch`), and
        the mode coverage of 2-D mixtures."""
        fake = generate(self.generator, self.z_fixed, self.labels_fixed)
        metrics, warnings = self.watch.report(fake, self.adversary.updates)
        if self.mixture is not None:
            metrics = {**mode_coverage(fake, self.mixture), **metrics}
        return metrics, warnings

    def write_samples(self, batch: dict[str, Any], path: Path, step: int) -> None:
        """An image grid (one class per column when conditional), or for 2-D data a plot of
        real vs generated points over the discriminator's decision surface."""
        fake = generate(self.generator, self.z_fixed, self.labels_fixed)
        if self.mixture is None:
            from torchvision.utils import save_image

            columns = self.config.num_classes if self.conditional else math.isqrt(len(fake))
            path.parent.mkdir(parents=True, exist_ok=True)
            save_image(fake.float().cpu() * 0.5 + 0.5, path, nrow=max(columns, 1), padding=2)
            return
        from img2img.reporting import plot_points

        coverage = mode_coverage(fake, self.mixture)
        plot_points(
            real=batch["image"],
            fake=fake.cpu(),
            critic=lambda points: self.adversary.scores(points.to(self.device)).cpu(),
            path=path,
            title=f"iteration {step}: {coverage['modes']:.0f}/{len(self.mixture.modes)} modes, "
            f"{coverage['high_quality']:.0%} high quality",
            probabilities=self.adversary.objective.probabilities,
        )

    def state_dict(self) -> dict[str, Any]:
        state = {**super().state_dict(), **self.watch.state_dict()}  # + real_diversity, ...
        if self.pl_interval:
            state["path_length_mean"] = self.path_length_mean.clone()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.watch.load_state_dict(state)
        if self.pl_interval:
            self.path_length_mean = state["path_length_mean"].to(self.device)
