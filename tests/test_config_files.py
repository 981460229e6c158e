"""Options from files: YAML values in their options' types, and the layout of a saved
config.json (the model's options apart from the run's, the img2img version, the generator's
class), with configs saved before that layout still loading and resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY_PIX2PIX, cli_flags, save_untrained_model, tiny_pix2pix

import img2img
from img2img.checkpoint import load_training_state, save_model
from img2img.cli import main
from img2img.config import CONFIG_FORMAT, merge, typed_options
from img2img.infer import load_generator
from img2img.saved_models import read_config
from img2img.tasks.pix2pix import Pix2Pix, Pix2PixConfig


def test_yaml_floats_without_a_dot_are_numbers(paired_dataset: Path, tmp_path: Path):
    """PyYAML (YAML 1.1) reads ``2e-4`` as a string; it failed inside the optimizer."""
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("lr: 2e-4\nbeta1: 5e-1\nmax_steps: 1e0\nflip: 'no'\n")
    out = tmp_path / "run"
    main(["train", "--task", "pix2pix", "--config", str(yaml_file), "--data",
          str(paired_dataset), "--out", str(out), *cli_flags(TINY_PIX2PIX)])  # fmt: skip
    saved = read_config(out)
    assert (saved["lr"], saved["beta1"], saved["max_steps"], saved["flip"]) == (2e-4, 0.5, 1, False)
    assert isinstance(saved["lr"], float) and isinstance(saved["max_steps"], int)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("lr: fast", "lr: 'fast' is not a number"),
        ("ngf: 2.5", "ngf: 2.5 is not a whole number"),
        ("flip: maybe", "flip: 'maybe' is not true or false"),
        ("norm: no", "norm: False is not a text value"),  # YAML 1.1: no is false
        ("ngf:", "ngf: None is not a whole number"),
    ],
)
def test_a_yaml_value_of_the_wrong_type_is_named_with_its_file(
    paired_dataset: Path, tmp_path: Path, line: str, message: str
):
    yaml_file = tmp_path / "bad.yaml"
    yaml_file.write_text(f"task: pix2pix\n{line}\n")
    with pytest.raises(SystemExit, match=f"error: {yaml_file}: {message}"):
        main(["train", "--config", str(yaml_file), "--data", str(paired_dataset)])


def test_values_convert_to_their_options_types_where_nothing_is_lost():
    values = {"lr": 1, "ngf": "64", "epochs": 1e3, "flip": "yes", "direction": "BtoA",
              "logger": ["jsonl", "tensorboard"], "not_an_option": "kept"}  # fmt: skip
    typed = typed_options(Pix2PixConfig, values)
    assert typed == {"lr": 1.0, "ngf": 64, "epochs": 1000, "flip": True, "direction": "BtoA",
                     "logger": "jsonl,tensorboard", "not_an_option": "kept"}  # fmt: skip
    assert isinstance(typed["lr"], float)
    for bad in ({"ngf": True}, {"lr": True}, {"ngf": "1.5"}, {"data": ["a"]}):
        with pytest.raises(ValueError, match=r"saved\.json: "):
            typed_options(Pix2PixConfig, bad, "saved.json")


def test_a_saved_config_keeps_the_models_options_apart_from_the_runs(tmp_path: Path):
    config = tiny_pix2pix(tmp_path / "data", tmp_path / "out", num_workers=3, ema=0.5)
    save_model(tmp_path / "model", config, Pix2Pix.build_generator(config))
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["config_format"] == CONFIG_FORMAT and saved["task"] == "pix2pix"
    assert saved["img2img_version"] == img2img.__version__
    assert saved["model_class"] == "img2img.nets.unet.UNet"
    assert {"data", "out", "num_workers", "device", "logger", "save_every"} <= set(saved["run"])
    assert {"ngf", "norm", "batch_size", "image_size", "lr", "ema"} <= set(saved["model"])
    assert not set(saved["run"]) & set(saved["model"])
    assert read_config(tmp_path / "model") == config.to_dict()  # every option, flat


def test_a_two_way_model_records_each_networks_class(tmp_path: Path):
    from conftest import TINY_CYCLEGAN

    model = save_untrained_model(tmp_path / "cycle", "cyclegan", **TINY_CYCLEGAN)
    saved = json.loads((model / "config.json").read_text())
    assert saved["model_class"] == {
        "AtoB": "img2img.nets.resnet.ResNetGenerator",
        "BtoA": "img2img.nets.resnet.ResNetGenerator",
    }


def test_a_flat_config_of_before_the_layout_loads_the_same_model(tmp_path: Path):
    model = save_untrained_model(tmp_path / "new", "pix2pix", **TINY_PIX2PIX)
    old = tmp_path / "old"
    old.mkdir()
    (old / "generator.safetensors").write_bytes((model / "generator.safetensors").read_bytes())
    flat = {**read_config(model), "gan_mode": "vanilla", "lr": "2e-4"}  # old name, YAML text
    del flat["objective"]
    (old / "config.json").write_text(json.dumps(flat))
    new_generator, new_config = load_generator(model)
    old_generator, old_config = load_generator(old)
    assert old_config == new_config and old_config.lr == 2e-4
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(old_generator(x), new_generator(x), rtol=0, atol=0)


def test_a_config_of_a_newer_format_or_a_bad_value_is_named(tmp_path: Path):
    model = save_untrained_model(tmp_path / "m", "pix2pix", **TINY_PIX2PIX)
    saved = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**saved, "config_format": 99}))
    with pytest.raises(ValueError, match=r"config format 99: img2img .* reads formats 1 and 2"):
        load_generator(model)
    saved["model"]["ngf"] = "wide"
    (model / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=rf"{model / 'config.json'}: ngf: 'wide' is not a whole"):
        load_generator(model)


def test_a_run_saved_with_a_flat_config_resumes(paired_dataset: Path, tmp_path: Path):
    """Its options come back from the flat file: --ngf 4 is not repeated, and a network of
    the default width would not take the saved state."""
    out = tmp_path / "run"
    flags = ["--data", str(paired_dataset), "--out", str(out), *cli_flags(TINY_PIX2PIX)]
    main(["train", "--task", "pix2pix", *flags, "--max-steps", "1", "--ngf", "4"])
    (out / "config.json").write_text(json.dumps(read_config(out)))  # as img2img 0.1.0 wrote it
    main(["train", "--resume", str(out), "--max-steps", "2"])
    assert load_training_state(out)["step"] == 2
    assert read_config(out)["ngf"] == 4 and read_config(out)["max_steps"] == 2
    assert json.loads((out / "config.json").read_text())["config_format"] == CONFIG_FORMAT


def test_merge_converts_each_layer(tmp_path: Path):
    config = merge(Pix2PixConfig, {"data": "d", "lr": "1e-3"}, {"ngf": "8"})
    assert (config.lr, config.ngf) == (1e-3, 8)
