"""The Adversary with several discriminators and their features (pix2pixHD).

Hand-computed values use explicit numbers; the multi-scale discriminators are stubs whose
logits and features are known functions of the input.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from img2img.losses import Adversary, gradient_penalty, r1_penalty
from img2img.losses.feature_matching import feature_matching_loss
from img2img.nets.multiscale import MultiScaleDiscriminator
from img2img.nets.outputs import DiscriminatorOutput


class TwoScales(nn.Module):
    """Scale 0: logits w0 * x; scale 1: logits w1 * mean(x) per sample; features x * w0
    and (x * w1) ** 2."""

    def __init__(self) -> None:
        super().__init__()
        self.w0 = nn.Parameter(torch.tensor(2.0))
        self.w1 = nn.Parameter(torch.tensor(-1.0))

    def forward(self, x: torch.Tensor) -> DiscriminatorOutput:
        logits = [self.w0 * x, self.w1 * x.mean(dim=(1, 2, 3), keepdim=True)]
        return DiscriminatorOutput(logits, features=[[self.w0 * x], [(self.w1 * x) ** 2]])


def test_feature_matching_matches_hand_computed_l1() -> None:
    fake = [[torch.tensor([1.0, 2.0]), torch.tensor([0.0])], [torch.tensor([3.0, 3.0, 3.0])]]
    real = [[torch.tensor([0.0, 4.0]), torch.tensor([1.0])], [torch.tensor([1.0, 3.0, 2.0])]]
    # scale 0: 2 maps, weight 4/2 * 1/2 = 1: |1-0|,|2-4| -> 1.5; |0-1| -> 1
    # scale 1: 1 map, weight 4/1 * 1/2 = 2: (2 + 0 + 1) / 3 = 1
    assert feature_matching_loss(fake, real).item() == pytest.approx(1.5 + 1.0 + 2 * 1.0)
    assert feature_matching_loss(real, real).item() == 0.0
    with pytest.raises(ValueError, match="2 scales of fake features against 1"):
        feature_matching_loss(fake, real[:1])


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_feature_matching_reaches_the_generator_never_the_discriminator(
    spectral_norm: bool,
) -> None:
    """Also through spectral norm's parametrized weights (their originals are constants)."""
    torch.manual_seed(0)
    discriminator = MultiScaleDiscriminator(
        num_d=2, in_channels=3, ndf=4, n_layers=1, spectral_norm=spectral_norm
    )
    adversary = Adversary(discriminator, "lsgan")
    real = torch.randn(2, 3, 32, 32, requires_grad=True)
    fake = torch.randn(2, 3, 32, 32, requires_grad=True)
    loss = adversary.feature_matching(fake, real)
    assert loss.item() > 0
    loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert real.grad is None, "real features are targets: no gradient through them"
    assert all(p.grad is None for p in adversary.discriminator.parameters())
    assert all(p.requires_grad for p in adversary.discriminator.parameters())
    # Each training forward advances spectral norm's power iteration, so the real pass
    # sees a slightly different normalised weight than the fake one.
    same = adversary.feature_matching(real, real).item()
    assert same == 0.0 if not spectral_norm else 0.0 <= same < 1e-3


def test_feature_matching_over_the_stub_is_hand_computed() -> None:
    adversary = Adversary(TwoScales(), "lsgan")
    fake, real = torch.full((1, 1, 1, 2), 1.0), torch.full((1, 1, 1, 2), 3.0)
    # scale 0: 4/1 * 1/2 * |2*1 - 2*3| = 8; scale 1: 2 * |1 - 9| = 16
    assert adversary.feature_matching(fake, real).item() == pytest.approx(24.0)


def test_feature_matching_needs_a_discriminator_with_features() -> None:
    adversary = Adversary(nn.Conv2d(3, 1, 3), "lsgan")
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match=r"returns its features.*Conv2d returned Tensor"):
        adversary.feature_matching(x, x)


def test_objective_is_summed_over_scales() -> None:
    adversary = Adversary(TwoScales(), "lsgan", d_loss_weight=0.5)
    real = torch.tensor([1.0, 0.0]).reshape(1, 1, 1, 2)
    fake = torch.tensor([-1.0, 1.0]).reshape(1, 1, 1, 2)
    # scale 0 logits: real (2, 0), fake (-2, 2); scale 1: real -0.5, fake 0
    d_scale0 = ((2 - 1) ** 2 + (0 - 1) ** 2) / 2 + (4 + 4) / 2
    d_scale1 = (-0.5 - 1) ** 2 + 0.0
    loss, logs = adversary.d_loss(real, fake)
    assert loss.item() == pytest.approx(0.5 * (d_scale0 + d_scale1))
    assert logs["d_real"] == pytest.approx((1.0 + -0.5) / 2)  # mean of the scales' means
    g_scale0 = ((-2 - 1) ** 2 + (2 - 1) ** 2) / 2
    assert adversary.loss(fake).item() == pytest.approx(g_scale0 + (0 - 1) ** 2)


def test_penalties_use_the_per_sample_mean_over_scales() -> None:
    """For TwoScales the per-sample mean over scales is (w0 + w1) / 2 * mean(x) = 0.5 *
    mean(x), whose input gradient is 0.5 / n per pixel: R1 = 0.5 * n * (0.5 / n)^2."""
    adversary = Adversary(TwoScales(), "lsgan")
    x = torch.randn(3, 1, 2, 2, requires_grad=True)
    n = 4
    r1 = r1_penalty(adversary.discriminator(x), x)
    assert r1.item() == pytest.approx(0.5 * n * (0.5 / n) ** 2)
    gp = gradient_penalty(adversary.discriminator, x, torch.randn(3, 1, 2, 2))
    norm = (n * (0.5 / n) ** 2) ** 0.5
    assert gp.item() == pytest.approx((norm - 1) ** 2, rel=1e-5)
    penalised = Adversary(TwoScales(), "lsgan", r1_weight=1.0)
    _, logs = penalised.d_loss(x, torch.randn(3, 1, 2, 2))
    assert logs["r1"] == pytest.approx(r1.item())


def test_adversary_trains_every_scale_and_resumes_exactly() -> None:
    torch.manual_seed(0)

    def make() -> Adversary:
        torch.manual_seed(1)
        return Adversary(MultiScaleDiscriminator(num_d=2, in_channels=3, ndf=4, n_layers=1))

    batches = [(torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)) for _ in range(4)]
    straight = make()
    before = [p.detach().clone() for p in straight.parameters()]
    for real, fake in batches:
        straight.update(real, fake)
    assert all(not torch.equal(a, b) for a, b in zip(before, straight.parameters(), strict=True))
    state = straight.stepper.optimizer.state
    assert len(state) == len(before), "every scale's parameters have their own Adam moments"

    first = make()
    for real, fake in batches[:2]:
        first.update(real, fake)
    resumed = make()
    resumed.load_state_dict(first.state_dict())
    for real, fake in batches[2:]:
        resumed.update(real, fake)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        if isinstance(a, torch.Tensor):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_feature_matching_of_one_scale_and_one_layer_is_four_l1() -> None:
    fake, real = torch.zeros(2, 3), torch.full((2, 3), 0.5)
    assert feature_matching_loss([[fake]], [[real]]).item() == pytest.approx(4 * 0.5)
