"""Denoising Diffusion GAN networks (Xiao et al. 2022, NVlabs/denoising-diffusion-gan): a
few large denoising steps, each a conditional GAN.

- :func:`vp_schedule`: the reference's variance-preserving schedule for T steps
  (``get_sigma_schedule``: t in (0, 1], beta_min 0.1, beta_max 20) and the posterior
  coefficients of q(x_{t-1} | x_t, x_0).
- :class:`Denoiser`: x0 = G(x_t, t, z), a small U-Net whose blocks are modulated by the time
  embedding and the latent z (the reference's NCSN++ with AdaGN; a 3-level conv U-Net here,
  small enough for CPU budgets).
- :class:`TimeDiscriminator`: D(x_{t-1}, x_t, t) -> logits (N,), called as ``D(x_{t-1},
  (x_t, t))`` so the Adversary's ``condition=`` carries (x_t, t) and R1 differentiates
  x_{t-1} alone (as the reference's ``grad_penalty`` does).
- :class:`DenoisingChain`: the model ``img2img sample`` runs: one Gaussian latent vector in,
  an image out after T denoising steps.

Indexing follows the reference: the data is x_0, a training pair is (x_t, x_{t+1}) with t in
{0, ..., T-1}, the generator denoises x_{t+1} with time index t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2img.nets.dcgan import dcgan_layout


@dataclass
class Schedule:
    """The tensors of a T-step VP schedule (float32, shape (T + 1,) or (T,)).

    - ``a_cum[t]``, ``sigma_cum[t]``: x_t = a_cum[t] x_0 + sigma_cum[t] eps, t = 0..T
      (t = 0 is the data up to beta ~ 1e-8).
    - ``a[t]``, ``sigma[t]``: one forward step x_t = a[t] x_{t-1} + sigma[t] eps.
    - ``posterior_mean_x0[t]``, ``posterior_mean_xt[t]``, ``posterior_var[t]``, t = 0..T-1:
      q(x_t | x_{t+1}, x_0) = N(mean_x0 x_0 + mean_xt x_{t+1}, var).
    """

    a_cum: Tensor
    sigma_cum: Tensor
    a: Tensor
    sigma: Tensor
    posterior_mean_x0: Tensor
    posterior_mean_xt: Tensor
    posterior_var: Tensor


def vp_schedule(steps: int, beta_min: float = 0.1, beta_max: float = 20.0) -> Schedule:
    """The reference's schedule: t_i = i / T * (1 - 1e-3) + 1e-3, alpha_bar(t) =
    exp(-t^2 (beta_max - beta_min) / 2 - t beta_min) (the VP SDE's marginal), betas from
    consecutive ratios, beta_0 = 1e-8; computed in float64, returned as float32."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    t = torch.arange(steps + 1, dtype=torch.float64) / steps * (1 - 1e-3) + 1e-3
    log_mean = -0.25 * t**2 * (beta_max - beta_min) - 0.5 * t * beta_min
    alpha_bar = torch.exp(2 * log_mean)
    betas = torch.cat(
        [torch.tensor([1e-8], dtype=torch.float64), 1 - alpha_bar[1:] / alpha_bar[:-1]]
    )
    a = (1 - betas).sqrt()
    a_cum = a.cumprod(0)
    # Posterior of the T steps (betas[1:]): alphas_cumprod over those steps only, as the
    # reference's Posterior_Coefficients.
    b = betas[1:]
    acp = (1 - b).cumprod(0)
    acp_prev = torch.cat([torch.ones(1, dtype=torch.float64), acp[:-1]])
    f32 = {"dtype": torch.float32}
    return Schedule(
        a_cum=a_cum.to(**f32),
        sigma_cum=(1 - a_cum**2).sqrt().to(**f32),
        a=a.to(**f32),
        sigma=betas.sqrt().to(**f32),
        posterior_mean_x0=(b * acp_prev.sqrt() / (1 - acp)).to(**f32),
        posterior_mean_xt=((1 - acp_prev) * (1 - b).sqrt() / (1 - acp)).to(**f32),
        posterior_var=(b * (1 - acp_prev) / (1 - acp)).to(**f32),
    )


def _at(values: Tensor, t: Tensor) -> Tensor:
    """values[t] shaped (N, 1, 1, 1) for broadcasting over images."""
    return values.to(t.device)[t].reshape(-1, 1, 1, 1)


def q_sample_pairs(schedule: Schedule, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """(x_t, x_{t+1}) for data x0 (N, C, H, W) and time indices t (N,) in 0..T-1."""
    x_t = _at(schedule.a_cum, t) * x0 + _at(schedule.sigma_cum, t) * torch.randn_like(x0)
    x_next = _at(schedule.a, t + 1) * x_t + _at(schedule.sigma, t + 1) * torch.randn_like(x0)
    return x_t, x_next


def posterior_sample(
    schedule: Schedule, x0: Tensor, x_next: Tensor, t: Tensor, noise: Tensor
) -> Tensor:
    """x_t ~ q(x_t | x_{t+1}, x_0) with the given standard normal ``noise``; the last step
    (t = 0) returns the mean, as in the reference."""
    mean = _at(schedule.posterior_mean_x0, t) * x0 + _at(schedule.posterior_mean_xt, t) * x_next
    std = _at(schedule.posterior_var, t).clamp_min(1e-20).sqrt()
    return mean + (t > 0).reshape(-1, 1, 1, 1).to(x0.dtype) * std * noise


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of integer steps t (N,) -> (N, dim) (Vaswani et al.; DDPM)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class FiLMBlock(nn.Module):
    """conv 3x3 (stride 1 or 2) -> GroupNorm -> scale/shift from a conditioning vector ->
    SiLU: the AdaGN of the reference's residual blocks, without the residual."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride, 1)
        self.norm = nn.GroupNorm(min(8, out_channels), out_channels, affine=False)
        self.film = nn.Linear(cond_dim, 2 * out_channels)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        scale, shift = self.film(cond)[:, :, None, None].chunk(2, dim=1)
        return F.silu(self.norm(self.conv(x)) * (1 + scale) + shift)


class Denoiser(nn.Module):
    """x0 = G(x_{t+1} (N, C, S, S), t (N,), z (N, z_dim)) in [-1, 1] (tanh): a U-Net with two
    2x downsamplings (S divisible by 4), each block modulated by MLP([emb(t), z])."""

    def __init__(self, channels: int = 3, ngf: int = 64, z_dim: int = 100, t_dim: int = 128):
        super().__init__()
        self.t_dim = t_dim
        cond = 4 * ngf
        self.cond = nn.Sequential(
            nn.Linear(t_dim + z_dim, cond), nn.SiLU(), nn.Linear(cond, cond), nn.SiLU()
        )
        self.inc = FiLMBlock(channels, ngf, cond)
        self.down1 = FiLMBlock(ngf, 2 * ngf, cond, stride=2)
        self.down2 = FiLMBlock(2 * ngf, 4 * ngf, cond, stride=2)
        self.mid = FiLMBlock(4 * ngf, 4 * ngf, cond)
        self.up2 = FiLMBlock(6 * ngf, 2 * ngf, cond)
        self.up1 = FiLMBlock(3 * ngf, ngf, cond)
        self.out = nn.Conv2d(2 * ngf, channels, 3, 1, 1)

    def forward(self, x: Tensor, t: Tensor, z: Tensor) -> Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"the DDGAN denoiser needs sides divisible by 4, got {x.shape}")
        c = self.cond(torch.cat([timestep_embedding(t, self.t_dim).to(z.dtype), z], dim=1))
        h0 = self.inc(x, c)
        h1 = self.down1(h0, c)
        h2 = self.mid(self.down2(h1, c), c)
        up = self.up2(torch.cat([F.interpolate(h2, scale_factor=2), h1], dim=1), c)
        up = self.up1(torch.cat([F.interpolate(up, scale_factor=2), h0], dim=1), c)
        return torch.tanh(self.out(torch.cat([up, h0], dim=1)))


class TimeDiscriminator(nn.Module):
    """D(x_t (N, C, S, S), (x_{t+1}, t)) -> logits (N,): the pair concatenated on channels,
    strided convs (no normalisation: R1 is per sample) with the time embedding added to
    each layer's channels, and a full-size conv head (the DCGAN discriminator's layout)."""

    def __init__(
        self, image_size: int = 32, channels: int = 3, ndf: int = 64, t_dim: int = 128
    ) -> None:
        super().__init__()
        base, k = dcgan_layout(image_size)
        self.t_dim = t_dim
        widths = [ndf * 2**i for i in range(k)]
        self.convs = nn.ModuleList()
        self.t_proj = nn.ModuleList()
        in_channels = 2 * channels
        for width in widths:
            self.convs.append(nn.Conv2d(in_channels, width, 4, 2, 1))
            self.t_proj.append(nn.Linear(t_dim, width))
            in_channels = width
        self.head = nn.Conv2d(widths[-1], 1, base, 1, 0)

    def forward(self, x: Tensor, condition: tuple[Tensor, Tensor]) -> Tensor:
        x_next, t = condition
        emb = timestep_embedding(t, self.t_dim).to(x.dtype)
        h = torch.cat([x, x_next], dim=1)
        for conv, proj in zip(self.convs, self.t_proj, strict=True):
            h = F.leaky_relu(conv(h) + proj(emb)[:, :, None, None], 0.2)
        return self.head(h).flatten()


class DenoisingChain(nn.Module):
    """latent (N, latent_size) -> images (N, C, S, S): T denoising steps from x_T.

    A sample is a deterministic function of one standard normal vector holding x_T, the
    posterior noise of each step and each step's z, so fixed-latent grids, slerp paths and
    seeded sampling work as for any GAN. ``latent_size = steps * (C * S * S + z_dim)``.
    """

    def __init__(
        self,
        denoiser: Denoiser,
        steps: int,
        image_size: int,
        channels: int,
        z_dim: int,
        beta_min: float = 0.1,
        beta_max: float = 20.0,
    ) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.steps, self.z_dim = steps, z_dim
        self.num_classes = 0  # unconditional (nets.capabilities.DrawsFromNoise)
        self.image_shape = (channels, image_size, image_size)
        self.schedule = vp_schedule(steps, beta_min, beta_max)

    @property
    def latent_size(self) -> int:
        return self.steps * (math.prod(self.image_shape) + self.z_dim)

    def trajectory(self, latent: Tensor) -> list[Tensor]:
        """[x_T, x_{T-1}, ..., x_0]: every step of the chain for ``latent``."""
        if latent.shape[1] != self.latent_size:
            raise ValueError(
                f"a {self.steps}-step DDGAN takes latents of size {self.latent_size}, "
                f"got {tuple(latent.shape)}"
            )
        # No batch size is read (-1, zeros_like), so exported graphs keep it dynamic.
        pixels = math.prod(self.image_shape)
        images, zs = latent.split([self.steps * pixels, self.steps * self.z_dim], dim=1)
        noises = images.reshape(-1, self.steps, *self.image_shape).unbind(1)
        zs = zs.reshape(-1, self.steps, self.z_dim).unbind(1)
        x = noises[0]
        chain = [x]
        for i, step in enumerate(reversed(range(self.steps))):
            t = torch.zeros_like(zs[i][:, 0], dtype=torch.long) + step
            x0 = self.denoiser(x, t, zs[i])
            # The last step's noise is unused (t = 0 returns the posterior mean).
            x = posterior_sample(self.schedule, x0, x, t, noises[(i + 1) % self.steps])
            chain.append(x)
        return chain

    def forward(self, latent: Tensor, labels: Tensor | None = None) -> Tensor:
        if labels is not None:
            raise ValueError("the DDGAN is unconditional: pass no labels")
        return self.trajectory(latent)[-1]
