"""Hole masks: exact centre, the random region's coverage, determinism for resume, the
overlap band, and users' mask files (resized, refused when empty, all hole or unreadable)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from img2img.data.inpaint import InpaintFolder
from img2img.data.masks import MASKS, center_mask, mask_for, overlap_band, read_mask
from img2img.images import ImageError


def test_center_mask_is_the_middle_square_less_the_overlap() -> None:
    mask = center_mask(128, overlap=4)
    expected = torch.zeros(1, 128, 128)
    expected[:, 36:92, 36:92] = 1  # the reference: 56 px filled inside the 64 px square
    assert torch.equal(mask, expected)
    assert center_mask(64).sum() == 32 * 32


@pytest.mark.parametrize("index", range(12))
def test_random_region_covers_20_to_30_percent(index: int) -> None:
    mask = mask_for("random-region", 64, seed=3, epoch=1, index=index)
    assert 0.2 <= mask.mean().item() <= 0.3 + 1 / 64**2


@pytest.mark.parametrize("kind", MASKS)
def test_masks_are_a_function_of_seed_epoch_and_index(kind: str) -> None:
    mask = mask_for(kind, 64, seed=1, epoch=2, index=5)
    assert torch.equal(mask, mask_for(kind, 64, seed=1, epoch=2, index=5))
    assert mask.shape == (1, 64, 64) and set(mask.unique().tolist()) <= {0.0, 1.0}
    assert 0 < mask.mean() < 1
    others = [mask_for(kind, 64, 1, 3, 5), mask_for(kind, 64, 1, 2, 6), mask_for(kind, 64, 2, 2, 5)]
    assert all(not torch.equal(mask, other) for other in others) or kind == "center"


def test_overlap_band_is_the_ring_around_the_hole() -> None:
    hole = torch.zeros(1, 1, 10, 10)
    hole[..., 4:6, 4:6] = 1
    band = overlap_band(hole, 1)
    expected = torch.zeros(1, 1, 10, 10)
    expected[..., 3:7, 3:7] = 1
    expected[..., 4:6, 4:6] = 0
    assert torch.equal(band, expected)
    assert not overlap_band(hole, 0).any()


def test_dataset_takes_one_half_and_resumes_the_same_holes(tmp_path: Path) -> None:
    from conftest import make_aligned_pairs

    make_aligned_pairs(tmp_path, count=3, size=32)
    folder = InpaintFolder(
        tmp_path, mask="free-form", load_size=36, crop_size=32, half="B", train=False
    )
    pair = np.asarray(Image.open(tmp_path / "000.png"))
    item = folder[0]
    right = np.asarray(Image.fromarray(pair[:, 32:]).resize((36, 36), Image.Resampling.BICUBIC))
    expected = torch.from_numpy(right[2:34, 2:34].copy()).permute(2, 0, 1).float() / 127.5 - 1
    torch.testing.assert_close(item["target"], expected)
    train = InpaintFolder(tmp_path, mask="random-blocks", load_size=36, crop_size=32, seed=4)
    assert torch.equal(train[(2, 1)]["mask"], train[(2, 1)]["mask"])
    assert not torch.equal(train[(2, 1)]["mask"], train[(3, 1)]["mask"])


def write_mask(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def test_read_mask_resizes_with_nearest_neighbour_and_says_so(tmp_path: Path) -> None:
    array = np.zeros((4, 4), np.uint8)
    array[1, 2] = 255
    path = write_mask(tmp_path / "m.png", array)
    with pytest.warns(
        UserWarning, match=r"m.png: mask is 4x4, the image 8x8; resized with nearest"
    ):
        mask = read_mask(path, (8, 8))
    expected = torch.zeros(1, 1, 8, 8)
    expected[..., 2:4, 4:6] = 1
    assert torch.equal(mask, expected)


@pytest.mark.parametrize(
    ("value", "problem"), [(0, "the mask has no hole"), (255, "the mask is all hole")]
)
def test_read_mask_refuses_an_empty_or_full_mask_naming_the_file(
    tmp_path: Path, value: int, problem: str
) -> None:
    path = write_mask(tmp_path / "bad.png", np.full((8, 8), value, np.uint8))
    with pytest.raises(ImageError, match=f"bad.png: {problem}"):
        read_mask(path, (8, 8))


def test_read_mask_refuses_a_file_that_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not a picture")
    with pytest.raises(ImageError, match=r"notes\.png: not an image"):
        read_mask(path, (8, 8))
