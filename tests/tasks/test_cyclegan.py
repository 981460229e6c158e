"""CycleGAN end to end on a toy unpaired problem with a known answer (B = the colour inverse
of A), exact resumption, translation both ways, the paper's defaults and the DualGAN preset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from img2img.checkpoint import load_model_files, load_training_state
from img2img.cli import main
from img2img.config import merge
from img2img.infer import load
from img2img.nets.resnet import ResidualBlock
from img2img.saved_models import read_config
from img2img.tasks.cyclegan import CycleGAN, CycleGANConfig
from img2img.train import Trainer

SIZE = 32


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny networks run faster on one thread than on two cores shared with other work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def blobs(rng: np.random.Generator) -> np.ndarray:
    """SIZE x SIZE uint8 RGB: three smooth blobs on black. Colours are drawn from a range
    that differs per channel, so no channel permutation of the answer fits domain B."""
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    image = np.zeros((SIZE, SIZE, 3))
    for _ in range(3):
        (cy, cx), radius = rng.uniform(0.1, 0.9, 2), rng.uniform(0.1, 0.3)
        blob = np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * radius**2))
        image += blob[..., None] * rng.uniform([0.5, 0.0, 0.2], [1.0, 0.5, 0.7])
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def make_unpaired(root: Path, train: int = 16, test: int = 4) -> Path:
    """trainA/testA: blob images; trainB/testB: colour inverses of *other* blob images."""
    for split, count, seed in (("train", train, 0), ("test", test, 1)):
        rng = np.random.default_rng(seed)
        for domain in "AB":
            (root / f"{split}{domain}").mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.fromarray(blobs(rng)).save(root / f"{split}A" / f"{i:02d}.png")
            Image.fromarray(255 - blobs(rng)).save(root / f"{split}B" / f"{i:02d}.png")
    return root


def tiny_config(data: Path, out: Path, **overrides) -> CycleGANConfig:
    values = {
        "data": str(data),
        "out": str(out),
        "image_size": SIZE,
        "load_size": SIZE + 4,
        "ngf": 8,
        "ndf": 8,
        "resnet_blocks": 2,
        "d_layers": 2,  # 34x34 patches: the whole 32x32 image
        "batch_size": 2,
        "epochs": 1000,
        "decay_epochs": 0,
        "num_workers": 0,
        "save_every": 10**6,
        "sample_every": 10**6,
        "log_every": 10,
        "num_samples": 2,
        "device": "cpu",
    }
    return merge(CycleGANConfig, values, overrides)


def inversion_error(generator: torch.nn.Module, config: CycleGANConfig) -> float:
    """Mean |G_AB(a) - (-a)| over the test A images, in [-1, 1] units (0 is the answer)."""
    dataset = CycleGAN.dataset(config, "test")
    a = torch.stack([dataset[i]["A"] for i in range(len(dataset))])
    with torch.no_grad():
        return float((generator.eval()(a) - (-a)).abs().mean())


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CycleGANConfig, float]:
    """150 iterations of the default recipe on the toy problem, identity loss off: it asks
    G_AB to leave B images unchanged, which contradicts an inversion. Returns the run
    directory, its config and G_AB's error at initialisation."""
    root = tmp_path_factory.mktemp("cyclegan")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    data = make_unpaired(root / "data")
    config = tiny_config(data, root / "run", max_steps=150, lr=1e-3, lambda_identity=0.0)
    torch.manual_seed(config.seed)  # as the Trainer does: the run's initial weights
    initial = CycleGAN(config, total_steps=1, decay_steps=0, device=torch.device("cpu"))
    error_before = inversion_error(initial.generator["AtoB"], config)
    Trainer(config).fit()
    torch.set_num_threads(threads)
    return root / "run", config, error_before


def test_short_run_learns_the_inversion_unpaired(toy_run) -> None:
    run, config, error_before = toy_run
    translator = load(run, device="cpu", direction="AtoB")
    error_after = inversion_error(translator.generator, config)
    assert error_after < 0.5 * error_before, (error_before, error_after)
    records = [json.loads(line) for line in (run / "losses.jsonl").open()]
    assert records[-1]["step"] == 150
    for cycle in ("cycle_A", "cycle_B"):
        assert records[-1][cycle] < 0.6 * records[0][cycle], (records[0], records[-1])
    assert {"d_loss_A", "d_loss_B", "g_gan_AtoB", "g_gan_BtoA"} <= set(records[-1])
    assert (run / "losses.png").stat().st_size > 0
    grid = Image.open(run / "samples" / "step_0000150.png")
    # real | translated | reconstructed, num_samples A rows then num_samples B rows
    assert grid.size == (3 * (SIZE + 2) + 2, 4 * (SIZE + 2) + 2)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_checkpoint_translates_both_ways(toy_run, tmp_path: Path) -> None:
    from img2img import translate

    run, config, _ = toy_run
    weights = load_model_files(run)[1]
    assert any(k.startswith("AtoB.") for k in weights) and any(
        k.startswith("BtoA.") for k in weights
    )
    a = np.asarray(Image.open(Path(config.data) / "testA" / "00.png"))
    b_from_a = translate(a, model=run, device="cpu", direction="AtoB")
    a_from_b = translate(255 - a, model=run, device="cpu", direction="BtoA")
    # Both directions approximately invert colours: far closer to the answer than to the input.
    for out, answer, given in ((b_from_a, 255 - a, a), (a_from_b, a, 255 - a)):
        assert out.shape == a.shape
        error = np.abs(out.astype(float) - answer).mean()
        assert error < 0.5 * np.abs(out.astype(float) - given).mean()
    assert np.array_equal(translate(a, model=run, device="cpu"), b_from_a), "default is AtoB"

    source = tmp_path / "in.png"
    Image.fromarray(a).resize((45, 37)).save(source)  # any size: padded, then cropped back
    main(
        [
            "translate",
            "--model",
            str(run),
            "--direction",
            "BtoA",
            str(source),
            "-o",
            str(tmp_path / "o.png"),
        ]
    )
    assert Image.open(tmp_path / "o.png").size == (45, 37)
    with pytest.raises(ValueError, match="translates AtoB or BtoA"):
        load(run, device="cpu", direction="sideways")

    from img2img.export import export_model

    traced = torch.jit.load(
        str(export_model(run, tmp_path / "g.pt", "torchscript", direction="BtoA"))
    )
    x = torch.rand(1, 3, SIZE, SIZE) * 2 - 1
    expected = load(run, device="cpu", precision="fp32", direction="BtoA").translate_tensor(x)
    torch.testing.assert_close(traced(x), expected, rtol=1e-4, atol=1e-4)


def test_a_one_way_model_refuses_a_direction() -> None:
    from img2img.infer import select_direction
    from img2img.tasks.pix2pix import Pix2PixConfig

    with pytest.raises(ValueError, match="pix2pix model translates one way only"):
        select_direction(torch.nn.Identity(), Pix2PixConfig(), "BtoA")


def test_resume_continues_exactly(tmp_path: Path) -> None:
    """Both generators, both discriminators, both pools (full and swapping by the resume
    point), the optimizers and the RNG come back: the next steps' losses match."""
    data = make_unpaired(tmp_path / "data", train=6, test=2)
    common = {"pool_size": 3, "log_every": 1, "save_every": 3, "sample_every": 100}
    Trainer(tiny_config(data, tmp_path / "straight", max_steps=6, **common)).fit()
    Trainer(tiny_config(data, tmp_path / "resumed", max_steps=3, **common)).fit()
    state = load_training_state(tmp_path / "resumed")
    assert state["step"] == 3 and len(state["task"]["pool_A"]["images"]) == 3
    Trainer(tiny_config(data, tmp_path / "resumed", max_steps=6, **common), resume=True).fit()

    def records(run: str) -> list[dict]:
        return [json.loads(line) for line in (tmp_path / run / "losses.jsonl").open()]

    for expected, actual in zip(records("straight"), records("resumed"), strict=True):
        for name in ("cycle_A", "cycle_B", "g_gan_AtoB", "g_gan_BtoA", "d_loss_A", "d_loss_B"):
            assert actual[name] == pytest.approx(expected[name], rel=1e-5, abs=1e-6), (
                expected["step"],
                name,
            )
    expected_state = load_training_state(tmp_path / "straight")["task"]
    actual_state = load_training_state(tmp_path / "resumed")["task"]
    for part in ("generator", "adversary_A", "adversary_B"):
        for name, tensor in expected_state[part].items():
            if isinstance(tensor, torch.Tensor):
                torch.testing.assert_close(actual_state[part][name], tensor, msg=f"{part}.{name}")
    for domain in "AB":
        pools = expected_state[f"pool_{domain}"]["images"], actual_state[f"pool_{domain}"]["images"]
        torch.testing.assert_close(torch.stack(pools[1]), torch.stack(pools[0]))


def test_defaults_are_the_papers() -> None:
    config = CycleGANConfig()
    assert (config.generator, config.norm, config.objective) == ("resnet", "instance", "lsgan")
    assert (config.lambda_a, config.lambda_b, config.lambda_identity) == (10.0, 10.0, 0.5)
    assert (config.pool_size, config.optimizer, config.lr, config.beta1) == (50, "adam", 2e-4, 0.5)
    assert (config.epochs, config.decay_epochs, config.d_layers) == (200, 100, 3)
    assert (config.image_size, config.load_size, config.flip) == (256, 0, True)  # 0: 286

    def blocks(image_size: int) -> int:
        config = merge(CycleGANConfig, {"image_size": image_size, "ngf": 4})
        net = CycleGAN.build_generator(config)["AtoB"]
        return sum(isinstance(m, ResidualBlock) for m in net.modules())

    assert (blocks(256), blocks(128)) == (9, 6)


def test_dualgan_preset_trains_and_flags_override_it(tmp_path: Path) -> None:
    data = make_unpaired(tmp_path / "data", train=4, test=2)
    out = tmp_path / "dual"
    tiny = (
        "--image-size 32 --ngf 4 --ndf 4 --d-layers 2 --batch-size 1 --num-workers 0 "
        "--device cpu --max-steps 4 --log-every 2 --lambda-a 200"
    ).split()
    main(
        [
            "train",
            "--task",
            "cyclegan",
            "--preset",
            "dualgan",
            "--data",
            str(data),
            "--out",
            str(out),
            *tiny,
        ]
    )
    saved = read_config(out)
    assert (saved["generator"], saved["objective"], saved["optimizer"]) == (
        "unet",
        "wgan",
        "rmsprop",
    )
    assert (saved["clip"], saved["d_steps"], saved["lr"], saved["pool_size"]) == (0.01, 2, 5e-5, 0)
    assert (saved["lambda_identity"], saved["lambda_b"], saved["lambda_a"]) == (0.0, 500.0, 200.0)
    records = [json.loads(line) for line in (out / "losses.jsonl").open()]
    assert [r["step"] for r in records] == [2, 4]
    assert all("cycle_A" in r and "idt_A" not in r for r in records)  # G steps every 2nd
    state = load_training_state(out)["task"]
    for domain in "AB":
        weights = [v for k, v in state[f"adversary_{domain}"].items() if k.endswith("weight")]
        assert weights and max(float(w.abs().max()) for w in weights) <= 0.01 + 1e-7
    assert load(out, device="cpu", direction="BtoA")(torch.zeros(1, 3, 40, 40)).shape == (
        1,
        3,
        40,
        40,
    )


def test_only_the_training_split_is_augmented_unless_told(tmp_path: Path) -> None:
    """Random crops and flips for training; the held-out split is resized as it is, as the
    reference's test phase does; ``augment`` overrides either way."""
    config = tiny_config(make_unpaired(tmp_path / "data", train=2, test=2), tmp_path / "run")
    for split, augment, expected in (
        ("train", None, True),
        ("test", None, False),
        ("train", False, False),
        ("test", True, True),
    ):
        assert CycleGAN.dataset(config, split, augment).train is expected, (split, augment)


def test_generator_unet_builds_a_unet_each_way() -> None:
    from img2img.nets.unet import UNet

    config = merge(CycleGANConfig, {"generator": "unet", "image_size": 32, "ngf": 4})
    generators = CycleGAN.build_generator(config)
    assert [type(generators[d]) for d in ("AtoB", "BtoA")] == [UNet, UNet]
