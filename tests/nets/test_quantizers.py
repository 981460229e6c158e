"""Bottlenecks and their losses: straight-through gradients, hand-computed codebook,
commitment and KL values, the EMA codebook's update and dead-code restart, usage and
perplexity of known assignments."""

from __future__ import annotations

import math

import pytest
import torch

from img2img.losses.quantization import bottleneck_loss, kl_divergence
from img2img.nets.quantizers import (
    DiagonalGaussian,
    EMAVectorQuantizer,
    VectorQuantizer,
    code_statistics,
)


def _two_codes(quantizer: torch.nn.Module) -> torch.nn.Module:
    """Codebook (0, 0) and (10, 0) in 2-D."""
    with torch.no_grad():
        quantizer.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 0.0]]))
    return quantizer


def _latent(*vectors: tuple[float, float]) -> torch.Tensor:
    """(1, 2, 1, len(vectors)): the vectors side by side in a one-row map."""
    return torch.tensor(vectors).t().reshape(1, 2, 1, len(vectors))


def test_vq_picks_the_nearest_code_and_passes_the_gradient_straight_through() -> None:
    quantizer = _two_codes(VectorQuantizer(2, 2))
    z = _latent((1.0, 2.0), (7.0, -1.0)).requires_grad_(True)
    neck = quantizer(z)
    assert neck.codes.tolist() == [[[0, 1]]]
    assert neck.latent.detach().flatten().tolist() == [0.0, 10.0, 0.0, 0.0]  # channel-major
    upstream = torch.arange(4.0).reshape(1, 2, 1, 2)
    (neck.latent * upstream).sum().backward()
    assert torch.equal(z.grad, upstream)  # the decoder's gradient reaches the encoder as is


def test_codebook_and_commitment_losses_equal_hand_computed_values() -> None:
    quantizer = _two_codes(VectorQuantizer(2, 2))
    z = _latent((1.0, 2.0), (7.0, -1.0)).requires_grad_(True)
    loss, logs = bottleneck_loss(quantizer(z), image_elements=12, beta=0.25)
    # Squared distances to the codes: (1 + 4) and (9 + 1), mean over the 4 elements.
    assert logs["codebook"] == pytest.approx(15 / 4)
    assert logs["commitment"] == pytest.approx(15 / 4)
    assert loss.item() == pytest.approx(15 / 4 * 1.25)
    loss.backward()
    # The codebook term moves the codes towards z; beta * commitment moves z to the codes:
    # d/dz 0.25 * mean (z - q)^2 = 0.25 * 2 (z - q) / 4.
    expected_z = [0.125 * d for d in (1.0 - 0.0, 7.0 - 10.0, 2.0 - 0.0, -1.0 - 0.0)]
    assert z.grad.flatten().tolist() == pytest.approx(expected_z)
    # d/dq mean (q - z)^2 = 2 (q - z) / 4, summed over the vectors each code took.
    expected_book = [0.5 * (0 - 1), 0.5 * (0 - 2), 0.5 * (10 - 7), 0.5 * (0 + 1)]
    assert quantizer.codebook.grad.flatten().tolist() == pytest.approx(expected_book)


def test_ema_codebook_moves_to_the_average_of_its_vectors_and_pays_only_commitment() -> None:
    quantizer = _two_codes(EMAVectorQuantizer(2, 2, decay=0.5, eps=0.0, restart_threshold=0))
    quantizer.embed_sum.copy_(quantizer.codebook)  # counts 1 each: sums equal the codes
    z = _latent((1.0, 2.0), (3.0, 0.0), (9.0, 1.0))
    neck = quantizer(z)
    # Code 0 got (1, 2) and (3, 0): count 0.5 * 1 + 0.5 * 2 = 1.5, sum 0.5 * 0 + 0.5 * (4, 2).
    # Code 1 got (9, 1): count 1, sum 0.5 * (10, 0) + 0.5 * (9, 1) = (9.5, 0.5).
    assert quantizer.cluster_size.tolist() == pytest.approx([1.5, 1.0])
    assert quantizer.codebook.flatten().tolist() == pytest.approx([2 / 1.5, 1 / 1.5, 9.5, 0.5])
    loss, logs = bottleneck_loss(neck, image_elements=18, beta=0.25)
    assert "codebook" not in logs  # the codebook is no parameter: no loss trains it
    commitment = ((1 + 4) + (9 + 0) + (1 + 1)) / 6  # against the codes before the update
    assert loss.item() == pytest.approx(0.25 * commitment)


def test_eval_mode_leaves_the_ema_codebook_alone() -> None:
    quantizer = EMAVectorQuantizer(4, 2).eval()
    before = quantizer.codebook.clone()
    quantizer(torch.randn(2, 2, 3, 3))
    assert torch.equal(quantizer.codebook, before)


def test_dead_codes_restart_on_encoder_outputs_and_usage_recovers() -> None:
    """A toy set of four clusters, a codebook of 8 initialised near 0, far from all of them:
    without restarts the codes the first batch picks drift to averages of several clusters;
    with them every cluster gets a code of its own."""
    torch.manual_seed(0)
    centres = torch.tensor([[5.0, 5.0], [-5.0, 5.0], [5.0, -5.0], [-5.0, -5.0]])

    def batch() -> torch.Tensor:
        points = centres[torch.randint(4, (64,))] + 0.1 * torch.randn(64, 2)
        return points.t().reshape(1, 2, 8, 8)

    covered = {}
    for threshold in (0.0, 1.0):
        quantizer = EMAVectorQuantizer(8, 2, decay=0.9, restart_threshold=threshold)
        quantizer(batch())
        first_restarts = quantizer.restarts
        for _ in range(30):
            quantizer(batch())
        distances = torch.cdist(centres, quantizer.codebook).min(dim=1).values
        covered[threshold] = int((distances < 0.5).sum())
        if threshold:
            assert first_restarts >= 4  # the unused codes of the first batch
            assert len(quantizer.eval()(batch()).codes.unique()) >= 4
    assert covered == {0.0: covered[0.0], 1.0: 4} and covered[0.0] < 4


def test_usage_and_perplexity_of_known_assignments() -> None:
    usage, perplexity = code_statistics(torch.tensor([0, 0, 1, 1]), codebook_size=8)
    assert usage == 2 / 8 and perplexity == pytest.approx(2.0)
    usage, perplexity = code_statistics(torch.tensor([[3, 3, 3, 3]]), codebook_size=4)
    assert usage == 1 / 4 and perplexity == pytest.approx(1.0)
    # Frequencies 1/2, 1/4, 1/4: entropy 1.5 bits -> perplexity 2 ** 1.5.
    _, perplexity = code_statistics(torch.tensor([5, 5, 6, 7]), codebook_size=8)
    assert perplexity == pytest.approx(2**1.5)


def test_kl_bottleneck_samples_in_training_and_pays_the_hand_computed_divergence() -> None:
    mean = torch.tensor([1.0, 0.0]).reshape(1, 2, 1, 1)
    logvar = torch.tensor([0.0, math.log(4.0)]).reshape(1, 2, 1, 1)
    moments = torch.cat([mean, logvar], dim=1)
    gaussian = DiagonalGaussian()
    assert torch.equal(gaussian.eval()(moments).latent, mean)
    torch.manual_seed(0)
    sampled = gaussian.train()(moments)
    torch.manual_seed(0)
    noise = torch.randn(1, 2, 1, 1)
    assert torch.allclose(
        sampled.latent, mean + torch.tensor([1.0, 2.0]).reshape(1, 2, 1, 1) * noise
    )
    # 0.5 * [(1 + 1 - 1 - 0) + (0 + 4 - 1 - log 4)]
    expected = 0.5 * (1.0 + 3.0 - math.log(4.0))
    assert kl_divergence(mean, logvar).item() == pytest.approx(expected)
    loss, logs = bottleneck_loss(sampled, image_elements=100, kl_weight=1e-6)
    assert logs["kl"] == pytest.approx(expected)
    assert loss.item() == pytest.approx(1e-6 * expected / 100)


def test_kl_divergence_is_per_sample_and_squares_the_mean() -> None:
    mean = torch.tensor([[-2.0, 0.0], [0.0, 1.0]]).reshape(2, 2, 1, 1)
    logvar = torch.zeros(2, 2, 1, 1)
    # sample 0: 0.5 * (4 + 0) = 2 (a mean of -2 costs as much as +2); sample 1: 0.5 * 1
    assert kl_divergence(mean, logvar).tolist() == [2.0, 0.5]
