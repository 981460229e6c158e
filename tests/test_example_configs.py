"""The example configurations in examples/configs/: each task's paper settings
(``TASK-paper.yaml``), the small CPU settings of its shipped model (``TASK-cpu.yaml``), the
settings of the image recipes' longer runs (``TASK-DATA-*.yaml``) and the laptop setting of
each GAN kind (``mnist-KIND.yaml``; ``cifar10-KIND.yaml`` for the longer CIFAR-10 runs).

Every file loads with values of its options' types (a YAML ``2e-4`` would be a string) and
trains for one step on data made here (the files' own ``data`` paths are examples), shrunk
to the contract test's smallest sizes; a paper file restates the defaults (which are the
paper's) and a CPU file the options its shipped model's training command set, as recorded
in that model's card.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import label_pairs, make_aligned_pairs, make_hr_images

from img2img.checkpoint import load_training_state
from img2img.config import add_config_arguments, load_yaml, merge
from img2img.tasks import TASKS
from img2img.train import Trainer
from tests.data.test_gan_data import make_mnist
from tests.tasks.test_contract import CONTRACT, QUIET
from tests.tasks.test_cyclegan import make_unpaired

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "examples" / "configs").glob("*.yaml"))
BUILT_IN = [name for name, task in TASKS.items() if task.__module__.startswith("img2img.tasks")]

# Where a paper file departs from img2img's defaults on purpose (said in the file).
PAPER_DEPARTURES = {"progan-paper.yaml": {"images_per_phase"}}
# Which shipped model each CPU file reproduces.
SHIPPED = {
    "pix2pix-cpu.yaml": "facades-label2photo",
    "cyclegan-cpu.yaml": "facades-label2photo-cyclegan",
    "srgan-cpu.yaml": "sr-x4",
    "inpaint-cpu.yaml": "facades-inpaint",
    "vqgan-cpu.yaml": "cifar10-vqgan",
    "gan-cpu.yaml": "mnist-dcgan",
}
# Options of a training command that say where a run reads, writes and logs, not what it
# trains: a configuration file leaves them to the command line.
RUN_ONLY = {"data", "out", "log_every", "save_every", "sample_every", "num_workers", "device"}


def task_of(path: Path) -> str:
    return load_yaml(path)["task"]


def pairs(root: Path) -> Path:
    make_aligned_pairs(root / "train", 4, 32, seed=0)
    return make_aligned_pairs(root / "test", 2, 32, seed=1).parent


def hr_images(root: Path) -> Path:
    make_hr_images(root / "train", [(40, 36)] * 3)
    return make_hr_images(root / "test", [(40, 36)] * 2, seed=1).parent


def small_images(root: Path) -> Path:
    make_hr_images(root / "train", [(16, 16)] * 8)
    return make_hr_images(root / "test", [(16, 16)] * 4, seed=1).parent


def label_map_pairs(root: Path) -> Path:
    label_pairs(root / "train", 4, 32)
    return label_pairs(root / "test", 2, 32).parent


# The data each task trains on here: small folders in the layout it reads.
DATA: dict[str, Callable[[Path], Path]] = {
    "pix2pix": pairs,
    "pix2pixhd": label_map_pairs,
    "cyclegan": lambda root: make_unpaired(root, train=4, test=2),
    "srgan": hr_images,
    "inpaint": pairs,
    "vqgan": small_images,
    "gan": lambda root: make_mnist(root, count=20),
    "ddgan": lambda root: make_mnist(root, count=20),
    "progan": lambda root: make_mnist(root, count=20),
}


def test_every_gan_kind_has_a_laptop_configuration() -> None:
    kinds = ("dcgan", "wgan-gp", "hinge", "ebgan", "progan", "style", "ddgan")
    assert {p.stem for p in CONFIGS if p.stem.startswith("mnist-")} == {
        f"mnist-{kind}" for kind in kinds
    }


def test_every_task_has_a_paper_and_a_cpu_configuration() -> None:
    names = {path.name for path in CONFIGS}
    missing = [
        f"{task}-{kind}.yaml" for task in BUILT_IN for kind in ("paper", "cpu")
        if f"{task}-{kind}.yaml" not in names
    ]  # fmt: skip
    assert not missing, missing


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_values_have_their_options_types(path: Path) -> None:
    values = load_yaml(path)
    fields = {f.name: f for f in dataclasses.fields(TASKS[values["task"]].Config)}
    wrong = {
        key: value
        for key, value in values.items()
        if key not in fields or type(value) is not type(fields[key].default)
    }
    assert not wrong, f"{path.name}: unknown options or values of the wrong type: {wrong}"


@pytest.mark.parametrize(
    "path", [p for p in CONFIGS if p.stem.endswith("-paper")], ids=lambda path: path.name
)
def test_a_paper_configuration_restates_the_defaults(path: Path) -> None:
    values = load_yaml(path)
    config_class = TASKS[values["task"]].Config
    variant = {key: values[key] for key in ("task", "preset") if key in values}
    written = merge(config_class, values).to_dict()
    defaults = merge(config_class, variant).to_dict()
    differ = {k: (written[k], defaults[k]) for k in written if written[k] != defaults[k]}
    assert set(differ) == PAPER_DEPARTURES.get(path.name, set()), differ


def shipped_command(model: str) -> list[str]:
    """The ``img2img train`` arguments the model's card records."""
    card = json.loads((ROOT / "weights" / model / "model_card.json").read_text())
    words = shlex.split(card["training"]["command"])
    return words[words.index("train", words.index("img2img")) + 1 :]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_a_cpu_configuration_sets_what_its_shipped_model_trained_with(name: str) -> None:
    values = load_yaml(ROOT / "examples" / "configs" / name)
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, TASKS[values["task"]].Config)
    trained = vars(parser.parse_args(shipped_command(SHIPPED[name])))  # typed by the parser
    trained = {key: value for key, value in trained.items() if key not in RUN_ONLY}
    trained.setdefault("task", values["task"])
    assert values == trained


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_a_configuration_trains_one_step(path: Path, tmp_path: Path, one_thread) -> None:
    values = load_yaml(path)
    task = values["task"]
    data = str(DATA[task](tmp_path / "data"))
    # The file's options, shrunk to the smallest networks and images of the task's contract
    # test, so that one step takes a second whatever the file's sizes.
    tiny = {**QUIET, **CONTRACT[task].settings, "max_steps": 1, "save_every": 1}
    config = merge(TASKS[task].Config, values, {"data": data, "out": str(tmp_path / "run")}, tiny)
    for key, value in values.items():
        if key not in tiny and key != "data":
            assert getattr(config, key) == value, key  # the file's own settings are used
    torch.manual_seed(0)
    Trainer(config).fit()
    assert load_training_state(tmp_path / "run")["step"] == 1
