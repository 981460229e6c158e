"""Label maps: palettes, one-hot encoding, and the errors for values that are no class."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA
from PIL import Image

from img2img.data.labels import PALETTES, LabelMapFolder, load_palette, palette_legend
from img2img.images import pil_to_tensor
from img2img.nets.labels import LabelEncoder, LabelToImage, UnknownLabel

FACADES = PALETTES["facades"]


def as_input(rgb: np.ndarray) -> torch.Tensor:
    return pil_to_tensor(Image.fromarray(rgb.astype(np.uint8)))[None]


def test_each_palette_colour_maps_to_its_class() -> None:
    encoder = FACADES.encoder()
    rgb = np.array(FACADES.colours)[None]  # 1 x 12 pixels, class k at column k
    one_hot = encoder(as_input(rgb))
    assert one_hot.shape == (1, 12, 1, 12)
    assert torch.equal(one_hot[0, :, 0], torch.eye(12))
    noisy = np.clip(rgb + np.array([9, -7, 5]), 0, 255)  # JPEG-like noise keeps the class
    assert torch.equal(encoder.indices(as_input(noisy))[0, 0], torch.arange(12))


def test_unknown_colour_names_the_colour() -> None:
    encoder = FACADES.encoder()
    rgb = np.zeros((12, 12, 3)) + np.array(FACADES.colours[1])
    rgb[4:, 4:] = 0  # an area of black: a class the palette lacks
    with pytest.raises(UnknownLabel, match=r"colour \(0, 0, 0\) is no class.*174 away"):
        encoder(as_input(rgb))
    rgb[4:, 4:] = FACADES.colours[1]
    rgb[6, 2:10] = (120, 40, 130)  # a line blended between classes, as JPEG draws borders
    assert encoder.indices(as_input(rgb)).unique().tolist() == [1, 11]
    exact = LabelEncoder(2, torch.tensor([[0.0, 0, 0], [255, 255, 255]]))
    with pytest.raises(UnknownLabel, match=r"\(1, 0, 0\)"):
        exact(as_input(np.array([[(0, 0, 0), (1, 0, 0)]])))


def test_class_index_images() -> None:
    encoder = LabelEncoder(4)
    grey = np.array([[0, 1, 2, 3]])[..., None].repeat(3, axis=2)
    assert torch.equal(encoder.indices(as_input(grey))[0, 0], torch.arange(4))
    with pytest.raises(UnknownLabel, match="class index 7 in a label map of 4 classes"):
        encoder(as_input(np.full((1, 2, 3), 7)))


def test_label_to_image_feeds_the_network_one_hot_channels() -> None:
    conv = torch.nn.Conv2d(4, 3, 1)
    conv.size_multiple = 1  # what LabelToImage passes on to translate
    net = LabelToImage(conv, LabelEncoder(4))
    assert net(as_input(np.zeros((4, 4, 3)))).shape == (1, 3, 4, 4)
    assert net.encode(as_input(np.full((2, 2, 3), 2)))[0, :, 0, 0].tolist() == [0, 0, 1, 0]
    assert "encoder.palette" in net.state_dict()  # the palette travels with the weights


def test_label_map_folder_names_the_file_and_colour(tmp_path: Path) -> None:
    root = tmp_path / "train"
    root.mkdir()
    label = np.zeros((8, 8, 3), np.uint8) + np.array(FACADES.colours[1], np.uint8)
    photo = np.full((8, 8, 3), 128, np.uint8)
    Image.fromarray(np.concatenate([photo, label], 1)).save(root / "good.png")
    label[2:6, 2:6] = (255, 255, 255)
    Image.fromarray(np.concatenate([photo, label], 1)).save(root / "bad.png")
    encoder = FACADES.encoder()
    folder = LabelMapFolder(root, encoder, direction="BtoA", load_size=16, crop_size=16)
    with pytest.raises(ValueError, match=r"bad\.png: label map colour \(255, 255, 255\)"):
        folder[0]
    item = folder[1]  # good.png, resized 8 -> 16 with nearest neighbour: still one class
    assert encoder.indices(item["input"][None]).unique().tolist() == [1]


def test_palette_files(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"colours": [[0, 0, 0], [255, 0, 0]], "names": ["a", "b"]}))
    palette = load_palette(path)
    assert palette.colours == ((0, 0, 0), (255, 0, 0)) and palette.tolerance == 0.0
    path.write_text(json.dumps([[0, 0, 0], [1, 2, 300]]))
    with pytest.raises(ValueError, match=r"p\.json: not a palette.*0\.\.255"):
        load_palette(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.json: palette not found.*facades"):
        load_palette(tmp_path / "missing.json")


def test_facades_palette_covers_the_real_label_maps() -> None:
    """Every pixel of a sample of the CMP Facades label halves is within the palette's
    tolerance, and the big classes (background, facade, window) are all found."""
    folder = SHARED_DATA / "facades" / "train"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found: the real facades data is not on this machine")
    encoder = FACADES.encoder()
    files = random.Random(0).sample(sorted(folder.glob("*.jpg")), 25)
    found = set()
    for path in files:
        image = np.asarray(Image.open(path).convert("RGB"))
        found |= set(encoder.indices(as_input(image[:, image.shape[1] // 2 :])).unique().tolist())
    assert {0, 1, 2} <= found and len(found) >= 8


def test_palette_legend_names_each_class_colour() -> None:
    legend = palette_legend({"task": "pix2pixhd", "palette": "facades"})
    assert legend.startswith("Input label colours (facades): background `#0000de`, facade")
    assert legend.count("`#") == 12 and "shop `#ae0001`" in legend
    assert palette_legend({"task": "pix2pix"}) == ""
