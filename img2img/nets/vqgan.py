"""The VQGAN / KL autoencoder (Esser et al. 2021; Rombach et al. 2022), after
taming-transformers' ``taming/modules/diffusionmodules/model.py``.

Encoder: a 3x3 convolution, then one level per entry of ``channel_mult`` with
``res_blocks`` residual blocks (GroupNorm(32), swish) at ``channels * mult`` filters, a
stride-2 convolution between levels; a middle of block, self-attention, block; GroupNorm,
swish and a convolution to the latent width. The decoder mirrors it (``res_blocks + 1``
blocks a level, nearest-neighbour upsampling and a convolution between levels) and ends in
a plain convolution (no tanh, as in the reference). The downsampling factor is
``2 ** (len(channel_mult) - 1)``: (1, 2, 4) -> 4, (1, 2, 2, 4) -> 8, (1, 1, 2, 2, 4) -> 16.

Self-attention sits in the middle and, with ``attention``, in every block of the deepest
level: the reference puts it at resolution 16 of its 256 px configs, which is that level
for f = 16 (and f = 8 at 128 px).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from img2img.nets.quantizers import Bottleneck, build_bottleneck

# taming-transformers' ch_mult for each downsampling factor.
CHANNEL_MULTS = {4: (1, 2, 4), 8: (1, 2, 2, 4), 16: (1, 1, 2, 2, 4)}


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 32 groups and eps 1e-6, the reference's ``Normalize``."""
    if channels % 32:
        raise ValueError(f"autoencoder widths must be multiples of 32 (GroupNorm), got {channels}")
    return nn.GroupNorm(32, channels, eps=1e-6)


class ResnetBlock(nn.Module):
    """norm, swish, conv, norm, swish, dropout, conv, plus the input (1x1-projected when the
    width changes)."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = group_norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = (
            nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + (x if self.shortcut is None else self.shortcut(x))


class AttentionBlock(nn.Module):
    """Single-head self-attention over all positions, with a residual connection."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).transpose(-1, -2).unbind(1)
        out = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return x + self.proj(out.transpose(-1, -2).reshape(n, c, h, w))


def _level(in_ch: int, out_ch: int, blocks: int, attention: bool, dropout: float) -> nn.Module:
    layers: list[nn.Module] = []
    for i in range(blocks):
        layers.append(ResnetBlock(in_ch if i == 0 else out_ch, out_ch, dropout))
        if attention:
            layers.append(AttentionBlock(out_ch))
    return nn.Sequential(*layers)


def _middle(channels: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        ResnetBlock(channels, channels, dropout),
        AttentionBlock(channels),
        ResnetBlock(channels, channels, dropout),
    )


class Downsample(nn.Module):
    """3x3 stride-2 convolution after padding right and bottom by one (the reference's
    asymmetric padding, so the output is exactly half the size)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest-neighbour x2, then a 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Encoder(nn.Module):
    """(N, 3, H, W) -> (N, out_channels, H/f, W/f)."""

    def __init__(
        self,
        channels: int,
        channel_mult: tuple[int, ...],
        res_blocks: int,
        out_channels: int,
        attention: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        widths = [channels * m for m in channel_mult]
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1)]
        in_ch = channels
        for i, width in enumerate(widths):
            last = i == len(widths) - 1
            layers.append(_level(in_ch, width, res_blocks, attention and last, dropout))
            if not last:
                layers.append(Downsample(width))
            in_ch = width
        layers += [_middle(in_ch, dropout), group_norm(in_ch), nn.SiLU()]
        layers.append(nn.Conv2d(in_ch, out_channels, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class Decoder(nn.Module):
    """(N, in_channels, h, w) -> (N, 3, h*f, w*f), unbounded (clamp when saving)."""

    def __init__(
        self,
        channels: int,
        channel_mult: tuple[int, ...],
        res_blocks: int,
        in_channels: int,
        attention: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        widths = [channels * m for m in channel_mult]
        in_ch = widths[-1]
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, in_ch, 3, padding=1),
            _middle(in_ch, dropout),
        ]
        for i in reversed(range(len(widths))):
            deepest = i == len(widths) - 1
            layers.append(_level(in_ch, widths[i], res_blocks + 1, attention and deepest, dropout))
            in_ch = widths[i]
            if i != 0:
                layers.append(Upsample(in_ch))
        layers += [group_norm(in_ch), nn.SiLU()]
        self.body = nn.Sequential(*layers)
        self.conv_out = nn.Conv2d(in_ch, 3, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        return self.conv_out(self.body(z))


class Autoencoder(nn.Module):
    """Encoder, bottleneck (``quantizer``: "vq", "ema", "kl" or "none", see
    :mod:`img2img.nets.quantizers`), decoder.

    - ``forward(x)``: the reconstruction, (N, 3, H, W) in about [-1, 1], for H, W multiples
      of ``size_multiple`` (what ``translate`` runs).
    - ``autoencode(x)``: (reconstruction, :class:`Bottleneck`), for training.
    - ``encode(x)``: the code map (N, H/f, W/f) int64 of a quantizer, else the latent
      (N, code_dim, H/f, W/f) float (the KL posterior's mean); ``decode`` inverts it.
    - ``last_layer``: the decoder's output weight, where VQGAN's adaptive weight is taken.
    """

    def __init__(
        self,
        channels: int = 128,
        channel_mult: tuple[int, ...] = CHANNEL_MULTS[16],
        res_blocks: int = 2,
        code_dim: int = 256,
        quantizer: str = "vq",
        codebook_size: int = 1024,
        attention: bool = True,
        dropout: float = 0.0,
        ema_decay: float = 0.99,
        restart_threshold: float = 1.0,
    ) -> None:
        super().__init__()
        self.quantizer_kind = quantizer
        self.code_dim = code_dim
        self.codebook_size = codebook_size if quantizer in ("vq", "ema") else 0
        self.size_multiple = 2 ** (len(channel_mult) - 1)
        self.in_channels, self.scale = 3, 1  # nets.capabilities.ImageToImage
        moments = 2 * code_dim if quantizer == "kl" else code_dim
        args = (channels, tuple(channel_mult), res_blocks)
        self.encoder = Encoder(*args, moments, attention, dropout)
        # 1x1 convolutions into and out of the code space, as in the reference.
        self.quant_conv = nn.Conv2d(moments, moments, 1)
        self.quantizer = build_bottleneck(
            quantizer, codebook_size, code_dim, ema_decay, restart_threshold
        )
        self.post_quant_conv = nn.Conv2d(code_dim, code_dim, 1)
        self.decoder = Decoder(*args, code_dim, attention, dropout)

    @property
    def last_layer(self) -> Tensor:
        return self.decoder.conv_out.weight

    def bottleneck(self, x: Tensor) -> Bottleneck:
        return self.quantizer(self.quant_conv(self.encoder(x)))

    def decode_latent(self, latent: Tensor) -> Tensor:
        return self.decoder(self.post_quant_conv(latent))

    def autoencode(self, x: Tensor) -> tuple[Tensor, Bottleneck]:
        neck = self.bottleneck(x)
        return self.decode_latent(neck.latent), neck

    def forward(self, x: Tensor) -> Tensor:
        return self.autoencode(x)[0]

    def encode(self, x: Tensor) -> Tensor:
        neck = self.bottleneck(x)
        return neck.codes if neck.codes is not None else neck.encoded

    def decode(self, codes: Tensor) -> Tensor:
        """The image of a code map (N, h, w) int or of a latent (N, code_dim, h, w) float."""
        if self.codebook_size:
            if codes.is_floating_point() or codes.dim() != 3:
                raise ValueError(
                    f"a {self.quantizer_kind} model decodes integer code maps (N, h, w), "
                    f"got {tuple(codes.shape)} {codes.dtype}"
                )
            if codes.min() < 0 or codes.max() >= self.codebook_size:
                raise ValueError(f"codes must lie in [0, {self.codebook_size - 1}]")
            return self.decode_latent(self.quantizer.lookup(codes))
        if not codes.is_floating_point() or codes.dim() != 4 or codes.shape[1] != self.code_dim:
            raise ValueError(
                f"a {self.quantizer_kind} model decodes latents (N, {self.code_dim}, h, w) "
                f"float, got {tuple(codes.shape)} {codes.dtype}"
            )
        return self.decode_latent(codes)
