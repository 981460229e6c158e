"""DiffAugment: each transform against the reference's definition, the same policy on
every image batch D sees, gradients through it to G, and exact resume of an augmented run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from img2img.checkpoint import load_training_state
from img2img.losses import Adversary
from img2img.losses.diffaugment import DiffAugment, color, cutout, make_diffaugment, translation
from img2img.train import Trainer
from tests.data.test_gan_data import make_mnist
from tests.tasks.test_gan import tiny

pytestmark = pytest.mark.usefixtures("one_thread")


def _span(shift: int, size: int = 16) -> slice:
    """The pixels a shift by ``shift`` writes (or, negated, reads)."""
    return slice(max(shift, 0), size + min(shift, 0))


def test_translation_moves_whole_pixels_and_shifts_in_zeros() -> None:
    torch.manual_seed(0)
    x = torch.randn(16, 2, 16, 16)
    y = translation(x)
    for image, moved in zip(x, y, strict=True):
        # find the shift by matching: exactly one (dx, dy) within the bound reproduces it
        matches = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                shifted = torch.zeros_like(image)
                rows, src_rows = _span(dy), _span(-dy)
                cols, src_cols = _span(dx), _span(-dx)
                shifted[:, rows, cols] = image[:, src_rows, src_cols]
                matches += [(dx, dy)] if torch.equal(shifted, moved) else []
        assert len(matches) == 1, matches  # shifts of up to 16 / 8 = 2 pixels


def test_translation_reaches_its_bound_on_each_axis_of_a_non_square_image() -> None:
    """Up to round(ratio x side) pixels each way: 12 px wide, 8 px high at 1/8 gives shifts
    of -2..2 across and -1..1 down, each reached over 200 images."""
    torch.manual_seed(0)
    x = torch.zeros(200, 1, 8, 12)
    x[:, :, 4, 6] = 1.0
    moved = translation(x, ratio=0.125).flatten(1).argmax(dim=1)
    rows, cols = moved // 12 - 4, moved % 12 - 6
    assert set(cols.tolist()) == {-2, -1, 0, 1, 2} and set(rows.tolist()) == {-1, 0, 1}


def test_cutout_zeroes_one_square_of_half_the_side_clipped_at_borders() -> None:
    torch.manual_seed(0)
    holes = cutout(torch.ones(64, 1, 16, 16)) == 0
    areas = holes.sum(dim=(1, 2, 3))
    assert areas.max() == 64 and areas.min() >= 16  # 8 x 8, at least a quarter inside
    for hole in holes[:, 0]:
        rows, cols = hole.any(dim=1).nonzero(), hole.any(dim=0).nonzero()
        assert hole.sum() == len(rows) * len(cols)  # a rectangle (a clipped square)


def _centres(zeroed: torch.Tensor, size: int) -> set[int]:
    """The hole centres behind per-image zeroed lines (N, L): the reference's hole spans
    [c - size // 2, c - size // 2 + size), clipped to the image."""
    centres = set()
    for line in zeroed:
        inside = line.nonzero().flatten()
        low, high = int(inside[0]), int(inside[-1]) + 1
        centres.add(low + size // 2 if low > 0 else high - size + size // 2)
    return centres


def test_cutout_centres_range_over_the_references_offsets() -> None:
    """Centres are uniform on [0, side + (1 - size % 2)), as in the reference: every one of
    them comes up in 2,000 draws, for an odd hole side (5 of 10) and an even one (8 of 16),
    on each axis."""
    torch.manual_seed(0)
    for h, w in ((10, 16), (16, 10)):
        holes = cutout(torch.ones(2000, 1, h, w))[:, 0] == 0
        for zeroed, side in ((holes.any(dim=2), h), (holes.any(dim=1), w)):
            size = side // 2
            assert _centres(zeroed, size) == set(range(side + 1 - size % 2)), (h, w, side)


def test_color_keeps_shape_and_is_a_random_affine_map_per_image() -> None:
    torch.manual_seed(0)
    x = torch.rand(8, 3, 8, 8) * 2 - 1
    y = DiffAugment("color")(x)
    assert y.shape == x.shape and not torch.allclose(x, y)
    flat = torch.full((2, 1, 8, 8), 0.25)  # one channel, constant: only brightness acts
    shift = DiffAugment("color")(flat) - flat
    assert shift.abs().max() <= 0.5 and torch.allclose(shift, shift[:, :, :1, :1].expand_as(shift))


def test_color_is_brightness_saturation_and_contrast_in_the_references_ranges() -> None:
    """DiffAugment's rand_brightness (+ U(-0.5, 0.5)), rand_saturation (deviation from the
    pixel's channel mean x U(0, 2)) and rand_contrast (deviation from the image mean x
    U(0.5, 1.5)), one draw per image each, unclipped."""
    torch.manual_seed(0)
    x = torch.rand(4, 3, 5, 6) * 2 - 1
    torch.manual_seed(1)
    y = color(x)
    torch.manual_seed(1)
    brightness, saturation, contrast = (torch.rand(4, 1, 1, 1) for _ in range(3))
    expected = x + brightness - 0.5
    mean = expected.mean(dim=1, keepdim=True)
    expected = (expected - mean) * 2 * saturation + mean
    mean = expected.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(y, (expected - mean) * (contrast + 0.5) + mean)


def test_policy_names_are_checked() -> None:
    assert make_diffaugment("") is None
    assert make_diffaugment(" color, cutout ").names == ["color", "cutout"]
    assert repr(make_diffaugment(" color, cutout ")) == "DiffAugment('color,cutout')"
    with pytest.raises(ValueError, match="flip"):
        DiffAugment("color,flip")
    with pytest.raises(ValueError, match="image batches"):
        DiffAugment("color")(torch.randn(4, 2))


class _Recorder(nn.Module):
    """A linear critic that keeps every batch it is shown."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3 * 8 * 8, 1)
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.linear(x.flatten(1)).flatten()


def test_the_same_policy_reaches_real_and_fake_and_gradients_reach_the_generator() -> None:
    policy = DiffAugment("color,translation,cutout")
    adversary = Adversary(_Recorder(), augment=policy)
    real, z = torch.rand(4, 3, 8, 8) * 2 - 1, torch.randn(4, 3, 8, 8)
    generator = nn.Conv2d(3, 3, 1)
    fake = generator(z)
    torch.manual_seed(7)
    adversary.update(real, fake)
    torch.manual_seed(7)  # the same draws, in the Adversary's order: real, then fake
    expected_real, expected_fake = policy(real), policy(fake.detach())
    seen = adversary.discriminator.seen
    torch.testing.assert_close(seen[0], expected_real)
    torch.testing.assert_close(seen[1], expected_fake)
    assert not torch.equal(seen[0], real) and not torch.equal(seen[1], fake)
    adversary.loss(fake).backward()  # the generator's turn: augmented too, differentiably
    assert not torch.equal(seen[2], fake.detach())
    assert generator.weight.grad is not None and generator.weight.grad.abs().sum() > 0
    assert adversary.discriminator.linear.weight.grad is not None  # from the D step only


def test_augmented_gan_resumes_exactly(tmp_path: Path) -> None:
    mnist = make_mnist(tmp_path / "mnist", count=20)
    common = {"diffaugment": "color,translation,cutout", "image_size": 32, "save_every": 3}
    Trainer(tiny(mnist, tmp_path / "straight", max_steps=6, **common)).fit()
    Trainer(tiny(mnist, tmp_path / "resumed", max_steps=3, **common)).fit()
    Trainer(tiny(mnist, tmp_path / "resumed", max_steps=6, **common), resume=True).fit()
    expected = load_training_state(tmp_path / "straight")["task"]
    actual = load_training_state(tmp_path / "resumed")["task"]
    for part in ("generator", "adversary"):
        for name, tensor in expected[part].items():
            if isinstance(tensor, torch.Tensor):
                torch.testing.assert_close(actual[part][name], tensor, rtol=0, atol=0, msg=name)
    logs = [json.loads(line) for line in (tmp_path / "resumed" / "losses.jsonl").open()]
    assert logs[-1]["step"] == 6
