"""img2img.data: finding images, split layout, aligned pairs, deterministic crops, resuming."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA
from PIL import Image
from torch.utils.data import DataLoader

from img2img.data import (
    PairedImageFolder,
    ResumableSampler,
    find_images,
    resolve_split,
    resume_position,
)
from img2img.data.transforms import CropFlip, apply_crop_flip, make_generator, sample_crop_flip
from img2img.images import pil_to_tensor

FACADES = SHARED_DATA / "facades"
HALF = 16  # each half of a generated aligned image is HALF x HALF
LOAD, CROP = 20, 12


def ramp(offset: int = 0) -> np.ndarray:
    """HALF x HALF values rising steeply left to right and gently top to bottom, so any
    crop position or mirror shows in the pixels."""
    y, x = np.mgrid[0:HALF, 0:HALF]
    return (8 * x + 4 * y + offset).astype(np.uint8)


def aligned(offset: int = 0) -> np.ndarray:
    """A|B image: A = the ramp in the red channel, B = the same ramp in the blue channel."""
    image = np.zeros((HALF, 2 * HALF, 3), dtype=np.uint8)
    image[:, :HALF, 0] = ramp(offset)
    image[:, HALF:, 2] = ramp(offset)
    return image


@pytest.fixture
def pairs(tmp_path) -> Path:
    root = tmp_path / "pairs"
    root.mkdir()
    for i in range(6):
        Image.fromarray(aligned(offset=i)).save(root / f"{i}.png")
    return root


def dataset(root, **kwargs) -> PairedImageFolder:
    return PairedImageFolder(root, **{"load_size": LOAD, "crop_size": CROP, **kwargs})


def rises_left_to_right(channel: torch.Tensor) -> bool:
    return bool(channel.diff(dim=-1).mean() > 0)


# --- find_images / resolve_split -------------------------------------------------------


def test_find_images_is_recursive_sorted_and_skips_other_files(tmp_path):
    for name in (
        "b.PNG",
        "a.jpg",
        "sub/c.webp",
        "sub/deeper/d.TIFF",
        "notes.txt",
        ".ipynb_checkpoints/a.jpg",
        "._a.jpg",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = [path.relative_to(tmp_path).as_posix() for path in find_images(tmp_path)]
    assert found == ["a.jpg", "b.PNG", "sub/c.webp", "sub/deeper/d.TIFF"]


def test_find_images_errors_name_the_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("no pictures here")
    with pytest.raises(
        ValueError, match=rf"{re.escape(str(tmp_path))}: no images found \(looked for .*\.png"
    ):
        find_images(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing: folder not found"):
        find_images(tmp_path / "missing")


def test_resolve_split_layouts(tmp_path):
    assert resolve_split(tmp_path, "train") == tmp_path  # a flat folder is its own train split
    assert resolve_split(tmp_path, "test") is None
    (tmp_path / "val").mkdir()
    assert resolve_split(tmp_path, "test") == tmp_path / "val"
    (tmp_path / "test").mkdir()
    assert resolve_split(tmp_path, "test") == tmp_path / "test"
    with pytest.raises(ValueError, match="no train/ folder"):
        resolve_split(tmp_path, "train")  # training on ROOT would include ROOT/test
    (tmp_path / "train").mkdir()
    assert resolve_split(tmp_path, "train") == tmp_path / "train"
    with pytest.raises(ValueError, match="'valid'"):
        resolve_split(tmp_path, "valid")


# --- PairedImageFolder -----------------------------------------------------------------


@pytest.mark.parametrize("train", [True, False])
def test_direction_picks_the_halves(pairs, train):
    red, blue = 0, 2
    for direction, (source, target) in {"AtoB": (red, blue), "BtoA": (blue, red)}.items():
        item = dataset(pairs, direction=direction, train=train)[0]
        assert item["input"].shape == item["target"].shape == (3, CROP, CROP)
        others = [c for c in range(3) if c != source]
        assert (item["input"][others] == -1).all() and (item["input"][source] > -1).any()
        assert (item["target"][[c for c in range(3) if c != target]] == -1).all()
        assert item["path"] == str(pairs / "0.png") and item["skipped"] == 0


def test_input_and_target_share_crop_and_flip(pairs):
    data = dataset(pairs)
    flips = set()
    for epoch in range(4):
        data.set_epoch(epoch)
        for index in range(len(data)):
            item = data[index]
            assert torch.equal(item["input"][0], item["target"][2])
            flips.add(rises_left_to_right(item["input"][0]))
    assert flips == {True, False}  # both flipped and unflipped items occurred


def test_same_seed_epoch_index_gives_the_same_item(pairs):
    first, second = dataset(pairs, seed=3), dataset(pairs, seed=3)
    first.set_epoch(2)
    second.set_epoch(2)
    torch.manual_seed(0)  # the global RNG must play no part
    a = first[4]
    torch.manual_seed(1)
    b = second[4]
    assert torch.equal(a["input"], b["input"]) and torch.equal(a["target"], b["target"])


def test_different_epochs_give_different_crops(pairs):
    data = dataset(pairs)
    items = []
    for epoch in range(3):
        data.set_epoch(epoch)
        items.append(data[1]["input"])
    assert not torch.equal(items[0], items[1]) and not torch.equal(items[1], items[2])


def test_evaluation_resizes_to_crop_size_without_randomness(pairs):
    data = dataset(pairs, train=False)
    first = data[0]["input"]
    data.set_epoch(5)
    assert torch.equal(data[0]["input"], first)
    expected = Image.fromarray(aligned()[:, :HALF]).resize((CROP, CROP), Image.Resampling.BICUBIC)
    assert torch.equal(first, pil_to_tensor(expected))


def test_batches_do_not_depend_on_worker_count(pairs):
    def batches(num_workers: int) -> list[dict]:
        data = dataset(pairs, seed=7)
        sampler = ResumableSampler(len(data), seed=7)
        data.set_epoch(1)
        sampler.set_epoch(1)
        loader = DataLoader(data, batch_size=2, sampler=sampler, num_workers=num_workers)
        return list(loader)

    serial, parallel = batches(0), batches(2)
    assert len(serial) == len(parallel) == 3
    for a, b in zip(serial, parallel, strict=True):
        assert a["path"] == b["path"]
        assert torch.equal(a["input"], b["input"]) and torch.equal(a["target"], b["target"])


def test_bad_files_are_skipped_with_a_warning_and_counted(pairs):
    Image.fromarray(np.zeros((HALF, 2 * HALF + 1, 3), np.uint8)).save(pairs / "1.png")
    (pairs / "2.png").write_text("not an image")
    data = dataset(pairs)
    with pytest.warns(UserWarning) as caught:
        item = data[1]
    messages = [str(warning.message) for warning in caught]
    assert len(messages) == 2
    assert "1.png: width 33 is odd" in messages[0] and "skipping" in messages[0]
    assert "2.png: not an image" in messages[1]
    assert item["path"] == str(pairs / "3.png") and item["skipped"] == 1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = next(iter(DataLoader(data, batch_size=len(data))))
    assert batch["skipped"].tolist() == [0, 1, 1, 0, 0, 0]  # each bad file counted once


def test_all_bad_files_raise_a_clear_error(tmp_path):
    for name in ("a.png", "b.jpg"):
        (tmp_path / name).write_text("oops")
    data = dataset(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(
            ValueError, match=rf"{re.escape(str(tmp_path))}: none of its 2 images is a usable"
        ):
            data[0]


def test_grayscale_rgba_and_sixteen_bit_pairs_are_accepted(tmp_path):
    deep = np.zeros((HALF, 2 * HALF), np.uint16)
    deep[:, HALF:] = 65535
    Image.fromarray(deep).save(tmp_path / "deep.png")
    Image.fromarray(aligned()[:, :, 0]).save(tmp_path / "gray.png")
    rgba = np.dstack([aligned(), np.full((HALF, 2 * HALF), 255, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    data = dataset(tmp_path)
    for index in range(3):
        item = data[index]
        assert item["skipped"] == 0 and item["input"].shape == (3, CROP, CROP)
    deep_item = data[0]
    assert (deep_item["input"] == -1).all() and (deep_item["target"] == 1).all()  # 65535 -> 255


def test_empty_folder_and_bad_arguments(tmp_path, pairs):
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'empty'}: no images found")):
        (tmp_path / "empty").mkdir()
        PairedImageFolder(tmp_path / "empty")
    with pytest.raises(ValueError, match="direction='A2B'"):
        dataset(pairs, direction="A2B")
    with pytest.raises(ValueError, match="crop_size=300 is larger than load_size=286"):
        PairedImageFolder(pairs, crop_size=300)
    with pytest.raises(IndexError):
        dataset(pairs)[6]
    assert len(list(dataset(pairs))) == 6  # iteration stops at IndexError


# --- transforms ------------------------------------------------------------------------


def test_crop_flip_is_the_same_on_pil_and_tensor():
    image = Image.fromarray(aligned())
    params = CropFlip(top=3, left=5, height=7, width=9, flip=True)
    from_pil = pil_to_tensor(apply_crop_flip(image, params))
    from_tensor = apply_crop_flip(pil_to_tensor(image), params)
    assert from_pil.shape == (3, 7, 9) and torch.equal(from_pil, from_tensor)


def test_sample_crop_flip_stays_inside_and_is_reproducible():
    draws = [sample_crop_flip((10, 12), (4, 5), True, make_generator(0, i)) for i in range(200)]
    assert all(0 <= d.top <= 6 and 0 <= d.left <= 7 for d in draws)
    assert {d.top for d in draws} == set(range(7)) and {d.left for d in draws} == set(range(8))
    assert sample_crop_flip((10, 12), (4, 5), True, make_generator(0, 3)) == draws[3]
    assert not any(
        sample_crop_flip((10, 12), (4, 5), False, make_generator(0, i)).flip for i in range(20)
    )
    with pytest.raises(ValueError, match="crop 11x5 does not fit in an image of 10x12"):
        sample_crop_flip((10, 12), (11, 5), True, make_generator(0))
    with pytest.raises(ValueError, match="non-negative"):
        make_generator(-1)


# --- ResumableSampler ------------------------------------------------------------------


def test_sampler_epoch_is_a_permutation_that_changes_with_epoch_and_seed():
    sampler = ResumableSampler(50, seed=1)
    first = list(sampler)
    assert sorted(first) == list(range(50)) and len(sampler) == 50
    sampler.set_epoch(1)
    assert sorted(sampler) == list(range(50)) and list(sampler) != first
    assert list(ResumableSampler(50, seed=2)) != first
    assert list(ResumableSampler(50, seed=1)) == first
    assert list(ResumableSampler(5, shuffle=False)) == [0, 1, 2, 3, 4]


def test_sampler_resume_yields_the_tail_of_the_uninterrupted_order():
    uninterrupted = ResumableSampler(50, seed=4)
    uninterrupted.set_epoch(3)
    order = list(uninterrupted)
    resumed = ResumableSampler(50, seed=4, start_epoch=3, start_index=17)
    assert list(resumed) == order[17:] and len(resumed) == 33
    with pytest.raises(ValueError, match="start_index=51"):
        resumed.set_epoch(3, 51)


@pytest.mark.parametrize("drop_last", [True, False])
def test_training_resumed_at_any_step_sees_the_same_batches(drop_last):
    samples, batch_size, epochs = 10, 4, 3

    def run(step: int) -> list[list[int]]:
        """The batches a trainer resumed after ``step`` batches would see."""
        sampler = ResumableSampler(samples, seed=9)
        loader = DataLoader(
            list(range(samples)), batch_size=batch_size, sampler=sampler, drop_last=drop_last
        )
        first_epoch, start_index = resume_position(step, samples, batch_size, drop_last)
        seen = []
        for epoch in range(first_epoch, epochs):
            sampler.set_epoch(epoch, start_index)
            start_index = 0
            seen += [batch.tolist() for batch in loader]
        return seen

    full = run(0)
    assert len(full) == epochs * (2 if drop_last else 3)
    for step in range(len(full)):
        assert run(step) == full[step:]


def test_resume_position_rejects_a_batch_larger_than_the_data():
    assert resume_position(7, 10, 4, drop_last=True) == (3, 4)
    assert resume_position(7, 10, 4, drop_last=False) == (2, 4)
    with pytest.raises(ValueError, match="no batch of 16"):
        resume_position(0, 10, 16, drop_last=True)


# --- real data -------------------------------------------------------------------------


def saturation(image: torch.Tensor) -> float:
    """Mean (max - min) over the colour channels, in uint8 units."""
    return float((image.max(dim=0).values - image.min(dim=0).values).mean() * 127.5)


@pytest.mark.skipif(not (FACADES / "train").is_dir(), reason=f"{FACADES}/train not found")
def test_facades_label_to_photo():
    """pix2pix trains facades label -> photo, i.e. BtoA. JPEG noise gives the label maps
    thousands of distinct colours, so "few colours" is checked the robust way: label maps are
    painted in saturated colours (mean max-min >= 170 on every file of the set), the photos
    are mostly grey and brown (<= 68)."""
    data = PairedImageFolder(FACADES / "train", direction="BtoA", crop_size=256, train=False)
    assert len(data) == 400
    for index in range(2):
        item = data[index]
        assert item["input"].shape == item["target"].shape == (3, 256, 256)
        assert saturation(item["input"]) > 120 > saturation(item["target"])
