"""--augment: albumentations, the same on both images of a pair, and exactly resumable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import assert_resumed_like_straight, make_aligned_pairs, tiny_pix2pix
from PIL import Image

from img2img.data import PairedImageFolder, UnpairedImageFolder
from img2img.data.augment import Augmenter
from img2img.train import Trainer

OPTIONS = {"load_size": 36, "crop_size": 32}


def make_twin_pairs(root: Path) -> Path:
    """A|B files whose two halves are the same picture."""
    source = make_aligned_pairs(root.parent / ".source", count=4, size=32)
    root.mkdir(parents=True)
    for file in sorted(source.glob("*.png")):
        a = np.asarray(Image.open(file))[:, :32]
        Image.fromarray(np.concatenate([a, a], axis=1)).save(root / file.name)
    return root


@pytest.mark.parametrize("spec", ["light", "strong"])
def test_both_images_of_a_pair_get_the_same_augmentation(tmp_path: Path, spec: str) -> None:
    root = make_twin_pairs(tmp_path / "train")
    plain = PairedImageFolder(root, **OPTIONS)
    augmented = PairedImageFolder(root, augment=spec, **OPTIONS)
    changed = 0
    for index in range(len(augmented)):
        item = augmented[(2, index)]
        torch.testing.assert_close(item["input"], item["target"], atol=0, rtol=0)
        changed += not torch.equal(item["input"], plain[(2, index)]["input"])
    assert changed > 0  # the pipeline does something


def test_augmentation_is_a_function_of_seed_epoch_and_index(tmp_path: Path) -> None:
    root = make_aligned_pairs(tmp_path / "train", count=4, size=32)
    first = PairedImageFolder(root, augment="strong", **OPTIONS)
    again = PairedImageFolder(root, augment="strong", **OPTIONS)
    for key in [(0, 1), (3, 2), (0, 1)]:  # repeated keys, out of order, a fresh dataset
        torch.testing.assert_close(first[key]["input"], again[key]["input"], atol=0, rtol=0)
    epochs = [first[(epoch, 1)]["input"] for epoch in range(4)]
    assert any(not torch.equal(epochs[0], other) for other in epochs[1:])


def test_resume_with_augmentation_is_exact(paired_dataset: Path, tmp_path: Path) -> None:
    common = {"augment": "strong", "num_workers": 0}
    Trainer(tiny_pix2pix(paired_dataset, tmp_path / "straight", max_steps=4, **common)).fit()
    Trainer(tiny_pix2pix(paired_dataset, tmp_path / "resumed", max_steps=2, **common)).fit()
    resumed = tiny_pix2pix(paired_dataset, tmp_path / "resumed", max_steps=4, **common)
    Trainer(resumed, resume=True).fit()
    assert_resumed_like_straight(tmp_path / "straight", tmp_path / "resumed", atol=0)


def test_a_yaml_file_of_transforms(tmp_path: Path) -> None:
    spec = tmp_path / "augment.yaml"
    spec.write_text("- HorizontalFlip: {p: 1.0}\n- Rotate: {limit: [90, 90], p: 1.0}\n")
    image = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3))
    (out,) = Augmenter(str(spec))([image], torch.Generator().manual_seed(0))
    expected = np.rot90(np.asarray(image)[:, ::-1], k=1)  # flipped, then 90 degrees
    assert np.array_equal(np.asarray(out), expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- Blurr: {p: 0.5}\n", "entry 1: albumentations has no transform 'Blurr'"),
        ("- Affine: {rotat: 5}\n", r"entry 1 \(Affine\)"),
        ("Affine: 5\n", "expected a list of transforms"),
    ],
)
def test_a_bad_yaml_file_is_named(tmp_path: Path, text: str, message: str) -> None:
    spec = tmp_path / "augment.yaml"
    spec.write_text(text)
    with pytest.raises(ValueError, match=message):
        Augmenter(str(spec))


def test_unpaired_domains_are_augmented(tmp_path: Path) -> None:
    root = make_aligned_pairs(tmp_path / "A", count=3, size=32)
    plain = UnpairedImageFolder(root, root, **OPTIONS)
    augmented = UnpairedImageFolder(root, root, augment="strong", **OPTIONS)
    assert any(not torch.equal(plain[(0, i)]["A"], augmented[(0, i)]["A"]) for i in range(3))
