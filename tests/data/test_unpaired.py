"""Unpaired folders (trainA/ trainB/): random B per item, deterministic, robust; split-unpaired."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_aligned_pairs, require_shared
from PIL import Image

from img2img.cli import main
from img2img.data import UnpairedImageFolder, resolve_unpaired, split_unpaired


def solid(path: Path, value: int, size: tuple[int, int] = (16, 16), mode: str = "RGB") -> None:
    """An image of one grey level, so an item's source file shows in its pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = 3 if mode == "RGB" else 1
    array = np.full((size[1], size[0], channels), value, dtype=np.uint8).squeeze()
    Image.fromarray(array, mode=mode).save(path)


def level(image: torch.Tensor) -> int:
    return round(float(image.mean()) * 127.5 + 127.5)


@pytest.fixture
def unpaired(tmp_path: Path) -> Path:
    """trainA: 3 RGB images of levels 10..30; trainB: 5 grayscale ones of levels 100..140,
    one of them smaller than the crop; testA/testB: 2 each."""
    root = tmp_path / "unpaired"
    for i in range(3):
        solid(root / "trainA" / f"{i}.png", 10 * (i + 1))
    for i in range(5):
        solid(root / "trainB" / f"{i}.png", 100 + 10 * i, (4, 6) if i == 2 else (16, 16), "L")
    for domain in "AB":
        for i in range(2):
            solid(root / f"test{domain}" / f"{i}.jpg", 200 + i)
    return root


def folder(root: Path, split: str = "train", **kwargs) -> UnpairedImageFolder:
    defaults = {"load_size": 12, "crop_size": 8, "train": split == "train"}
    return UnpairedImageFolder(*resolve_unpaired(root, split), **{**defaults, **kwargs})


def test_items_pair_each_a_with_a_random_b(unpaired: Path) -> None:
    dataset = folder(unpaired)
    assert len(dataset) == 5  # max of the two domains, as in the reference code
    item = dataset[4]
    assert item["A"].shape == item["B"].shape == (3, 8, 8)  # grayscale B became RGB
    assert level(item["A"]) == 20 and item["path_A"].endswith("1.png")  # A: index mod 3
    b_levels = {epoch: [] for epoch in range(4)}
    for epoch in b_levels:
        dataset.set_epoch(epoch)
        b_levels[epoch] = [level(dataset[i]["B"]) for i in range(5)]
    assert len({tuple(v) for v in b_levels.values()}) > 1, "B choices must change per epoch"
    assert 120 in {b for v in b_levels.values() for b in v}  # the 4x6 image, upscaled
    dataset.set_epoch(2)
    again = [level(dataset[i]["B"]) for i in range(5)]
    assert again == b_levels[2], "an item is a pure function of (seed, epoch, index)"
    assert all(len(v) == 5 for v in b_levels.values())


def test_evaluation_pairs_by_index_without_randomness(unpaired: Path) -> None:
    dataset = folder(unpaired, "test")
    assert len(dataset) == 2
    assert [level(dataset[i]["B"]) for i in range(2)] == [200, 201]
    assert resolve_unpaired(unpaired / "trainA", "test") is None


def test_unreadable_files_are_skipped_warned_and_counted(unpaired: Path) -> None:
    (unpaired / "trainA" / "1.png").write_bytes(b"not an image")
    dataset = folder(unpaired)
    with pytest.warns(UserWarning, match="1.png"):
        item = dataset[1]
    assert item["skipped"] == 1 and level(item["A"]) == 30


@pytest.mark.parametrize("missing", ["trainA", "trainB"])
def test_a_missing_domain_is_named(unpaired: Path, missing: str) -> None:
    (unpaired / missing).rename(unpaired / "elsewhere")
    with pytest.raises(FileNotFoundError, match=f"no {missing}/ folder"):
        resolve_unpaired(unpaired, "train")


def test_an_aligned_dataset_points_to_split_unpaired(paired_dataset: Path) -> None:
    with pytest.raises(FileNotFoundError, match="img2img data split-unpaired"):
        resolve_unpaired(paired_dataset, "train")


def test_an_empty_domain_is_named(unpaired: Path) -> None:
    for path in (unpaired / "trainB").iterdir():
        path.unlink()
    with pytest.raises(ValueError, match="trainB: no images found"):
        folder(unpaired)


def test_split_unpaired_writes_the_halves(paired_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "split"
    main(["data", "split-unpaired", "--data", str(paired_dataset), "--out", str(out)])
    counts = {name: len(list((out / name).iterdir())) for name in ("trainA", "trainB", "testA")}
    assert counts == {"trainA": 8, "trainB": 8, "testA": 2}
    aligned = np.asarray(Image.open(paired_dataset / "train" / "003.png"))
    assert np.array_equal(np.asarray(Image.open(out / "trainA" / "003.png")), aligned[:, :32])
    assert np.array_equal(np.asarray(Image.open(out / "trainB" / "003.png")), aligned[:, 32:])

    counts = split_unpaired(paired_dataset, tmp_path / "disjoint", disjoint=True)
    assert counts == {"trainA": 4, "trainB": 4, "testA": 1, "testB": 1}
    names_a = {p.name for p in (tmp_path / "disjoint" / "trainA").iterdir()}
    names_b = {p.name for p in (tmp_path / "disjoint" / "trainB").iterdir()}
    assert not names_a & names_b


def test_split_unpaired_skips_odd_widths(tmp_path: Path) -> None:
    make_aligned_pairs(tmp_path / "pairs", count=2, size=8)
    Image.new("RGB", (15, 8)).save(tmp_path / "pairs" / "odd.png")
    with pytest.warns(UserWarning, match="odd.png"):
        counts = split_unpaired(tmp_path / "pairs", tmp_path / "out")
    assert counts == {"trainA": 2, "trainB": 2}


def test_facades_photos_and_label_maps_as_two_domains(tmp_path: Path) -> None:
    facades = require_shared("facades", "train")
    for path in sorted(facades.iterdir())[:3]:
        (tmp_path / "aligned" / "train").mkdir(parents=True, exist_ok=True)
        (tmp_path / "aligned" / "train" / path.name).write_bytes(path.read_bytes())
    counts = split_unpaired(tmp_path / "aligned", tmp_path / "facades")
    assert counts == {"trainA": 3, "trainB": 3}
    dataset = folder(tmp_path / "facades", load_size=36, crop_size=32)
    photo, labels = Image.open(dataset[0]["path_A"]), Image.open(dataset[0]["path_B"])
    assert photo.size == labels.size == (256, 256)
    assert dataset[0]["A"].shape == (3, 32, 32)
