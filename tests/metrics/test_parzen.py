"""Parzen-window log likelihood against a Gaussian whose log likelihood is known."""

from __future__ import annotations

import math

import torch

from img2img.metrics.parzen import parzen_estimate, parzen_log_likelihood


def test_single_sample_kernel_is_the_gaussian_density() -> None:
    x, s = torch.tensor([[0.3, -0.2]]), torch.zeros(1, 2)
    expected = -0.5 * (0.3**2 + 0.2**2) / 0.25 - math.log(2 * math.pi * 0.25)
    assert abs(float(parzen_log_likelihood(x, s, sigma=0.5)) - expected) < 1e-5


def test_estimate_approaches_the_true_log_likelihood_as_samples_grow() -> None:
    generator = torch.Generator().manual_seed(0)
    dim = 3
    test = torch.randn(1000, dim, generator=generator)
    validation = torch.randn(500, dim, generator=generator)
    true = -0.5 * dim * (math.log(2 * math.pi) + 1)  # E[log N(x; 0, I)]
    errors = []
    for count in (30, 300, 3000):
        samples = torch.randn(count, dim, generator=generator)
        result = parzen_estimate(test, validation, samples, sigmas=torch.logspace(-1.5, 0.3, 16))
        errors.append(abs(result["log_likelihood"] - true))
    print(f"|Parzen - true| for 30, 300, 3000 samples: {errors}")
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.1
