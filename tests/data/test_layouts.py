"""The paired A/ B/ layout pairs by file name; a layout a task cannot use is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_aligned_pairs, make_hr_images, tiny_pix2pix
from PIL import Image

from img2img.data import PairedImageFolder, split_unpaired
from img2img.data.layouts import (
    CLASS_FOLDERS,
    IMAGES,
    PAIRED_FOLDERS,
    UNPAIRED,
    detect_layout,
)
from img2img.tasks.pix2pix import Pix2Pix


def make_paired_folders(split: Path, names: list[str], seed: int = 0) -> None:
    """``split/A/NAME.png`` and ``split/B/NAME.bmp``: B is the colour inverse of A, and
    every pair is a different picture, so a wrong pairing shows."""
    source = make_aligned_pairs(split.parent / f".source-{split.name}", len(names), 32, seed)
    for domain in ("A", "B"):
        (split / domain).mkdir(parents=True)
    for name, file in zip(names, sorted(source.glob("*.png")), strict=True):
        pair = np.asarray(Image.open(file))
        Image.fromarray(pair[:, :32]).save(split / "A" / f"{name}.png")
        Image.fromarray(pair[:, 32:]).save(split / "B" / f"{name}.bmp")


@pytest.fixture
def paired_folders(tmp_path: Path) -> Path:
    # Names whose file order differs from their creation order: pairs come from names.
    make_paired_folders(tmp_path / "data" / "train", ["zeta", "alpha", "mid", "10", "9", "b"])
    make_paired_folders(tmp_path / "data" / "test", ["t1", "t0"], seed=1)
    return tmp_path / "data"


def test_each_item_is_the_a_image_with_its_own_b(paired_folders: Path) -> None:
    dataset = PairedImageFolder(paired_folders / "train", crop_size=32, train=False)
    assert len(dataset) == 6
    for index in range(len(dataset)):
        item = dataset[index]
        assert item["input"].shape == (3, 32, 32)  # the whole A image, not a half of it
        torch.testing.assert_close(item["target"], -item["input"])  # B = 255 - A
        assert Path(item["path"]).parent.name == "A"


def test_random_crops_and_flips_keep_the_pairs(paired_folders: Path) -> None:
    dataset = PairedImageFolder(paired_folders / "train", load_size=36, crop_size=32)
    for index in range(len(dataset)):
        item = dataset[(3, index)]
        # Resizing 255 - A gives 255 - (resized A) up to PIL's rounding in each of its two
        # passes: two 8-bit levels at most; a wrong pair would be off by far more.
        torch.testing.assert_close(item["target"], -item["input"], atol=2.01 / 127.5, rtol=0)


def test_pix2pix_trains_on_the_pairs(paired_folders: Path, tmp_path: Path) -> None:
    from img2img.train import Trainer

    config = tiny_pix2pix(paired_folders, tmp_path / "run", load_size=32, max_steps=3)
    trainer = Trainer(config)
    batch = trainer.sample_batch  # the test split: t0 and t1, whole images
    torch.testing.assert_close(batch["target"], -batch["input"])
    assert [Path(p).stem for p in batch["path"]] == ["t0", "t1"]
    trained, step = [], trainer.task.step
    trainer.task.step = lambda batch: trained.append(batch) or step(batch)
    trainer.fit()
    assert len(trained) == 3
    for batch in trained:
        torch.testing.assert_close(batch["target"], -batch["input"], atol=2.01 / 127.5, rtol=0)


def test_unmatched_names_are_listed(paired_folders: Path) -> None:
    (paired_folders / "train" / "A" / "zeta.png").rename(paired_folders / "train" / "A" / "z.png")
    (paired_folders / "train" / "B" / "mid.bmp").unlink()
    with pytest.raises(ValueError) as error:
        PairedImageFolder(paired_folders / "train", crop_size=32)
    message = str(error.value)
    assert "same file names" in message
    assert "only in" in message and "A: mid, z" in message and "B: zeta" in message


def test_layouts_are_told_apart(paired_folders: Path, paired_dataset: Path, tmp_path: Path) -> None:
    split_unpaired(paired_dataset, tmp_path / "unpaired")
    for name in ("cats", "dogs"):
        make_hr_images(tmp_path / "classes" / "train" / name, [(8, 8)])
    assert detect_layout(paired_folders) == PAIRED_FOLDERS
    assert detect_layout(paired_dataset) == IMAGES
    assert detect_layout(tmp_path / "unpaired") == UNPAIRED
    assert detect_layout(tmp_path / "classes") == CLASS_FOLDERS


def test_pix2pix_refuses_an_unpaired_layout(paired_dataset: Path, tmp_path: Path) -> None:
    split_unpaired(paired_dataset, tmp_path / "unpaired")
    config = tiny_pix2pix(tmp_path / "unpaired", tmp_path / "run")
    with pytest.raises(ValueError, match="found unpaired trainA/ trainB/ folders, which pix2pix"):
        Pix2Pix.dataset(config, "train")


def test_srgan_refuses_paired_folders(paired_folders: Path) -> None:
    from img2img.config import merge
    from img2img.tasks.srgan import SRGAN

    config = merge(SRGAN.Config, {"data": str(paired_folders), "image_size": 8, "scale": 2})
    with pytest.raises(ValueError, match="found paired A/ B/ folders, which srgan cannot"):
        SRGAN.dataset(config, "train")


def test_cyclegan_reads_paired_folders_as_two_domains(paired_folders: Path) -> None:
    from img2img.data import resolve_unpaired

    train = paired_folders / "train"
    assert resolve_unpaired(paired_folders, "train") == (train / "A", train / "B")
