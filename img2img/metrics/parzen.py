"""Parzen-window log-likelihood: the evaluation of the original GAN paper (Goodfellow et al.
2014, after Breuleux et al. 2011).

Fit an isotropic Gaussian kernel density to generated samples and report the mean log
likelihood of held-out data under it; the kernel width sigma is chosen by grid search on a
validation split. It is a poor measure in high dimensions (Theis et al. 2016: it ranks
models unreliably and needs huge sample counts), kept here for comparability with the
paper's MNIST table (GAN: 225 +- 2 nats, images in [0, 1]).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from img2img.data.transforms import make_generator
from img2img.devices import resolve_device
from img2img.sampling import load_gan, sample_labels
from img2img.tasks import get_task
from img2img.tasks.noise import generate, latent


def _log_kde(sq: Tensor, sigma: float, dim: int) -> Tensor:
    """Rows of squared distances (n, M) -> log kernel density (n,) at width ``sigma``."""
    const = math.log(sq.shape[1]) + 0.5 * dim * math.log(2 * math.pi * sigma**2)
    return torch.logsumexp(-sq / (2 * sigma**2), dim=1) - const


def _squared_distances(data: Tensor, samples: Tensor, start: int, chunk: int) -> Tensor:
    x = data[start : start + chunk].reshape(-1, samples[0].numel()).double()
    return torch.cdist(x, samples.reshape(len(samples), -1).double()).pow(2)


def parzen_log_likelihood(data: Tensor, samples: Tensor, sigma: float, chunk: int = 256) -> Tensor:
    """log p(x) for each row of ``data`` (N, ...) under the kernel density of ``samples``
    (M, ...) with width ``sigma``: ``logsumexp_i(-|x - s_i|^2 / 2 sigma^2) - log M -
    D/2 log(2 pi sigma^2)``. Returns (N,) in nats; rows are flattened."""
    dim = samples[0].numel()
    parts = [
        _log_kde(_squared_distances(data, samples, start, chunk), sigma, dim)
        for start in range(0, len(data), chunk)
    ]
    return torch.cat(parts).float()


def choose_sigma(
    validation: Tensor, samples: Tensor, sigmas: Tensor | None = None, chunk: int = 256
) -> float:
    """The sigma of ``sigmas`` (default: 20 values log-spaced in [0.05, 1], the paper's
    range for [0, 1] images) with the highest mean log likelihood on ``validation``.
    Distances are computed once per chunk and reused for every sigma."""
    sigmas = torch.logspace(math.log10(0.05), 0, 20) if sigmas is None else sigmas
    dim = samples[0].numel()
    totals = torch.zeros(len(sigmas), dtype=torch.float64)
    for start in range(0, len(validation), chunk):
        sq = _squared_distances(validation, samples, start, chunk)
        totals += torch.stack([_log_kde(sq, float(s), dim).sum() for s in sigmas])
    return float(sigmas[int(totals.argmax())])


def parzen_estimate(
    test: Tensor, validation: Tensor, samples: Tensor, sigmas: Tensor | None = None
) -> dict[str, float]:
    """Mean Parzen log likelihood of ``test`` with sigma chosen on ``validation``:
    ``{"log_likelihood": mean, "stderr": standard error, "sigma": chosen width}``."""
    sigma = choose_sigma(validation, samples, sigmas)
    values = parzen_log_likelihood(test, samples, sigma)
    return {
        "log_likelihood": float(values.mean()),
        "stderr": float(values.std() / math.sqrt(len(values))),
        "sigma": sigma,
    }


def evaluate_parzen(
    model: str | Path,
    samples: int = 10_000,
    held_out: int = 2_000,
    seed: int = 0,
    device: str = "auto",
) -> dict[str, float]:
    """Parzen-window log likelihood (nats) of held-out images under ``samples`` generated
    ones, images in [0, 1] as in Goodfellow et al. (2014); sigma is chosen on a separate
    validation split. Held-out data is the test split when the data set has one, else the
    training images, and ``"seen"`` in the result is True (the model trained on them).
    Returns ``{"log_likelihood", "stderr", "sigma", "seen"}``."""
    device = resolve_device(device)
    generator, config = load_gan(model, device)
    task = get_task(config.task)
    test_split = task.dataset(config, "test")
    dataset = test_split or task.dataset(config, "train")
    count = min(held_out, len(dataset) // 2)
    indices = torch.randperm(len(dataset), generator=make_generator(seed, 5))[: 2 * count]
    real = torch.stack([dataset[int(i)]["image"] for i in indices]) * 0.5 + 0.5
    labels = sample_labels(generator.num_classes, samples, None)
    fake = (
        torch.cat(
            [
                generate(
                    generator,
                    z.to(device),
                    None if labels is None else labels[i : i + 500].to(device),
                )
                for i, z in zip(
                    range(0, samples, 500),
                    latent(samples, generator.latent_size, seed).split(500),
                    strict=True,
                )
            ]
        ).cpu()
        * 0.5
        + 0.5
    )
    return {**parzen_estimate(real[:count], real[count:], fake), "seen": test_split is None}
