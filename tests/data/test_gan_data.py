"""GAN data: MNIST IDX files, image and class folders, and the 2-D toy mixtures."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from img2img.data.classes import ImageFolder, class_names
from img2img.data.mnist import MNIST, is_mnist_folder, mnist_split_files, read_idx
from img2img.data.toy import MIXTURES, ToyDataset, get_mixture, mode_coverage
from tests.conftest import require_shared


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` (uint8) as an IDX file, gzipped when ``path`` ends in .gz."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def make_mnist(root: Path, count: int = 20, prefix: str = "t10k") -> Path:
    """A tiny MNIST-like folder: bright squares whose position encodes the label."""
    root.mkdir(parents=True, exist_ok=True)
    labels = np.arange(count) % 10
    images = np.zeros((count, 28, 28), np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 + 2 * label : 8 + 2 * label, 4:20] = 255
    write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
    write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return root


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_round_trips(tmp_path: Path, suffix: str) -> None:
    array = np.random.default_rng(0).integers(0, 256, (3, 5, 4)).astype(np.uint8)
    read = read_idx(write_idx(tmp_path / f"x-idx3-ubyte{suffix}", array))
    np.testing.assert_array_equal(read, array)


def test_read_idx_names_the_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad-idx3-ubyte"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="bad-idx3-ubyte: not an IDX file"):
        read_idx(bad)
    truncated = write_idx(tmp_path / "t-idx3-ubyte", np.zeros((4, 3, 3), np.uint8))
    truncated.write_bytes(truncated.read_bytes()[:-5])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(truncated)


def test_mnist_dataset_items_and_splits(tmp_path: Path) -> None:
    root = make_mnist(tmp_path / "mnist")
    assert is_mnist_folder(root) and not is_mnist_folder(tmp_path)
    assert mnist_split_files(root, "test") is None  # t10k only: it is the training split
    dataset = MNIST(*mnist_split_files(root, "train"), image_size=32)
    item = dataset[3]
    assert item["image"].shape == (1, 32, 32) and item["label"] == 3
    assert -1 <= item["image"].min() and item["image"].max() <= 1
    make_mnist(root, prefix="train")
    assert mnist_split_files(root, "train")[0].name.startswith("train")
    assert mnist_split_files(root, "test")[0].name.startswith("t10k")


def test_real_mnist_reads() -> None:
    root = require_shared("mnist")
    dataset = MNIST(*mnist_split_files(root, "train"))
    assert len(dataset) == 10_000
    assert dataset.images.shape == (10_000, 1, 28, 28)
    assert sorted(set(dataset.labels.tolist())) == list(range(10))
    assert float(dataset.images.mean()) < -0.5  # mostly black background


def test_class_folders_give_labels_and_flat_folders_do_not(tmp_path: Path) -> None:
    for name, colour in [("cat", 0), ("dog", 255)]:
        (tmp_path / "classes" / name).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (40, 40), (colour, 0, 0)).save(
                tmp_path / "classes" / name / f"{i}.png"
            )
    dataset = ImageFolder(tmp_path / "classes", image_size=32)
    assert class_names(tmp_path / "classes") == ["cat", "dog"]
    assert [dataset[i]["label"] for i in range(4)] == [0, 0, 1, 1]
    assert dataset[0]["image"].shape == (3, 32, 32)
    gray = ImageFolder(tmp_path / "classes" / "dog", image_size=28, channels=1)
    assert gray[0]["image"].shape == (1, 28, 28) and gray.num_classes == 1


def test_unreadable_image_is_skipped_and_counted(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not an image")
    dataset = ImageFolder(tmp_path, image_size=8)
    with pytest.warns(UserWarning, match="b.png"):
        item = dataset[1]
    assert item["skipped"] == 1


def test_toy_mixtures_and_mode_coverage() -> None:
    ring = get_mixture("toy:ring8")
    assert len(ring.modes) == 8 and len(MIXTURES["grid25"].modes) == 25
    torch.testing.assert_close(ring.modes.norm(dim=1), torch.full((8,), 2.0))
    dataset = ToyDataset(ring, size=4000, seed=0)
    assert dataset[0]["image"].shape == (2,)
    perfect = mode_coverage(dataset.points, ring)
    assert perfect["modes"] == 8 and perfect["high_quality"] > 0.98
    collapsed = mode_coverage(ring.modes[:1].repeat(500, 1), ring)
    assert collapsed == {"modes": 1.0, "high_quality": 1.0}
    with pytest.raises(ValueError, match="toy:ring8"):
        get_mixture("toy:spiral")


def test_the_data_implies_size_channels_and_classes(tmp_path: Path) -> None:
    """MNIST: 28 px, gray, 10 classes (Stacked MNIST: RGB, 1000 modes); class folders: their
    count; toy points and flat folders: nothing."""
    from img2img.tasks.noise import noise_data_presets

    mnist = str(make_mnist(tmp_path / "mnist"))
    assert noise_data_presets(mnist) == {"image_size": 28, "channels": 1, "num_classes": 10}
    assert noise_data_presets(mnist, stacked=True)["num_classes"] == 1000
    for name in ("cat", "dog", "eel"):
        (tmp_path / "classes" / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "classes" / name / "0.png")
    assert noise_data_presets(str(tmp_path / "classes")) == {"num_classes": 3}
    assert noise_data_presets(str(tmp_path / "classes" / "cat")) == {}
    assert noise_data_presets("toy:ring8") == noise_data_presets("") == {}
