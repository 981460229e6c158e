"""The Python API: shipped models run, translate round-trips every input kind, and models
are found by name, directory or .safetensors + .json pair."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_CYCLEGAN, TINY_GAN, TINY_PIX2PIX, save_untrained_model
from PIL import Image

import img2img
from img2img import saved_models
from img2img.catalog import list_models
from img2img.saved_models import WEIGHTS_DIR, is_model_dir, read_model, resolve_model

SHIPPED = sorted(p.name for p in WEIGHTS_DIR.iterdir() if is_model_dir(p))


def blobs(size: int = 40) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8))


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_loads_and_runs_on_a_small_input(name: str, one_thread):
    """Found at test time, so each model added to weights/ is covered. Image models give an
    image of the input's size times their scale; GANs draw images of their size."""
    info = next(m for m in list_models(runs=None) if m.name == name)
    card = json.loads((WEIGHTS_DIR / name / saved_models.MODEL_CARD_FILE).read_text())
    assert card["task"] == info.task and info.shipped
    if info.task == "gan":
        from img2img.sampling import load_gan, sample_labels
        from img2img.tasks.noise import generate, latent

        generator, config = load_gan(info.path)
        labels = sample_labels(generator.num_classes, 2, None)
        fake = generate(generator, latent(2, config.z_dim, 0), labels)
        assert fake.shape == (2, config.channels, config.image_size, config.image_size)
        assert fake.isfinite().all() and fake.abs().max() <= 1
        return
    image = blobs()
    for direction in info.directions or (None,):
        translator = img2img.load(name, device="cpu", direction=direction)
        scale = getattr(translator.config, "scale", 1)
        output = translator(image)
        assert output.size == (image.width * scale, image.height * scale)
        assert np.asarray(output).std() > 1  # an image, not a constant


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return save_untrained_model(tmp_path / "tiny", "pix2pix", **TINY_PIX2PIX)


def test_translate_round_trips_each_input_kind(tiny_model: Path, tmp_path: Path, one_thread):
    """Path and PIL give PIL, numpy gives numpy, tensors give tensors of the input's rank; all
    are the same translation (PIL/numpy are its 8-bit rounding)."""
    image = blobs()
    image.save(tmp_path / "in.png")
    array = np.asarray(image)
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 127.5 - 1

    from_path = img2img.translate(str(tmp_path / "in.png"), model=tiny_model)
    from_pil = img2img.translate(image, model=tiny_model)
    from_numpy = img2img.translate(array, model=tiny_model)
    from_chw = img2img.translate(tensor, model=tiny_model)
    from_nchw = img2img.translate(tensor[None].repeat(2, 1, 1, 1), model=tiny_model)

    assert isinstance(from_path, Image.Image) and from_path.size == image.size
    assert np.array_equal(np.asarray(from_path), np.asarray(from_pil))
    assert from_numpy.dtype == np.uint8 and np.array_equal(from_numpy, np.asarray(from_pil))
    assert from_chw.shape == tensor.shape and from_nchw.shape == (2, *tensor.shape)
    assert torch.allclose(from_nchw[0], from_chw, atol=1e-5)
    as_uint8 = ((from_chw + 1) * 127.5).round().clamp(0, 255).permute(1, 2, 0).numpy()
    assert np.abs(as_uint8 - from_numpy).max() <= 1


def test_unknown_model_name_lists_the_available_models(tmp_path: Path, monkeypatch):
    """translate names the shipped models; img2img.catalog also the user's runs/."""
    save_untrained_model(tmp_path / "runs" / "mine", "pix2pix", **TINY_PIX2PIX)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as caught:
        img2img.translate(blobs(), model="facades-labl2photo")
    assert str(caught.value).startswith("facades-labl2photo: not a model directory")
    assert all(name in str(caught.value) for name in SHIPPED)
    with pytest.raises(FileNotFoundError) as caught:
        resolve_model("facades-labl2photo")
    assert str(caught.value).endswith(f"available models: {', '.join([*SHIPPED, 'runs/mine'])}")


def test_list_models_finds_shipped_and_user_models_with_their_tasks(tmp_path: Path):
    runs = tmp_path / "runs"
    save_untrained_model(runs / "b-cycle", "cyclegan", **TINY_CYCLEGAN)
    save_untrained_model(runs / "c-gan", "gan", **TINY_GAN)
    pair_dir = save_untrained_model(tmp_path / "exported", "pix2pix", **TINY_PIX2PIX)
    shutil.copy(pair_dir / "generator.safetensors", runs / "a-pair.safetensors")
    shutil.copy(pair_dir / "config.json", runs / "a-pair.json")
    (runs / "not-a-model").mkdir()
    (runs / "eval").mkdir()  # what `img2img eval` writes: no config, no weights
    broken = save_untrained_model(runs / "d-broken", "pix2pix", **TINY_PIX2PIX)
    (broken / "config.json").write_text("{not json")

    with pytest.warns(UserWarning, match="d-broken"):
        found = list_models(runs)

    user = [(m.name, m.task, m.directions, m.shipped) for m in found if not m.shipped]
    assert user == [
        (str(runs / "a-pair.safetensors"), "pix2pix", (), False),
        (str(runs / "b-cycle"), "cyclegan", ("AtoB", "BtoA"), False),
        (str(runs / "c-gan"), "gan", (), False),
    ]
    assert [m.name for m in found if m.shipped] == SHIPPED
    assert [m.name for m in list_models(runs=None)] == SHIPPED
    assert list_models(tmp_path / "no-such-folder") == list_models(runs=None)


def test_a_safetensors_file_with_its_json_is_a_model(tiny_model: Path, tmp_path: Path):
    pair = tmp_path / "pair"
    pair.mkdir()
    shutil.copy(tiny_model / "generator.safetensors", pair / "facades.safetensors")
    shutil.copy(tiny_model / "config.json", pair / "facades.json")
    values, weights = read_model(pair / "facades.safetensors")
    dir_values, dir_weights = read_model(tiny_model)
    assert values == dir_values and values["task"] == "pix2pix"
    assert weights.keys() == dir_weights.keys()
    assert all(torch.equal(weights[k], dir_weights[k]) for k in weights)
    # The weights file of a model directory takes the directory's config.json.
    assert read_model(tiny_model / "generator.safetensors")[0] == dir_values


def test_model_files_that_cannot_work_are_named_with_the_problem(tmp_path: Path):
    lone = tmp_path / "lone.safetensors"
    lone.write_bytes(b"weights")
    with pytest.raises(FileNotFoundError, match=r"lone.safetensors: weights without a config.*"):
        resolve_model(lone)
    (tmp_path / "lone.json").write_text(json.dumps({"task": "pix2pix"}))
    with pytest.raises(ValueError, match=r"lone.safetensors: unreadable weights"):
        read_model(lone)
    (tmp_path / "lone.json").write_text(json.dumps({"ngf": 8}))
    with pytest.raises(ValueError, match=r'lone.json: a model config needs a "task" field'):
        read_model(lone)


def test_translate_runs_a_safetensors_json_pair(tiny_model: Path, tmp_path: Path, one_thread):
    shutil.copy(tiny_model / "generator.safetensors", tmp_path / "m.safetensors")
    shutil.copy(tiny_model / "config.json", tmp_path / "m.json")
    image = blobs()
    expected = np.asarray(img2img.translate(image, model=tiny_model))
    assert np.array_equal(
        np.asarray(img2img.translate(image, model=tmp_path / "m.safetensors")), expected
    )


def test_a_gan_saved_as_two_files_samples_and_other_tasks_are_refused(
    tmp_path: Path, tiny_model: Path
) -> None:
    """Sampling reads models through the one loader, so every saved form works."""
    from img2img.sampling import load_gan, write_sample_files

    model = save_untrained_model(tmp_path / "gan", "gan", **TINY_GAN)
    shutil.copy(model / "generator.safetensors", tmp_path / "digits.safetensors")
    shutil.copy(model / "config.json", tmp_path / "digits.json")
    generator, config = load_gan(tmp_path / "digits.safetensors")
    assert config.z_dim == TINY_GAN["z_dim"] and not generator.training
    written = write_sample_files(tmp_path / "digits.safetensors", tmp_path / "s.png", n=4)
    assert [p.name for p in written] == ["s.png", "s_slerp.png"]
    with pytest.raises(ValueError, match="not a GAN"):
        load_gan(tiny_model)
