"""Drawing from a trained GAN: ``img2img sample`` and the demo's sampling tab.

Beside :mod:`img2img.infer` (which translates images), this module turns noise into images
with a saved generator: fixed latents from seeded generators (never the global RNG, so the
same seed gives the same grid on any machine), labels for class-conditional models, slerp
paths between latents, and the files ``img2img sample`` writes. Batch-norm layers use the
batch's statistics, as in training (:func:`img2img.tasks.gan.generate`).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor, nn

from img2img.data.toy import get_mixture
from img2img.data.transforms import make_generator
from img2img.devices import resolve_device
from img2img.infer import load_generator
from img2img.tasks.gan import GANConfig, generate, latent


def load_gan(model: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, GANConfig]:
    """A trained GAN generator (in eval mode, on ``device``) and its config, from any model
    :func:`img2img.infer.load_generator` reads; a model of another task is refused, since
    only a GAN draws images from noise."""
    generator, config = load_generator(model, device=device)
    if not isinstance(config, GANConfig):
        raise ValueError(f"{model}: a {config.task!r} model, not a GAN; `sample` needs --task gan")
    return generator, config


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


def sample_labels(config: GANConfig, n: int, label: int | None) -> Tensor | None:
    """Labels for ``n`` samples: all ``label``, or cycling through the classes; None when the
    model is unconditional (where asking for a label is an error)."""
    if not config.conditional:
        if label is not None:
            raise ValueError("--label needs a class-conditional model (trained with --conditional)")
        return None
    if label is not None and not 0 <= label < config.num_classes:
        raise ValueError(f"--label {label}: the model knows classes 0..{config.num_classes - 1}")
    return torch.full((n,), label) if label is not None else torch.arange(n) % config.num_classes


def interpolation_latents(z_dim: int, rows: int, steps: int, seed: int) -> Tensor:
    """``rows`` slerp paths of ``steps`` points each between random pairs of latents:
    (rows * steps, z_dim), row-major (each row one path)."""
    ends = latent(2 * rows, z_dim, seed + 1).reshape(rows, 2, z_dim)
    t = torch.linspace(0, 1, steps)[None, :, None]
    return slerp(ends[:, :1], ends[:, 1:], t).reshape(rows * steps, z_dim)


def write_sample_files(
    model: str | Path,
    output: Path,
    n: int = 64,
    label: int | None = None,
    seed: int = 0,
    interpolations: int = 4,
    steps: int = 10,
    device: str = "auto",
) -> list[Path]:
    """``img2img sample``: a grid of ``n`` samples at ``output`` and, when
    ``interpolations`` > 0, a strip of slerp paths at ``<output stem>_slerp<suffix>``
    (one row per path). 2-D models get a scatter plot instead. Returns the files written.
    """
    from torchvision.utils import save_image

    device = resolve_device(device)
    generator, config = load_gan(model, device)
    output.parent.mkdir(parents=True, exist_ok=True)
    labels = sample_labels(config, n, label)
    z = latent(n, config.z_dim, seed)
    fake = generate(generator, z.to(device), None if labels is None else labels.to(device)).cpu()
    if config.net == "mlp":
        from img2img.reporting import plot_points

        real = get_mixture(config.data).sample(n, make_generator(seed, 3))[0]
        plot_points(real, fake, None, output, title=f"{n} samples from {model}")
        return [output]
    columns = config.num_classes if labels is not None and label is None else math.isqrt(n - 1) + 1
    save_image(fake * 0.5 + 0.5, output, nrow=columns, padding=2)
    written = [output]
    if interpolations > 0:
        path_z = interpolation_latents(config.z_dim, interpolations, steps, seed)
        path_labels = sample_labels(config, len(path_z), label)
        if path_labels is not None and label is None:  # one class per row
            path_labels = torch.arange(interpolations).repeat_interleave(steps) % config.num_classes
        strip = generate(
            generator,
            path_z.to(device),
            None if path_labels is None else path_labels.to(device),
        ).cpu()
        strip_path = output.with_name(f"{output.stem}_slerp{output.suffix}")
        save_image(strip * 0.5 + 0.5, strip_path, nrow=steps, padding=2)
        written.append(strip_path)
    return written
