"""Drawing from a trained GAN: ``img2img sample`` and the demo's sampling tab.

Beside :mod:`img2img.infer` (which translates images), this module turns noise into images
with a saved generator: fixed latents from seeded generators (never the global RNG, so the
same seed gives the same grid on any machine), labels for class-conditional models, slerp
paths between latents, and the files ``img2img sample`` writes. Batch-norm layers use the
batch's statistics, as in training (:func:`img2img.tasks.noise.generate`), and the generator
runs on the engine ``engine`` names (:mod:`img2img.engines`; in fp32, as it was trained).
What a model offers (its latent size, classes, styles, denoising steps, growth) is read from
its generator's declared capabilities (:mod:`img2img.nets.capabilities`), never from the
name of the recipe that trained it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from img2img.data.toy import get_mixture, is_toy
from img2img.data.transforms import make_generator
from img2img.devices import resolve_device
from img2img.engines import compile_network
from img2img.infer import load_generator
from img2img.nets.batchnorm import batch_statistics, batch_statistics_copy
from img2img.nets.capabilities import DenoisesInSteps, DrawsFromNoise, Grows, MixesStyles
from img2img.nets.stylegan import Truncated, mix_styles
from img2img.tasks.noise import latent


def load_gan(model: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, Any]:
    """A trained GAN generator (in eval mode, on ``device``) and its config, from any model
    :func:`img2img.infer.load_generator` reads; a model whose generator does not draw
    images from noise (:class:`~img2img.nets.capabilities.DrawsFromNoise`) is refused."""
    generator, config = load_generator(model, device=device)
    if not isinstance(generator, DrawsFromNoise):
        raise ValueError(
            f"{model}: a {config.task!r} model, not a GAN; `sample` needs a model that draws "
            "images from noise"
        )
    return generator, config


def growth_note(model: str | Path) -> str:
    """How far a progressively grown model got, e.g. "grown to 16x16 of 32x32": its samples
    are that resolution upsampled to the image size. "" for other models."""
    generator, _ = load_gan(model)
    return f"grown to {generator.growth()}" if isinstance(generator, Grows) else ""


def extra_figure(generator: nn.Module) -> str:
    """The second figure a GAN's generator offers besides its samples: "style-mix" for a
    style generator (:class:`~img2img.nets.capabilities.MixesStyles`), "chain" for one that
    denoises in steps (:class:`~img2img.nets.capabilities.DenoisesInSteps`), else ""."""
    if isinstance(generator, MixesStyles):
        return "style-mix"
    return "chain" if isinstance(generator, DenoisesInSteps) else ""


def gan_sampler(
    generator: nn.Module,
    engine: str = "auto",
    device: str = "cpu",
    truncation: float = 1.0,
) -> Callable[[Tensor, Tensor | None], Tensor]:
    """``sampler(z, labels)`` -> images (float32, CPU): ``generator`` with batch statistics
    (:func:`~img2img.nets.batchnorm.batch_statistics_copy`) on ``engine``; a style
    generator's w truncated by psi = ``truncation`` (1: off)."""
    network = batch_statistics_copy(generator)
    if truncation != 1:
        if not isinstance(generator, MixesStyles):
            raise ValueError("truncation needs a style generator (--generator style)")
        network = Truncated(network, truncation)
    example = [torch.zeros(2, generator.latent_size)]
    if generator.num_classes:
        example.append(torch.zeros(2, dtype=torch.long))
    names = ("z", "labels")[: len(example)]
    compiled = compile_network(network, example, engine, device, "fp32", names, {0: "batch"})

    def sample(z: Tensor, labels: Tensor | None = None) -> Tensor:
        return compiled(z) if labels is None else compiled(z, labels)

    return sample


def slerp(a: Tensor, b: Tensor, t: float | Tensor) -> Tensor:
    """Spherical interpolation between latent vectors ``a`` and ``b`` (..., D) at ``t`` in
    [0, 1] (White 2016): it follows the great circle, so intermediate points keep a norm
    typical of Gaussian samples instead of shrinking towards the origin as a straight line
    does. Falls back to linear interpolation for (nearly) parallel vectors."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    a_unit = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    b_unit = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    omega = (a_unit * b_unit).sum(-1, keepdim=True).clamp(-1, 1).acos()
    sin = omega.sin()
    linear = (1 - t) * a + t * b
    spherical = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / sin.clamp_min(1e-12)
    return torch.where(sin.abs() < 1e-6, linear, spherical)


def sample_labels(num_classes: int, n: int, label: int | None) -> Tensor | None:
    """Labels for ``n`` samples of a generator of ``num_classes`` classes: all ``label``, or
    cycling through the classes; None when the model is unconditional (``num_classes`` 0),
    where asking for a label is an error."""
    if not num_classes:
        if label is not None:
            raise ValueError("--label needs a class-conditional model (trained with --conditional)")
        return None
    if label is not None and not 0 <= label < num_classes:
        raise ValueError(f"--label {label}: the model knows classes 0..{num_classes - 1}")
    return torch.full((n,), label) if label is not None else torch.arange(n) % num_classes


def interpolation_latents(z_dim: int, rows: int, steps: int, seed: int) -> Tensor:
    """``rows`` slerp paths of ``steps`` points each between random pairs of latents:
    (rows * steps, z_dim), row-major (each row one path)."""
    ends = latent(2 * rows, z_dim, seed + 1).reshape(rows, 2, z_dim)
    t = torch.linspace(0, 1, steps)[None, :, None]
    return slerp(ends[:, :1], ends[:, 1:], t).reshape(rows * steps, z_dim)


@torch.no_grad()
def style_mix_grid(
    generator: nn.Module,
    rows: int,
    columns: int,
    seed: int = 0,
    cutoff: int | None = None,
    truncation: float = 1.0,
) -> Tensor:
    """The style-mixing figure of StyleGAN: ``(rows + 1) * (columns + 1)`` images, row-major.
    The top row shows the column sources, the left column the row sources (the corner is
    blank, -1); cell (i, j) takes the coarse styles (layers < ``cutoff``, default half of
    them) from column source j and the fine ones from row source i."""
    if not isinstance(generator, MixesStyles):
        raise ValueError("style mixing needs a style generator (--generator style)")
    cutoff = generator.num_ws // 2 if cutoff is None else cutoff
    if not 0 < cutoff < generator.num_ws:
        raise ValueError(f"cutoff {cutoff}: the generator has layers 0..{generator.num_ws - 1}")
    device = next(generator.parameters()).device
    z = latent(rows + columns, generator.z_dim, seed + 2).to(device)
    with batch_statistics(generator):
        ws = generator.broadcast(generator.map(z, truncation))
        row_ws, column_ws = ws[:rows], ws[rows:]
        sources = generator.synthesis(ws)
        cells = [
            generator.synthesis(
                mix_styles(column_ws, row_ws[i : i + 1].expand_as(column_ws), cutoff)
            )
            for i in range(rows)
        ]
    blank = torch.full_like(sources[:1], -1)
    grid = [blank, sources[rows:]]
    for i in range(rows):
        grid += [sources[i : i + 1], cells[i]]
    return torch.cat(grid)


@torch.no_grad()
def denoising_steps(generator: nn.Module, n: int, seed: int = 0) -> Tensor:
    """A DDGAN's chain x_T, ..., x_0 for ``n`` seeded latents: ((T + 1) * n, C, H, W),
    row-major with one row per sample."""
    if not isinstance(generator, DenoisesInSteps):
        raise ValueError("the denoising chain needs a model that denoises in steps (a DDGAN)")
    device = next(generator.parameters()).device
    with batch_statistics(generator):
        chain = generator.trajectory(latent(n, generator.latent_size, seed).to(device))
    return torch.stack(chain, dim=1).flatten(0, 1)


def write_sample_files(
    model: str | Path,
    output: Path,
    n: int = 64,
    label: int | None = None,
    seed: int = 0,
    interpolations: int = 4,
    steps: int = 10,
    device: str = "auto",
    engine: str = "auto",
    truncation: float = 1.0,
    style_mix: int = 0,
    chain: bool = False,
) -> list[Path]:
    """``img2img sample``: a grid of ``n`` samples at ``output`` and, when
    ``interpolations`` > 0, a strip of slerp paths at ``<output stem>_slerp<suffix>``
    (one row per path). 2-D models get a scatter plot instead. Style generators take a
    ``truncation`` psi and, with ``style_mix`` = k > 0, write a k x k style-mixing grid at
    ``<stem>_mix<suffix>`` (:func:`style_mix_grid`); a DDGAN with ``chain`` writes its
    denoising steps at ``<stem>_chain<suffix>``. Returns the files written.
    """
    from torchvision.utils import save_image

    device = resolve_device(device)
    generator, config = load_gan(model, device)
    sampler = gan_sampler(generator, engine, device, truncation)
    output.parent.mkdir(parents=True, exist_ok=True)
    classes = generator.num_classes
    labels = sample_labels(classes, n, label)
    fake = sampler(latent(n, generator.latent_size, seed), labels)
    if is_toy(config.data):
        from img2img.reporting import plot_points

        title = f"{n} samples from {model}"
        try:
            real = get_mixture(config.data).sample(n, make_generator(seed, 3))[0]
        except ValueError:  # a CSV target left behind: the samples need no data
            real = fake.new_zeros(0, 2)
            title += f" (target {config.data} not found)"
        plot_points(real, fake, None, output, title=title)
        return [output]
    columns = classes if labels is not None and label is None else math.isqrt(n - 1) + 1
    save_image(fake * 0.5 + 0.5, output, nrow=columns, padding=2)
    written = [output]
    if interpolations > 0:
        path_z = interpolation_latents(generator.latent_size, interpolations, steps, seed)
        path_labels = sample_labels(classes, len(path_z), label)
        if path_labels is not None and label is None:  # one class per row
            path_labels = torch.arange(interpolations).repeat_interleave(steps) % classes
        strip = sampler(path_z, path_labels)
        strip_path = output.with_name(f"{output.stem}_slerp{output.suffix}")
        save_image(strip * 0.5 + 0.5, strip_path, nrow=steps, padding=2)
        written.append(strip_path)
    if style_mix > 0:
        mix_path = output.with_name(f"{output.stem}_mix{output.suffix}")
        grid = style_mix_grid(generator, style_mix, style_mix, seed, truncation=truncation)
        save_image(grid.cpu() * 0.5 + 0.5, mix_path, nrow=style_mix + 1, padding=2)
        written.append(mix_path)
    if chain:
        chain_path = output.with_name(f"{output.stem}_chain{output.suffix}")
        rows = min(n, 8)
        steps_grid = denoising_steps(generator, rows, seed).cpu()
        save_image(steps_grid * 0.5 + 0.5, chain_path, nrow=len(steps_grid) // rows, padding=2)
        written.append(chain_path)
    return written
