"""pix2pixHD (Wang et al., CVPR 2018): high-resolution synthesis from semantic label maps.

pix2pix's recipe scaled up by three changes, each a general part of img2img:

- a coarse-to-fine generator (:mod:`img2img.nets.coarse_to_fine`): the global generator G1
  (``--n-downsample`` 4 stride-2 layers, the reference's ``n_downsample_global``: 182.5M
  parameters at ``--ngf 64`` on a 36-channel input, 45.7M with 3)
  alone (``--local-enhancers 0``, the reference's ``netG global``), or G1 at half resolution
  inside a local enhancer (``--local-enhancers 1``), trained after G1 (``--init-from`` a G1
  run) with G1 frozen for its first ``--niter-fix-global`` iterations;
- ``--num-d`` PatchGANs on the image downsampled by 1, 2, 4
  (:class:`img2img.nets.multiscale.MultiScaleDiscriminator`) behind one Adversary, which
  sums their LSGAN losses;
- feature matching: L1 between the discriminators' features on real and generated pairs
  (:meth:`img2img.losses.Adversary.feature_matching`), weight 10, replacing pix2pix's
  pixel L1; optionally a perceptual loss (``--perceptual``).

Semantic inputs: ``--label-nc N`` one-hot encodes the input label map (class-index images,
or colours of ``--palette``: ``facades`` or a JSON file), inside the saved generator.

Images keep their aspect ratio (``--preprocess scale_width_rounded``, the reference's
``scale_width``): the width is resized to ``--load-size`` (0: ``--image-size``), the height
by the aspect ratio, both rounded to the generator's multiple (``2 ** n_downsample``, twice
that with the local enhancer), as the reference's ``__make_power_2``; no crop. Images of
different shapes need ``--batch-size 1`` (the reference's).

    D: min 0.5 * sum_k [(D_k(s, x) - 1)^2 + D_k(s, G(s))^2]
    G: min sum_k (D_k(s, G(s)) - 1)^2 + 10 * FM(G) [+ w * perceptual(G(s), x)]

Departures from the reference code (NVIDIA/pix2pixHD), all written down:
- ``--num-d`` is 3, the paper's; the reference code's default is 2.
- the VGG loss is off by default (``--perceptual vgg19 --perceptual-weights FILE`` turns it
  on): VGG19's ImageNet weights cannot be downloaded by img2img. It is one layer's mean
  squared feature distance (:mod:`img2img.losses.perceptual`), not the reference's five
  weighted L1 terms.
- ``--label-nc`` defaults to 0 (the input image as it is; ``--palette facades`` sets 12):
  the reference's 35 is Cityscapes'. Instance maps (boundary channel) and the encoder of
  instance-wise features are not implemented.
- ``--niter-fix-global`` counts iterations, not epochs, and one Adam serves all of G: the
  global part's moments start when it unfreezes (the reference builds a new optimizer
  then, which also resets the enhancer's moments).
- the local enhancer starts as G1's picture upsampled (see :mod:`img2img.nets.coarse_to_fine`).
- the PatchGANs are img2img's (4x4 convs with padding 1, 70x70 field); the reference pads
  by 2, which gives slightly larger maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from img2img.config import TrainConfig, option
from img2img.data import PairedImageFolder, resolve_split
from img2img.data.labels import PALETTES, LabelMapFolder, load_palette
from img2img.data.transforms import preprocess_option
from img2img.losses import objective_presets
from img2img.losses.perceptual import BACKBONES, PerceptualLoss
from img2img.nets import init_weights
from img2img.nets.batchnorm import inference_copy
from img2img.nets.blocks import NORMS
from img2img.nets.coarse_to_fine import LocalEnhancer, global_generator
from img2img.nets.labels import LabelEncoder, LabelToImage
from img2img.nets.multiscale import MultiScaleDiscriminator
from img2img.tasks.options import (
    AdversaryOptions,
    CropOptions,
    DiffAugmentOptions,
    OptimizerOptions,
    WidthOptions,
)
from img2img.tasks.parts import (
    StateFromParts,
    config_adversary,
    copy_generator_weights,
    stepper_factory,
)
from img2img.tasks.registry import register_task

# The options that decide the generator's shape, repeated by a run that --init-from's.
SHAPE_OPTIONS = ("label_nc", "palette", "ngf", "global_blocks", "n_downsample")


@dataclass
class Pix2PixHDConfig(
    CropOptions,
    WidthOptions,
    OptimizerOptions,
    DiffAugmentOptions,
    AdversaryOptions,
    TrainConfig,
):
    """Defaults are the reference code's (``netG global``, instance norm, LSGAN, feature
    matching 10, Adam 2e-4 (0.5, 0.999), 100 + 100 epochs, 4 downsamplings, scale_width),
    except as the module says; ``--load-size 0`` is --image-size, and the local enhancer
    runs at half of ``--ngf``."""

    @staticmethod
    def presets(values: dict[str, Any]) -> dict[str, Any]:
        """A built-in palette brings its class count; a Wasserstein objective its critic
        constraint (see :func:`merge`)."""
        presets: dict[str, Any] = objective_presets(values, "lsgan")
        palette = values.get("palette", "")
        if palette in PALETTES:
            presets["label_nc"] = len(PALETTES[palette].colours)
        return presets

    task: str = option("pix2pixhd", "which recipe to train")
    direction: str = option(
        "AtoB", "AtoB: left half is the input (label map); BtoA: right half", ("AtoB", "BtoA")
    )
    image_size: int = option(512, "training size in pixels (the reference's fineSize 512)")
    label_nc: int = option(0, "classes of the input label map, one-hot encoded (0: RGB input)")
    palette: str = option(
        "", "label colours: 'facades' or a JSON palette file (empty: class-index images)"
    )
    local_enhancers: int = option(
        0, "0: global generator only; 1: local enhancer around it at twice its resolution", (0, 1)
    )
    niter_fix_global: int = option(
        0, "with --local-enhancers 1: train only the enhancer for this many iterations"
    )
    init_from: str = option("", "start the global generator from this pix2pixhd model", run=True)
    global_blocks: int = option(9, "residual blocks of the global generator")
    n_downsample: int = option(
        4, "stride-2 layers of the global generator (the reference's n_downsample_global)",
        saved_default=3,
    )  # fmt: skip
    preprocess: str = preprocess_option("scale_width_rounded", saved_default="resize_and_crop")
    local_blocks: int = option(3, "residual blocks of the local enhancer")
    d_layers: int = option(3, "PatchGAN strided layers (3: 70x70 patches)")
    num_d: int = option(3, "discriminators, on the image downsampled by 1, 2, 4, ...")
    norm: str = option("instance", "normalisation layers", NORMS)
    objective: str = AdversaryOptions.option("objective", "lsgan")
    feature_matching: float = option(10.0, "weight of the discriminator feature matching loss")
    perceptual: str = option("", "perceptual loss backbone (empty: off)", ("", *BACKBONES))
    perceptual_layer: str = option("", "feature layer (empty: the backbone's default)")
    perceptual_weights: str = option("", "VGG19 (or LPIPS trunk) weights file")
    perceptual_weight: float = option(10.0, "weight of the perceptual loss")
    epochs: int = option(200, "total epochs (the reference: 100 + 100 of decay)")

    def __post_init__(self) -> None:
        multiple = size_multiple(self)
        if self.image_size % multiple or self.image_size < 2 * multiple:
            enhancer = " and the local enhancer" if self.local_enhancers else ""
            fitting = max(2 * multiple, round(self.image_size / multiple) * multiple)
            raise ValueError(
                f"--image-size {self.image_size}: the generator's {self.n_downsample} "
                f"downsamplings{enhancer} need a multiple of {multiple}, at least "
                f"{2 * multiple}; use {fitting}"
            )


def size_multiple(config: Pix2PixHDConfig) -> int:
    """What image sides must divide by: 2 ** n_downsample for G1, twice that with the local
    enhancer (G1 runs at half resolution)."""
    return 2**config.n_downsample * (2 if config.local_enhancers else 1)


def label_encoder(config: Pix2PixHDConfig, saved: bool = False) -> LabelEncoder | None:
    """The one-hot encoder of the config's label maps (None for RGB inputs), its colours
    read from ``--palette`` (a name that is neither built in nor a file raises
    FileNotFoundError naming the option). A saved model (``saved``) carries its palette's
    colours in its weights, so rebuilding it needs only the class count where the file is
    absent."""
    palette_file = config.palette and config.palette not in PALETTES
    if palette_file and not Path(config.palette).is_file():
        if saved and config.label_nc:
            return LabelEncoder(config.label_nc, torch.zeros(config.label_nc, 3))
        raise FileNotFoundError(
            f"--palette {config.palette}: no such palette file, nor a built-in palette "
            f"({', '.join(PALETTES)}); give a JSON palette file or a built-in name"
        )
    if not config.label_nc:
        if config.palette:
            raise ValueError(f"--palette {config.palette} needs --label-nc (its class count)")
        return None
    if not config.palette:
        return LabelEncoder(config.label_nc)
    palette = load_palette(config.palette)
    if len(palette.colours) != config.label_nc:
        raise ValueError(
            f"--palette {config.palette} has {len(palette.colours)} colours but --label-nc is "
            f"{config.label_nc}; give the palette's class count"
        )
    return palette.encoder()


@register_task("pix2pixhd", evaluation="aligned", demo_tab="translate")
class Pix2PixHD(StateFromParts):
    """The pix2pixHD recipe over the shared parts (see :mod:`img2img.tasks`)."""

    counters = ("iteration",)  # saved with the parts (see StateFromParts)

    Config = Pix2PixHDConfig

    @staticmethod
    def dataset(
        config: Pix2PixHDConfig, split: str, augment: bool | None = None
    ) -> PairedImageFolder | None:
        root = resolve_split(config.data, split)
        if root is None:
            return None
        options = {
            "direction": config.direction,
            "load_size": config.load_size or config.image_size,
            "crop_size": config.image_size,
            "flip": config.flip,
            "train": split == "train" if augment is None else augment,
            "seed": config.seed,
            "preprocess": config.preprocess,
            "size_multiple": size_multiple(config),
        }
        encoder = label_encoder(config)
        if encoder is None:
            return PairedImageFolder(root, **options)
        return LabelMapFolder(root, encoder, **options)

    @staticmethod
    def build_generator(config: Pix2PixHDConfig, saved: bool = True) -> LabelToImage:
        """The generator of ``config``; ``saved``: for a saved model, whose palette colours
        its weights hold (a training run passes False: its palette file must exist)."""
        encoder = label_encoder(config, saved)
        in_channels = config.label_nc or 3
        coarse = global_generator(
            in_channels, 3, config.ngf, config.global_blocks, config.norm, config.n_downsample
        )
        if not config.local_enhancers:
            return LabelToImage(coarse, encoder)
        enhancer = LocalEnhancer(
            coarse, in_channels, 3, config.ngf // 2, config.local_blocks, config.norm
        )
        return LabelToImage(enhancer, encoder)

    @staticmethod
    def per_image_statistics(config: Pix2PixHDConfig) -> bool:
        return config.norm == "batch" and config.batch_size == 1

    def __init__(
        self, config: Pix2PixHDConfig, total_steps: int, decay_steps: int, device: torch.device
    ) -> None:
        self.config = config
        self.device = device
        self.generator = self.build_generator(config, saved=False)
        discriminator = MultiScaleDiscriminator(
            num_d=config.num_d,
            in_channels=(config.label_nc or 3) + 3,  # D sees (label map, image) stacked
            ndf=config.ndf,
            n_layers=config.d_layers,
            norm=config.norm,
        )
        for net in (self.generator, discriminator):
            init_weights(net, kind="normal", gain=0.02)
        network = self.generator.network
        if isinstance(network, LocalEnhancer):
            network.reset_output()
        if config.init_from:
            self._start_global_from(config.init_from)
        self.generator.to(device)
        discriminator.to(device)

        stepper = stepper_factory(config, total_steps, decay_steps)
        self.g_stepper = stepper(self.generator)
        # The reference halves D's loss, as pix2pix does.
        self.adversary = config_adversary(
            config, discriminator, stepper(discriminator), d_loss_weight=0.5
        )
        self.steppers = {"generator": self.g_stepper, "discriminator": self.adversary.stepper}
        self.perceptual = None
        if config.perceptual:
            self.perceptual = PerceptualLoss(
                config.perceptual, config.perceptual_layer, config.perceptual_weights or None
            ).to(device)
        self.iteration = 0

    def _start_global_from(self, model: str) -> None:
        """Load a saved pix2pixhd generator into this run's global generator (the whole
        generator for a global-only run): the reference's ``--load_pretrain``."""
        network = self.generator.network
        if not isinstance(network, LocalEnhancer):
            copy_generator_weights(self.generator, model, SHAPE_OPTIONS)
            return
        donor = LabelToImage(network.global_generator, self.generator.encoder)
        copy_generator_weights(donor, model, SHAPE_OPTIONS)

    def global_parameters(self) -> list[nn.Parameter]:
        """G1's parameters inside a local enhancer ([] for a global-only generator)."""
        network = self.generator.network
        if not isinstance(network, LocalEnhancer):
            return []
        return list(network.global_generator.parameters())

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        self.generator.train()
        frozen = self.iteration < self.config.niter_fix_global
        for p in self.global_parameters():
            p.requires_grad_(not frozen)
        self.iteration += 1
        label = batch["input"].to(self.device, non_blocking=True)
        real = batch["target"].to(self.device, non_blocking=True)
        condition = self.generator.encode(label)
        fake = self.generator.network(condition)
        real_pair, fake_pair = torch.cat([condition, real], 1), torch.cat([condition, fake], 1)
        logs = self.adversary.update(real=real_pair, fake=fake_pair)
        g_gan = self.adversary.loss(fake_pair)
        loss = g_gan
        logs["g_gan"] = g_gan.item()
        if self.config.feature_matching:
            g_feat = self.adversary.feature_matching(fake_pair, real_pair)
            loss = loss + self.config.feature_matching * g_feat
            logs["g_feat"] = g_feat.item()
        if self.perceptual is not None:
            g_perceptual = self.perceptual(fake, real)
            loss = loss + self.config.perceptual_weight * g_perceptual
            logs["g_perceptual"] = g_perceptual.item()
        self.g_stepper.step(loss)
        return logs

    @torch.no_grad()
    def sample(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        label = batch["input"].to(self.device)
        network = inference_copy(self.generator, self.per_image_statistics(self.config))
        return [label, network(label), batch["target"].to(self.device)]
