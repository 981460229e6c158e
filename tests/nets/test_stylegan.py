"""The StyleGAN2-style generator: demodulation, the tracked mean w and truncation, style
mixing, and the training-side pieces (lazy R1 with its optimizer adjustment)."""

from __future__ import annotations

import math

import pytest
import torch

from img2img.losses import Adversary
from img2img.losses.path_length import path_length_penalty
from img2img.nets.stylegan import StyleGenerator, mix_styles, modulated_conv2d
from img2img.sampling import style_mix_grid
from img2img.tasks.noise import generate
from img2img.tasks.style import lazy_adjustment, style_presets

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_generator(**overrides) -> StyleGenerator:
    torch.manual_seed(0)
    values = {"z_dim": 8, "w_dim": 16, "image_size": 16, "channels": 3, "ngf": 4}
    return StyleGenerator(**{**values, "mapping_layers": 2, **overrides})


def test_demodulation_gives_unit_output_variance_for_unit_input() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 64, 24, 24)
    weight = torch.randn(32, 64, 3, 3) * 5
    styles = torch.rand(4, 64) * 4 + 0.1  # very different scales per sample and channel
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))  # away from zero padding
    out = modulated_conv2d(x, weight, styles)[inner]
    assert out.var(dim=(0, 2, 3)).sub(1).abs().max() < 0.1  # every output channel
    raw = modulated_conv2d(x, weight, styles, demodulate=False)[inner]
    assert raw.var() > 10  # without demodulation the styles' scale passes through


def test_truncation_zero_returns_the_mean_w_image() -> None:
    generator = tiny_generator()
    generator.w_avg.copy_(torch.randn(16))
    z = torch.randn(3, 8)
    images = generate(generator, z, truncation=0.0)
    mean_image = generate(generator, torch.zeros(1, 8), truncation=0.0)
    expected = generator.eval().synthesis(generator.broadcast(generator.w_avg[None]))
    assert torch.allclose(images, expected.expand_as(images), atol=1e-5)
    assert torch.allclose(mean_image, expected, atol=1e-5)
    assert not torch.allclose(generate(generator, z)[0], generate(generator, z)[1])
    with pytest.raises(ValueError, match="style generator"):
        generate(torch.nn.Linear(8, 8), z, truncation=0.5)


def test_the_mean_w_moves_only_when_the_training_step_asks() -> None:
    generator = tiny_generator()
    generate(generator, torch.randn(4, 8))
    assert torch.equal(generator.w_avg, torch.zeros(16))
    z = torch.randn(4, 8)
    generator.map(z, update_mean=True)
    expected = 0.005 * generator.mapping(z).mean(0)  # lerp from 0 with beta 0.995
    assert torch.allclose(generator.w_avg, expected, atol=1e-6)


def test_mixing_swaps_styles_at_the_cut() -> None:
    generator = tiny_generator().eval()
    assert generator.num_ws == 6  # 4 px const: 1 conv, then 2 blocks of 2 convs, + last ToRGB
    w_a, w_b = torch.randn(1, 16), torch.randn(1, 16)
    mixed = mix_styles(generator.broadcast(w_a), generator.broadcast(w_b), cutoff=3)
    # Which w index each layer reads: conv j reads w_j; ToRGB b shares w with the next conv.
    layers = dict(enumerate(generator.convs))
    to_rgb_index = {2 * b + 1: rgb for b, rgb in enumerate(generator.to_rgbs)}
    seen: dict[tuple[str, int], torch.Tensor] = {}
    hooks = []
    for kind, table in (("conv", layers), ("rgb", to_rgb_index)):
        for index, layer in table.items():
            hooks.append(
                layer.affine.register_forward_hook(
                    lambda m, i, o, key=(kind, index): seen.__setitem__(key, i[0])
                )
            )
    try:
        generator.synthesis(mixed)
    finally:
        for hook in hooks:
            hook.remove()
    assert len(seen) == len(layers) + len(to_rgb_index)
    for (_, index), w in seen.items():
        assert torch.equal(w, w_a if index < 3 else w_b), index  # coarse a, fine b


def test_style_mix_grid_takes_coarse_styles_from_columns_and_fine_from_rows() -> None:
    generator = tiny_generator().eval()
    grid = style_mix_grid(generator, rows=2, columns=3, seed=5, cutoff=2)
    assert grid.shape == (12, 3, 16, 16)
    assert torch.equal(grid[0], torch.full_like(grid[0], -1))
    row_source, column_source, cell = grid[4], grid[2], grid[4 + 2]  # row 1, column 2
    assert not torch.allclose(cell, row_source) and not torch.allclose(cell, column_source)
    with pytest.raises(ValueError, match="cutoff"):
        style_mix_grid(generator, 1, 1, cutoff=generator.num_ws)


def test_lazy_r1_runs_every_interval_with_the_reference_optimizer_adjustment() -> None:
    lr, (beta1, beta2) = lazy_adjustment(0.0025, (0.0, 0.99), 16)
    assert lr == pytest.approx(0.0025 * 16 / 17)
    assert (beta1, beta2) == (0.0, pytest.approx(0.99 ** (16 / 17)))
    assert lazy_adjustment(0.0025, (0.0, 0.99), 1) == (0.0025, (0.0, 0.99))
    assert style_presets(32, 64)["r1_gamma"] == pytest.approx(0.0032)
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1))
    adversary = Adversary(critic, r1_weight=1.0, r1_interval=4)
    real, fake = torch.randn(2, 3, 2, 2), torch.randn(2, 3, 2, 2)
    logged = ["r1" in adversary.update(real, fake) for _ in range(9)]
    assert logged == [True, False, False, False, True, False, False, False, True]


def test_path_length_penalty_measures_how_far_a_step_in_w_moves_the_image() -> None:
    torch.manual_seed(0)
    scale = 3.0
    ws = torch.randn(8, 1, 64 * 64).requires_grad_(True)
    images = (scale * ws).reshape(8, 1, 64, 64)  # ||J^T y|| = scale * ||y|| ~ scale
    penalty, mean = path_length_penalty(images, ws, torch.tensor(scale))
    assert penalty.item() < 0.01 * scale**2
    assert mean.item() == pytest.approx(scale, rel=0.01)
    penalty, mean = path_length_penalty(images, ws, torch.tensor(0.0), decay=0.5)
    assert mean.item() == pytest.approx(scale / 2, rel=0.02)  # lerp(0, ~3, 0.5)
    assert penalty.item() == pytest.approx((scale / 2) ** 2, rel=0.05)


def test_path_length_is_per_sample_over_the_ws_and_scales_noise_by_the_image_area() -> None:
    """The reference's definition on a linear synthesis (images = ws @ weight), non-square
    images and two ws: y ~ N(0, I) / sqrt(H W), lengths = sqrt(mean over ws of |J^T y|^2),
    the mean moved by the default decay 0.01."""
    torch.manual_seed(0)  # float64: the two computations' summation orders may differ by CPU
    ws = torch.randn(3, 2, 6, dtype=torch.float64).requires_grad_(True)
    weight = torch.randn(2 * 6, 4 * 3, dtype=torch.float64)
    images = (ws.reshape(3, 12) @ weight).reshape(3, 1, 4, 3)
    torch.manual_seed(1)
    penalty, mean = path_length_penalty(images, ws, torch.tensor(2.0, dtype=torch.float64))
    torch.manual_seed(1)
    y = torch.randn(3, 1, 4, 3, dtype=torch.float64) / math.sqrt(4 * 3)
    lengths = (y.reshape(3, 12) @ weight.T).reshape(3, 2, 6).square().sum(2).mean(1).sqrt()
    expected = 2.0 + 0.01 * (lengths.mean() - 2.0)
    assert mean.item() == pytest.approx(expected.item())
    assert penalty.item() == pytest.approx((lengths - expected).square().mean().item())
