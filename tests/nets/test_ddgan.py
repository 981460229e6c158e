"""DDGAN's schedule and posterior against their closed forms, the T-step chain, and the
time-conditional discriminator's inputs."""

from __future__ import annotations

import math

import pytest
import torch

from img2img.nets.ddgan import (
    Denoiser,
    DenoisingChain,
    TimeDiscriminator,
    posterior_sample,
    q_sample_pairs,
    vp_schedule,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_marginals_follow_the_vp_sde(steps: int) -> None:
    schedule = vp_schedule(steps, beta_min=0.1, beta_max=20.0)
    for i in range(steps + 1):
        t = i / steps * (1 - 1e-3) + 1e-3
        alpha_bar = math.exp(-0.5 * t**2 * 19.9 - 0.1 * t)  # exp(2 * log mean coefficient)
        if i > 0:  # a_cum[0] carries the reference's beta_0 = 1e-8 instead of t = 1e-3
            ratio = alpha_bar / math.exp(-0.5 * 1e-6 * 19.9 - 1e-4)
            assert schedule.a_cum[i].item() ** 2 == pytest.approx(ratio, rel=1e-4)
        assert schedule.a_cum[i] ** 2 + schedule.sigma_cum[i] ** 2 == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_posterior_mean_and_variance_equal_the_gaussian_closed_form(steps: int) -> None:
    """q(x_t | x_{t+1}, x_0) ∝ N(x_{t+1}; a x_t, s^2) N(x_t; a_cum x_0, sc^2): precision
    a^2 / s^2 + 1 / sc^2, mean var * (a x_{t+1} / s^2 + a_cum x_0 / sc^2)."""
    s = vp_schedule(steps)
    x0, x_next = torch.tensor(0.7, dtype=torch.float64), torch.tensor(-0.3, dtype=torch.float64)
    for t in range(1, steps):  # t = 0's prior variance is 1e-8: checked below separately
        a, var_step = s.a[t + 1].double(), s.sigma[t + 1].double() ** 2
        a_cum, var_cum = s.a_cum[t].double(), s.sigma_cum[t].double() ** 2
        var = 1 / (a**2 / var_step + 1 / var_cum)
        mean = var * (a * x_next / var_step + a_cum * x0 / var_cum)
        assert s.posterior_var[t].item() == pytest.approx(var.item(), rel=1e-4)
        got = s.posterior_mean_x0[t] * x0 + s.posterior_mean_xt[t] * x_next
        assert got.item() == pytest.approx(mean.item(), rel=1e-4, abs=1e-6)
    # The last step lands on x_0 itself: no variance, mean x_0.
    assert s.posterior_var[0].item() == pytest.approx(0, abs=1e-6)
    assert s.posterior_mean_x0[0].item() == pytest.approx(1, abs=1e-6)
    assert s.posterior_mean_xt[0].item() == pytest.approx(0, abs=1e-6)


def test_posterior_sample_adds_noise_except_at_the_last_step() -> None:
    s = vp_schedule(4)
    x0, x_next, noise = torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4), torch.ones(2, 1, 4, 4)
    out = posterior_sample(s, x0, x_next, torch.tensor([0, 2]), noise)
    assert torch.allclose(out[0], torch.zeros(1, 4, 4), atol=1e-6)
    expected = s.posterior_mean_xt[2] + s.posterior_var[2].sqrt()
    assert torch.allclose(out[1], expected.expand(1, 4, 4))


@pytest.mark.parametrize("steps", [1, 4])
def test_the_chain_runs_t_steps_from_one_latent(steps: int) -> None:
    torch.manual_seed(0)
    denoiser = Denoiser(channels=1, ngf=4, z_dim=8, t_dim=16)
    chain = DenoisingChain(denoiser, steps=steps, image_size=12, channels=1, z_dim=8).eval()
    assert chain.latent_size == steps * (144 + 8)
    latent = torch.randn(3, chain.latent_size)
    with torch.no_grad():
        trajectory = chain.trajectory(latent)
        assert len(trajectory) == steps + 1
        assert all(x.shape == (3, 1, 12, 12) for x in trajectory)
        assert torch.equal(trajectory[0], latent[:, :144].reshape(3, 1, 12, 12))  # x_T
        assert torch.equal(chain(latent), trajectory[-1])
        if steps == 1:  # a plain GAN: the output is G's x0 from x_1
            z = latent[:, 144:]
            x0 = denoiser(trajectory[0], torch.zeros(3, dtype=torch.long), z)
            assert torch.allclose(trajectory[-1], x0, atol=1e-5)
    with pytest.raises(ValueError, match="latents of size"):
        chain(torch.randn(2, 10))


def test_pairs_and_the_discriminator_see_x_t_x_next_and_t() -> None:
    torch.manual_seed(0)
    schedule = vp_schedule(4)
    x0 = torch.rand(5, 1, 8, 8) * 2 - 1
    t = torch.tensor([0, 1, 2, 3, 3])
    x_t, x_next = q_sample_pairs(schedule, x0, t)
    assert torch.allclose(x_t[0], x0[0], atol=1e-3)  # t = 0 is the data
    assert x_next[3:].std() > 0.8  # x_4 is almost pure noise
    discriminator = TimeDiscriminator(image_size=8, channels=1, ndf=4, t_dim=16)
    logits = discriminator(x_t, (x_next, t))
    assert logits.shape == (5,)
    other_time = discriminator(x_t, (x_next, torch.tensor([3, 2, 1, 0, 0])))
    other_pair = discriminator(x_t, (torch.zeros_like(x_next), t))
    assert not torch.allclose(logits, other_time) and not torch.allclose(logits, other_pair)
