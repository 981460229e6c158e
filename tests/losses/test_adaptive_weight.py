"""VQGAN's adaptive weight, a general option of the Adversary.

The expected ratio is written out from the derivatives by hand on a one-layer network, never
by calling autograd the same way, so a missing norm, a swapped ratio or an undetached weight
fails.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from img2img.losses import Adversary
from img2img.losses.weighting import ADAPTIVE_EPS, ADAPTIVE_MAX, adaptive_weight


def _layer() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """out = W x with W (1, 2) = [[0.5, -1]], x = (3, 4): out = -2.5."""
    weight = torch.tensor([[0.5, -1.0]], requires_grad=True)
    x = torch.tensor([3.0, 4.0])
    return weight, x, weight @ x


def test_adaptive_weight_is_the_hand_computed_gradient_norm_ratio() -> None:
    weight, _, out = _layer()
    rec = (out - 1.0).pow(2).sum()  # d/dW = 2 (out - 1) x = -7 (3, 4): norm 7 * 5 = 35
    adv = -3.0 * out.sum()  # d/dW = -3 x: norm 15
    got = adaptive_weight(rec, adv, weight)
    assert got.item() == pytest.approx(35 / (15 + ADAPTIVE_EPS), rel=1e-6)
    assert not got.requires_grad
    rec.backward()  # both graphs were kept: the losses still train the network
    assert weight.grad is not None


def test_adaptive_weight_is_clamped_when_the_adversarial_gradient_vanishes() -> None:
    weight, _, out = _layer()
    rec = (out - 1.0).pow(2).sum()
    adv = 0.0 * out.sum()
    assert adaptive_weight(rec, adv, weight).item() == ADAPTIVE_MAX  # 35 / 1e-4 > 1e4


class _Critic(nn.Module):
    """D(y) = 2 y (no parameters of interest but one, frozen on the generator's turn)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.scale * y


def test_adversary_loss_scales_its_term_by_the_detached_weight() -> None:
    weight, _, out = _layer()
    adversary = Adversary(_Critic(), "hinge")
    rec = (out - 1.0).pow(2).sum()
    # hinge g_loss = -mean D(out) = -2 out = 5; d/dW = -2 x: norm 10 -> lambda = 35 / 10.
    loss = adversary.loss(out.reshape(1, 1), adaptive_to=(rec, weight))
    expected_lambda = 35 / (10 + ADAPTIVE_EPS)
    assert loss.item() == pytest.approx(expected_lambda * 5.0, rel=1e-6)
    assert adversary.last_adaptive_weight == pytest.approx(expected_lambda, rel=1e-6)
    loss.backward()  # lambda is a constant: the gradient is lambda * d g_loss / dW
    expected = [-2 * expected_lambda * 3.0, -2 * expected_lambda * 4.0]
    assert weight.grad.flatten().tolist() == pytest.approx(expected, rel=1e-6)
    assert adversary.discriminator.scale.grad is None  # D stays frozen on G's turn


def test_without_adaptive_to_the_adversary_loss_is_unchanged() -> None:
    _, _, out = _layer()
    adversary = Adversary(_Critic(), "hinge")
    assert adversary.loss(out.reshape(1, 1)).item() == pytest.approx(5.0)
    assert adversary.last_adaptive_weight is None
    assert math.isclose(ADAPTIVE_EPS, 1e-4) and ADAPTIVE_MAX == 1e4  # the reference's values


def test_adversary_loss_clamps_at_the_given_maximum() -> None:
    weight, _, out = _layer()
    adversary = Adversary(_Critic(), "hinge")
    rec = (out - 1.0).pow(2).sum()  # lambda would be 35 / 10 = 3.5
    loss = adversary.loss(out.reshape(1, 1), adaptive_to=(rec, weight), adaptive_max=0.25)
    assert adversary.last_adaptive_weight == 0.25
    assert loss.item() == pytest.approx(0.25 * 5.0, rel=1e-6)


def test_a_weight_below_one_is_kept() -> None:
    """Only [0, max_weight] is enforced: a reconstruction gradient 4x smaller than the
    adversarial one gives 0.25."""
    layer = torch.ones(3, requires_grad=True)
    weight = adaptive_weight((layer * 1.0).sum(), (layer * 4.0).sum(), layer)
    assert weight.item() == pytest.approx(0.25, abs=1e-4)  # eps in the denominator
