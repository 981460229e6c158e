"""The contract every registered recipe keeps, checked for each task in the registry.

A recipe added to img2img (or registered by a plug-in that is installed) is parametrized here
automatically, and fails until it has a :data:`CONTRACT` entry: its data, its smallest
settings and its pinned checkpoint keys. For each task:

- it names a registered evaluation protocol and demo tab; a two-way task's directions are
  its generator's keys;
- two training steps on real data (the shared data sets when present, else files of the same
  format made here) with ``--val-every``, save a model that reloads and translates, inpaints
  or samples, and log the validation metrics and keep ``best/``;
- a run stopped after one step and resumed for the next ends where the straight run did;
- its training state's keys are the pinned checkpoint format;
- ``--help`` lists only options the recipe reads (each config field is read as an attribute
  in the recipe's modules: see :func:`reading_modules`).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from conftest import SHARED_DATA, make_aligned_pairs, make_hr_images
from PIL import Image

from img2img.checkpoint import load_training_state
from img2img.config import TrainConfig, merge
from img2img.metrics.protocols import EVALUATIONS
from img2img.tasks import TASKS
from img2img.train import Trainer
from img2img.watch import TrainingDiverged
from tests.data.test_gan_data import make_mnist
from tests.tasks.test_cyclegan import make_unpaired

QUIET = {"num_workers": 0, "device": "cpu", "log_every": 1, "sample_every": 1000}


def copy_files(files: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copy(file, folder / file.name)


def paired(root: Path) -> Path:
    """Four facades (A|B photo and label map) to train on and two to test, or made pairs."""
    facades = SHARED_DATA / "facades"
    if not facades.is_dir():
        make_aligned_pairs(root / "train", 4, 32, seed=0)
        return make_aligned_pairs(root / "test", 2, 32, seed=1).parent
    for split, count in (("train", 4), ("test", 2)):
        copy_files(sorted((facades / split).glob("*.jpg"))[:count], root / split)
    return root


def unpaired(root: Path) -> Path:
    """trainA/trainB/testA/testB: facades photos and label maps, or made domains."""
    from img2img.data.unpaired import split_unpaired

    if not (SHARED_DATA / "facades").is_dir():
        return make_unpaired(root, train=4, test=2)
    split_unpaired(paired(root.with_name(root.name + "-pairs")), root)
    return root


def mnist(root: Path) -> Path:
    """The MNIST test digits, or a made MNIST folder (IDX files)."""
    real = SHARED_DATA / "mnist"
    return real if real.is_dir() else make_mnist(root, count=20)


def small_images(root: Path) -> Path:
    """Eight CIFAR-10 images to train on and four to test, or made textures."""
    cifar = SHARED_DATA / "cifar10-test" / "airplane"
    if not cifar.is_dir():
        make_hr_images(root / "train", [(16, 16)] * 8)
        return make_hr_images(root / "test", [(16, 16)] * 4, seed=1).parent
    files = sorted(cifar.glob("*.jpg"))
    copy_files(files[:8], root / "train")
    copy_files(files[8:12], root / "test")
    return root


def hr_images(root: Path) -> Path:
    """Set5's HR images: three to train on and two to test, or made textures."""
    set5 = SHARED_DATA / "sr" / "Set5"
    if not set5.is_dir():
        make_hr_images(root / "train", [(40, 36)] * 3)
        return make_hr_images(root / "test", [(40, 36)] * 2, seed=1).parent
    files = sorted(set5.glob("*.png"))
    copy_files(files[:3], root / "train")
    copy_files(files[3:5], root / "test")
    return root


@dataclass
class Contract:
    """What a task's contract tests need: ``data(root)`` writes its data set, ``settings``
    are its smallest options, ``keys`` the top-level keys of its training state."""

    data: Callable[[Path], Path]
    settings: dict
    keys: set[str]


ADVERSARIAL = {"generator", "g_stepper", "adversary"}
CONTRACT: dict[str, Contract] = {
    "pix2pix": Contract(
        paired, {"image_size": 32, "load_size": 36, "ngf": 8, "ndf": 8, "batch_size": 2},
        ADVERSARIAL,
    ),
    "pix2pixhd": Contract(
        paired,
        {"image_size": 32, "ngf": 4, "ndf": 4, "global_blocks": 1, "d_layers": 1, "num_d": 2,
         "batch_size": 2},
        {*ADVERSARIAL, "iteration"},
    ),
    "cyclegan": Contract(
        unpaired,
        {"image_size": 32, "load_size": 36, "ngf": 4, "ndf": 4, "resnet_blocks": 1,
         "batch_size": 2},
        {"generator", "g_stepper", "adversary_A", "adversary_B", "pool_A", "pool_B"},
    ),
    "gan": Contract(
        mnist, {"ngf": 4, "ndf": 4, "z_dim": 8, "batch_size": 4},
        {*ADVERSARIAL, "real_diversity", "saturated_run"},
    ),
    "ddgan": Contract(
        mnist, {"ngf": 4, "ndf": 4, "z_dim": 8, "t_dim": 8, "batch_size": 4},
        {*ADVERSARIAL, "real_diversity", "saturated_run"},
    ),
    "progan": Contract(
        mnist,
        {"image_size": 8, "fmap_base": 16, "fmap_max": 8, "z_dim": 8, "batch_sizes": "4:4,8:4",
         "images_per_phase": 4},
        {"generator", "adversary", "g_optimizer", "growth"},
    ),
    "srgan": Contract(
        hr_images,
        {"scale": 2, "image_size": 16, "batch_size": 2, "blocks": 1, "ngf": 8, "ndf": 8,
         "perceptual": "inception", "perceptual_layer": "conv_1", "psnr_steps": 1},
        {*ADVERSARIAL, "iteration", "psnr_steps"},
    ),
    "inpaint": Contract(
        paired,
        {"half": "A", "image_size": 32, "load_size": 36, "nef": 8, "ngf": 8, "ndf": 8,
         "bottleneck": "channelwise", "overlap": 2, "batch_size": 2},
        ADVERSARIAL,
    ),
    "vqgan": Contract(
        small_images,
        {"image_size": 16, "batch_size": 2, "downsample": 4, "ngf": 32, "channel_mult": "1,1,1",
         "res_blocks": 1, "attention": False, "code_dim": 8, "codebook_size": 16, "ndf": 8,
         "d_layers": 1, "perceptual": "none", "disc_start": 1},
        {*ADVERSARIAL, "iteration"},
    ),
}  # fmt: skip


def contract(name: str) -> Contract:
    if name not in CONTRACT:
        pytest.fail(
            f"task {name!r} has no contract: add its data, smallest settings and checkpoint keys "
            "to CONTRACT in tests/tasks/test_contract.py"
        )
    return CONTRACT[name]


def config_for(name: str, data: Path, out: Path, **overrides):
    task = TASKS[name]
    values = {"data": str(data), "out": str(out), **QUIET, **contract(name).settings}
    return merge(task.Config, values, overrides)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Path, Path]]:
    """``runs(name)``: (data, straight run of two steps with --val-every 2), made once."""
    made: dict[str, tuple[Path, Path]] = {}

    def run(name: str) -> tuple[Path, Path]:
        if name not in made:
            root = tmp_path_factory.mktemp(name)
            data = contract(name).data(root / "data")
            out = root / "straight"
            torch.manual_seed(0)
            config = config_for(name, data, out, max_steps=2, save_every=1, val_every=2,
                                val_images=4)  # fmt: skip
            Trainer(config).fit()
            made[name] = data, out
        return made[name]

    return run


@pytest.mark.parametrize("name", list(TASKS))
def test_registration_names_a_protocol_a_tab_and_the_directions(name: str) -> None:
    from img2img.demo import TABS

    task = TASKS[name]
    assert task.evaluation in EVALUATIONS and task.demo_tab in TABS
    assert task.Config.task == name
    generator = task.build_generator(config_for(name, Path("-"), Path("-")))
    if task.directions:  # a two-way model's networks are its directions
        assert tuple(generator) == task.directions
    else:
        assert not isinstance(generator, torch.nn.ModuleDict)


@pytest.mark.parametrize("name", list(TASKS))
def test_two_steps_validate_save_and_the_model_runs(name: str, runs) -> None:
    from img2img.infer import Translator, load_generator
    from img2img.nets.capabilities import DrawsFromNoise
    from img2img.sampling import write_sample_files

    _, out = runs(name)
    logged = [json.loads(line) for line in (out / "losses.jsonl").read_text().splitlines()]
    protocol = EVALUATIONS[TASKS[name].evaluation]
    val = [row for row in logged if any(key.startswith("val_") for key in row)]
    assert val, f"no validation logged in {out / 'losses.jsonl'}"
    measured = {key[4:] for key in val[-1] if key.startswith("val_")}
    assert any(key.startswith(protocol.decides) for key in measured), measured
    assert json.loads((out / "best" / "val.json").read_text())["metric"] == protocol.decides

    generator, config = load_generator(out)
    if isinstance(generator, DrawsFromNoise):
        files = write_sample_files(out, out / "samples.png", n=4, interpolations=0)
        assert Image.open(files[0]).size[0] > 0
        return
    network = generator[TASKS[name].directions[0]] if TASKS[name].directions else generator
    translator = Translator(network, config, torch.device("cpu"), engine="torch")
    image = torch.rand(1, 3, 36, 44) * 2 - 1  # not a multiple of any network's size
    output = translator.translate_batch(image)  # an inpainting model: its training mask
    assert output.shape == (1, 3, 36 * translator.scale, 44 * translator.scale)
    assert torch.isfinite(output).all()


@pytest.mark.parametrize("name", list(TASKS))
def test_resumed_run_ends_where_the_straight_run_did(name: str, runs, tmp_path: Path) -> None:
    data, straight = runs(name)
    out = tmp_path / "resumed"
    settings = {"save_every": 1, "val_every": 2, "val_images": 4}
    torch.manual_seed(0)
    Trainer(config_for(name, data, out, max_steps=1, **settings)).fit()
    torch.manual_seed(1)  # the resumed run restores its own RNG state
    Trainer(config_for(name, data, out, max_steps=2, **settings), resume=True).fit()
    compared = assert_same_tensors(
        load_training_state(straight)["task"], load_training_state(out)["task"], "task"
    )
    assert any(".discriminator." in path or "adversar" in path for path in compared), compared


@pytest.mark.parametrize("name", list(TASKS))
def test_steppers_are_named_after_their_networks(name: str, runs, tmp_path: Path) -> None:
    """The names the logs (lr/NAME), the loss checks and their errors use."""
    data, _ = runs(name)
    names = list(Trainer(config_for(name, data, tmp_path / "run")).task.steppers)
    assert names[0] == "generator" and names[1:], names
    assert all(other.startswith("discriminator") for other in names[1:]), names


@pytest.mark.parametrize("name", list(TASKS))
def test_every_stepper_decays_linearly_over_the_last_epochs(
    name: str, runs, tmp_path: Path
) -> None:
    """--decay-epochs (the pix2pix/CycleGAN schedule) reaches each of the task's steppers:
    the base rate until the decay starts, 0 at the run's last iteration."""
    data, _ = runs(name)
    schedule = {"epochs": 4, "decay_epochs": 2, "lr_schedule": "linear", "lr_floor": 0.0}
    trainer = Trainer(config_for(name, data, tmp_path / "run", **schedule))
    total = trainer.total_steps
    for stepper_name, stepper in trainer.task.steppers.items():
        factor = stepper.scheduler.lr_lambdas[0]
        assert (factor(total // 2), factor(total)) == (1.0, 0.0), stepper_name


def is_float(value: object) -> bool:
    return isinstance(value, torch.Tensor) and value.is_floating_point()


@pytest.mark.parametrize("name", list(TASKS))
def test_skip_nonfinite_drops_a_nan_batchs_updates_instead_of_stopping(
    name: str, runs, tmp_path: Path
) -> None:
    """--skip-nonfinite reaches the task's own loss check: an iteration on NaN images drops
    the updates it would have made, and counts them, where without it the run stops."""
    data, _ = runs(name)
    for skip in (True, False):
        trainer = Trainer(config_for(name, data, tmp_path / str(skip), skip_nonfinite=skip))
        batch = {
            key: torch.full_like(value, float("nan")) if is_float(value) else value
            for key, value in next(trainer.batches()).items()
        }
        if skip:
            trainer.iteration(batch)
            assert trainer.skipped_updates() > 0
        else:
            with pytest.raises(TrainingDiverged):
                trainer.iteration(batch)


def assert_same_tensors(expected: object, actual: object, path: str) -> list[str]:
    """Every tensor of a (nested) state equal in the other one; the paths compared."""
    if isinstance(expected, torch.Tensor):
        torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6, msg=path)
        return [path]
    compared = []
    if isinstance(expected, dict):
        for key, value in expected.items():
            compared += assert_same_tensors(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list | tuple):
        for k, value in enumerate(expected):
            compared += assert_same_tensors(value, actual[k], f"{path}[{k}]")
    return compared


@pytest.mark.parametrize("name", list(TASKS))
def test_checkpoint_keys_are_pinned(name: str, runs) -> None:
    _, out = runs(name)
    assert set(load_training_state(out)["task"]) == contract(name).keys


def reading_modules(task: type) -> list[Path]:
    """The source files whose attribute reads count as the task reading an option: the
    module defining the task, those defining its config's classes, and the modules of
    ``img2img.tasks`` they import, transitively (the recipe's own helpers), but never
    another recipe's module: a recipe that inherits another's options reads them there, and
    offering them would list options it ignores."""
    others = {other.__module__ for other in TASKS.values()} - {task.__module__}
    todo = [task.__module__, *(cls.__module__ for cls in task.Config.__mro__)]
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen or module in others or not module.startswith("img2img."):
            continue
        seen.add(module)
        path = Path(importlib.import_module(module).__file__)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("img2img.tasks"):
                todo.append(node.module)
    return [Path(importlib.import_module(m).__file__) for m in sorted(seen)]


def attributes_read(paths: list[Path]) -> set[str]:
    """Names read in ``paths``: attributes (``config.lr``) and the string keys of
    ``values.get("preset")`` and ``values["preset"]`` (a config's presets read its values)."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                names.add(node.attr)
            key = None
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "get":
                key = node.args[0] if node.args else None
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
                key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                names.add(key.value)
    return names


@pytest.mark.parametrize("name", list(TASKS))
def test_help_lists_only_options_the_task_reads(name: str) -> None:
    task = TASKS[name]
    shared = {f.name for f in dataclasses.fields(TrainConfig)}  # the Trainer reads these
    own = [f.name for f in dataclasses.fields(task.Config) if f.name not in shared]
    read = attributes_read(reading_modules(task))
    unread = [option for option in own if option not in read]
    assert not unread, f"--task {name} offers options it never reads: {unread}"


def test_the_trainer_reads_every_shared_option() -> None:
    package = Path(importlib.import_module("img2img").__file__).parent
    read = attributes_read([p for p in package.rglob("*.py") if p.name != "config.py"])
    unread = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in read]
    assert not unread, unread


def options_of(name: str) -> set[str]:
    return {field.name for field in dataclasses.fields(TASKS[name].Config)}


def built(name: str, root: Path, **overrides):
    """The task ``name`` constructed on its contract data with ``overrides``."""
    config = config_for(name, contract(name).data(root / "data"), root / "out", **overrides)
    return TASKS[name](config, 10, 0, torch.device("cpu"))


def adversaries(task) -> list:
    """The task's Adversaries: CycleGAN's one per domain, the others' one."""
    if hasattr(task, "adversaries"):
        return list(task.adversaries.values())
    return [task.adversary]


def discriminators(task) -> list[torch.nn.Module]:
    return [adversary.discriminator for adversary in adversaries(task)]


def weighted_layers(module: torch.nn.Module) -> list[torch.nn.Module]:
    kinds = (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)
    return [m for m in module.modules() if isinstance(m, kinds)]


@pytest.mark.parametrize("name", [name for name in TASKS if "ndf" in options_of(name)])
def test_ndf_sets_the_width_of_every_discriminator(name: str, tmp_path: Path) -> None:
    for discriminator in discriminators(built(name, tmp_path, ndf=6)):
        widths = {
            getattr(m, "out_channels", getattr(m, "out_features", 0))
            for m in weighted_layers(discriminator)
        }
        assert 6 in widths and 4 not in widths and 8 not in widths, widths  # not the contract's


@pytest.mark.parametrize("name", [name for name in TASKS if "init" in options_of(name)])
def test_the_weight_init_and_its_gain_reach_every_network(name: str, tmp_path: Path) -> None:
    """--init xavier --init-gain 0.5: each layer's std is 0.5 sqrt(2 / (fan_in + fan_out)),
    far from N(0, 0.5^2) (the default kind) and from the default gain's 0.02 scale."""
    task = built(name, tmp_path, init="xavier", init_gain=0.5)
    for network in (task.generator, *discriminators(task)):
        for layer in weighted_layers(network):
            weight = layer.weight.detach()
            receptive = weight[0, 0].numel()
            fans = (weight.shape[0] + weight.shape[1]) * receptive
            expected = 0.5 * (2 / fans) ** 0.5
            assert weight.std().item() == pytest.approx(expected, rel=0.25), layer


@pytest.mark.parametrize("name", [name for name in TASKS if "spectral_norm" in options_of(name)])
def test_spectral_norm_wraps_every_layer_of_the_discriminators(name: str, tmp_path: Path) -> None:
    for spectral_norm in (True, False):
        task = built(name, tmp_path / str(spectral_norm), spectral_norm=spectral_norm)
        for discriminator in discriminators(task):
            wrapped = [
                torch.nn.utils.parametrize.is_parametrized(m)
                for m in weighted_layers(discriminator)
            ]
            assert set(wrapped) == {spectral_norm}


@pytest.mark.parametrize("name", [name for name in TASKS if "d_steps" in options_of(name)])
def test_d_steps_reaches_every_adversary(name: str, tmp_path: Path) -> None:
    assert {a.d_steps for a in adversaries(built(name, tmp_path, d_steps=3))} == {3}
