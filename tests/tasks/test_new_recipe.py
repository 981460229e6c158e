"""A recipe is one file: one written in this test file, the template in examples/, and one in
another package (an entry point) join img2img without any edit to the library."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from conftest import make_aligned_pairs
from PIL import Image
from torch import nn

from img2img.cli import main
from img2img.config import TrainConfig, merge, option
from img2img.data import PairedImageFolder, resolve_split
from img2img.nets import PatchGAN
from img2img.registry import Registry
from img2img.tasks import TASKS, register_task
from img2img.tasks.options import AdversaryOptions, OptimizerOptions, WidthOptions
from img2img.tasks.parts import StateFromParts, config_adversary, stepper_factory
from img2img.train import Trainer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class InvertConfig(WidthOptions, OptimizerOptions, AdversaryOptions, TrainConfig):
    """A test's recipe: learn B = the colour inverse of A from A|B pairs."""

    task: str = option("test-invert", "which recipe to train")
    image_size: int = option(32, "image side")
    batch_size: int = option(2, "images per step")
    l1_weight: float = option(10.0, "weight of L1")


class PixelNet(nn.Module):
    """A 1x1 convolution: enough to invert colours. Declares what ``translate`` needs."""

    in_channels, size_multiple, scale = 3, 1, 1

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x))


class Invert(StateFromParts):
    Config = InvertConfig

    @staticmethod
    def dataset(config: InvertConfig, split: str, augment: bool | None = None) -> Any:
        root = resolve_split(config.data, split)
        if root is None:
            return None
        size = config.image_size
        return PairedImageFolder(root, load_size=size, crop_size=size, flip=False, seed=config.seed)

    @staticmethod
    def build_generator(config: InvertConfig) -> nn.Module:
        return PixelNet()

    @staticmethod
    def per_image_statistics(config: InvertConfig) -> bool:
        return False

    def __init__(self, config: InvertConfig, total_steps: int, decay_steps: int, device) -> None:
        self.config, self.device = config, device
        self.generator = PixelNet().to(device)
        discriminator = PatchGAN(in_channels=6, ndf=config.ndf, n_layers=1).to(device)
        stepper = stepper_factory(config, total_steps, decay_steps)
        self.g_stepper = stepper(self.generator)
        self.adversary = config_adversary(config, discriminator, stepper(discriminator))
        self.steppers = {"generator": self.g_stepper, "discriminator": self.adversary.stepper}

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        a, b = batch["input"].to(self.device), batch["target"].to(self.device)
        fake = self.generator(a)
        logs = self.adversary.update(torch.cat([a, b], 1), torch.cat([a, fake], 1))
        l1 = F.l1_loss(fake, b)
        self.g_stepper.step(self.adversary.loss(torch.cat([a, fake], 1)) + 10 * l1)
        return {**logs, "g_l1": l1.item()}

    @torch.no_grad()
    def sample(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        a = batch["input"].to(self.device)
        return [a, self.generator(a), batch["target"].to(self.device)]


@pytest.fixture
def invert() -> Iterator[type]:
    register_task("test-invert", evaluation="aligned", demo_tab="translate")(Invert)
    yield Invert
    TASKS.unregister("test-invert")


def test_a_recipe_in_a_test_file_trains_validates_translates_and_is_in_the_demo(
    invert: type, tmp_path: Path
) -> None:
    data = tmp_path / "pairs"
    make_aligned_pairs(data / "train", 8, 32, seed=0)
    make_aligned_pairs(data / "test", 2, 32, seed=1)
    out = tmp_path / "run"
    values = {"data": str(data), "out": str(out), "ndf": 8, "lr": 0.02, "num_workers": 0}
    torch.manual_seed(0)
    Trainer(merge(InvertConfig, values, {"max_steps": 40, "val_every": 20})).fit()
    val = json.loads((out / "best" / "val.json").read_text())
    assert val["metric"] == "psnr" and val["value"] > 12  # an untrained 1x1 conv: about 6 dB

    image = data / "test" / "000.png"
    main(["translate", str(image), "-o", str(tmp_path / "out.png"), "--model", str(out)])
    assert Image.open(tmp_path / "out.png").size == (64, 32)  # the whole A|B file, translated

    from img2img.demo import TRANSLATE, build_demo

    demo = build_demo(models=[out])
    assert demo.backend.names(TRANSLATE) == [str(out)]
    output, status = demo.backend.translate(str(out), None, str(image))
    assert output.size == (64, 32) and "Translated" in status


def load_template() -> Any:
    path = EXAMPLES / "recipe_template.py"
    spec = importlib.util.spec_from_file_location("recipe_template", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import would (dataclasses look it up)
    spec.loader.exec_module(module)
    return module


def test_the_template_recipe_trains_and_evaluates(tmp_path: Path) -> None:
    from img2img.metrics.evaluate import evaluate

    template = load_template()
    try:
        data = tmp_path / "images"
        make_aligned_pairs(data / "train", 4, 32, seed=0)
        make_aligned_pairs(data / "test", 2, 32, seed=1)
        out = tmp_path / "run"
        values = {"data": str(data), "out": str(out), "image_size": 32, "ngf": 4, "ndf": 4,
                  "max_steps": 2, "num_workers": 0}  # fmt: skip
        Trainer(merge(template.DenoiseConfig, values)).fit()
        summary = evaluate(out, data, ["psnr"], progress=False, engine="torch").summary
        assert summary["evaluation"] == "aligned" and summary["metrics"]["psnr"] > 0
    finally:
        TASKS.unregister("denoise")
        del sys.modules["recipe_template"]


def test_entry_points_register_another_packages_recipes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package installed beside img2img declares its module in the registry's group; the
    registry imports it on first use, and a broken one is a warning naming it."""
    (tmp_path / "plugin_recipes.py").write_text(
        "from registry_under_test import REGISTRY\nREGISTRY.register('plugged', object())\n"
    )
    dist = tmp_path / "plugin_recipes-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-recipes\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[img2img.test_recipes]\nplugged = plugin_recipes\nbroken = no_such_module\n"
    )
    registry = Registry("recipe", "img2img.test_recipes")
    module = type(sys)("registry_under_test")
    module.REGISTRY = registry
    monkeypatch.setitem(sys.modules, "registry_under_test", module)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(UserWarning, match="broken.*no_such_module"):
        assert "plugged" in registry
    with pytest.raises(ValueError, match="unknown recipe 'other'; choose one of plugged"):
        registry["other"]


def test_registration_names_what_a_recipe_lacks(invert: type) -> None:
    """A class missing a member of the Task protocol, a config that is no TrainConfig
    dataclass, or one whose task is another name is refused when it registers; a recipe
    that says nothing of the Hub is an image-to-image one."""
    assert invert.pipeline_tag == "image-to-image" and invert.directions == ()
    lacking = type("Lacking", (), {"Config": InvertConfig})
    with pytest.raises(TypeError, match=r"task 'x' \(Lacking\) lacks dataset, build_generator"):
        register_task("x", evaluation="aligned", demo_tab="translate")(lacking)
    plain_config = dataclasses.make_dataclass("PlainConfig", [("task", str, "y")])
    plain = type("Plain", (Invert,), {"Config": plain_config})
    with pytest.raises(TypeError, match="Config must be a TrainConfig dataclass"):
        register_task("y", evaluation="aligned", demo_tab="translate")(plain)
    with pytest.raises(TypeError, match=r"InvertConfig.task defaults to 'test-invert'"):
        register_task("z", evaluation="aligned", demo_tab="translate")(Invert)
    assert "x" not in TASKS and "y" not in TASKS and "z" not in TASKS
