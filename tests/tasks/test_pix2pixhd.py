"""pix2pixHD end to end: coarse-to-fine training, freezing, resume, and a facades CLI run."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (
    SHARED_DATA,
    assert_resumed_like_straight,
    first_items,
    label_pairs,
    save_untrained_model,
)
from PIL import Image

from img2img.checkpoint import load_model_files
from img2img.cli import main
from img2img.config import merge
from img2img.data.labels import LabelMapFolder
from img2img.nets.coarse_to_fine import LocalEnhancer
from img2img.saved_models import read_config
from img2img.tasks.pix2pixhd import Pix2PixHD, Pix2PixHDConfig
from img2img.train import Trainer

# The smallest pix2pixHD with every part: two 1-layer PatchGANs, a 1-block G1 (3
# downsamplings, so that the local enhancer fits 32 px) and enhancer.
TINY = {
    "image_size": 32,
    "n_downsample": 3,
    "ngf": 4,
    "ndf": 4,
    "global_blocks": 1,
    "local_blocks": 1,
    "d_layers": 1,
    "num_d": 2,
    "num_workers": 0,
    "device": "cpu",
    "log_every": 2,
    "num_samples": 2,
    "save_every": 2,
    "sample_every": 4,
    "epochs": 10,
    "decay_epochs": 5,
}


def tiny(data: Path, out: Path, **overrides) -> Pix2PixHDConfig:
    return merge(Pix2PixHDConfig, {"data": str(data), "out": str(out), **TINY}, overrides)


def parameters(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_short_run_learns_the_mapping_without_a_pixel_loss(paired_dataset: Path) -> None:
    """LSGAN over two scales plus feature matching alone (pix2pixHD has no L1) learns the
    colour inversion of the toy pairs: the translation error falls by more than half."""
    config = tiny(paired_dataset, Path("unused"), lr=1e-3, ngf=8, ndf=8)
    torch.manual_seed(0)
    task = Pix2PixHD(config, total_steps=40, decay_steps=0, device=torch.device("cpu"))
    dataset = Pix2PixHD.dataset(config, "train", augment=False)
    a = torch.stack([dataset[i]["input"] for i in range(8)])
    b = torch.stack([dataset[i]["target"] for i in range(8)])

    def error() -> float:
        with torch.no_grad():
            return float((task.generator(a) - b).abs().mean())

    before = error()
    for i in range(40):
        half = slice(4 * (i % 2), 4 * (i % 2) + 4)
        task.step({"input": a[half], "target": b[half]})
    assert error() < 0.5 * before, (before, error())


def test_niter_fix_global_freezes_the_global_generator(paired_dataset: Path) -> None:
    config = tiny(paired_dataset, Path("unused"), local_enhancers=1, niter_fix_global=2)
    task = Pix2PixHD(config, total_steps=10, decay_steps=5, device=torch.device("cpu"))
    enhancer = task.generator.network
    assert isinstance(enhancer, LocalEnhancer)
    dataset = Pix2PixHD.dataset(config, "train")
    batch = first_items(dataset, 2, "input", "target")
    global_before = parameters(enhancer.global_generator)
    local_before = torch.cat([p.detach().flatten() for p in enhancer.local_parameters()])
    for _ in range(2):
        logs = task.step(batch)
        assert torch.equal(parameters(enhancer.global_generator), global_before)
    local_after = torch.cat([p.detach().flatten() for p in enhancer.local_parameters()])
    assert not torch.equal(local_after, local_before)
    assert {"g_gan", "g_feat", "d_loss"} <= set(logs) and logs["g_feat"] > 0
    task.step(batch)  # iteration 3: G1 trains too
    assert not torch.equal(parameters(enhancer.global_generator), global_before)


def test_global_then_local_and_resume_are_exact(paired_dataset: Path, tmp_path: Path) -> None:
    """A local-enhancer run started from a global run holds its weights in G1, and, resumed
    across the end of --niter-fix-global, ends where an uninterrupted run ends."""
    Trainer(tiny(paired_dataset, tmp_path / "global", max_steps=2)).fit()
    local = {"local_enhancers": 1, "niter_fix_global": 3, "init_from": str(tmp_path / "global")}
    Trainer(tiny(paired_dataset, tmp_path / "straight", max_steps=6, **local)).fit()
    Trainer(tiny(paired_dataset, tmp_path / "resumed", max_steps=2, **local)).fit()
    _, saved_global = load_model_files(tmp_path / "global")
    _, early = load_model_files(tmp_path / "resumed")
    for name, tensor in saved_global.items():  # frozen so far: still the global run's
        inner = name.replace("network.", "network.global_generator.", 1)
        torch.testing.assert_close(early[inner], tensor, rtol=0, atol=0, msg=name)
    Trainer(tiny(paired_dataset, tmp_path / "resumed", max_steps=6, **local), resume=True).fit()

    d_weights = assert_resumed_like_straight(tmp_path / "straight", tmp_path / "resumed")
    assert {name.split(".")[2] for name in d_weights} == {"0", "1"}  # both scales compared


def test_short_facades_run_trains_samples_and_translates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the CLI on real CMP Facades label maps (palette colours, JPEG)."""
    source = SHARED_DATA / "facades"
    if not source.is_dir():
        pytest.skip(f"{source} not found: the real facades data is not on this machine")
    data = tmp_path / "facades"
    for split, count in (("train", 4), ("test", 1)):
        (data / split).mkdir(parents=True)
        for path in random.Random(0).sample(sorted((source / split).glob("*.jpg")), count):
            shutil.copy(path, data / split / path.name)
    run = tmp_path / "run"
    flags = {**TINY, "image_size": 64, "d_layers": 2, "sample_every": 2}
    argv = [item for k, v in flags.items() for item in ("--" + k.replace("_", "-"), str(v))]
    main(["train", "--task", "pix2pixhd", "--data", str(data), "--out", str(run),
          "--direction", "BtoA", "--palette", "facades", "--max-steps", "2", *argv])  # fmt: skip
    config = read_config(run)
    assert (config["label_nc"], config["task"]) == (12, "pix2pixhd")
    records = [json.loads(line) for line in (run / "losses.jsonl").open()]
    assert records[-1]["step"] == 2 and records[-1]["g_feat"] > 0
    assert Image.open(run / "samples" / "step_0000002.png").width >= 3 * 64
    test_image = next((data / "test").glob("*.jpg"))
    label = tmp_path / "label.png"
    Image.open(test_image).crop((256, 0, 512, 256)).save(label)
    main(["translate", "--model", str(run), str(label), "-o", str(tmp_path / "photo.png")])
    assert Image.open(tmp_path / "photo.png").size == (256, 256)
    black = Image.open(label).copy()
    black.paste((0, 0, 0), (0, 0, 64, 64))  # an area of a colour the palette lacks
    black.save(tmp_path / "black.png")
    with pytest.raises(SystemExit):
        main(["translate", "--model", str(run), str(tmp_path / "black.png"), "-o", "x.png"])
    assert "black.png: colour (0, 0, 0) is no class" in capsys.readouterr().err
    main(["eval", "--model", str(run), "--data", str(data), "--metrics", "psnr,ssim"])
    report = json.loads((run / "eval-facades.json").read_text())
    assert report["task"] == "pix2pixhd" and report["metrics"]["psnr"] > 0


def test_pix2pix_takes_the_multiscale_options(paired_dataset: Path, tmp_path: Path) -> None:
    """--num-d and --feature-matching are the Adversary's general options, not pix2pixHD's."""
    from conftest import tiny_pix2pix

    from img2img.nets.multiscale import MultiScaleDiscriminator
    from img2img.tasks.pix2pix import Pix2Pix

    options = {"d_layers": 1, "num_d": 2, "feature_matching": 10.0}
    config = tiny_pix2pix(paired_dataset, tmp_path / "run", **options)
    task = Pix2Pix(config, total_steps=2, decay_steps=1, device=torch.device("cpu"))
    assert isinstance(task.adversary.discriminator, MultiScaleDiscriminator)
    assert len(task.adversary.discriminator.scales) == 2
    dataset = Pix2Pix.dataset(config, "train")
    batch = first_items(dataset, 2, "input", "target")
    logs = task.step(batch)
    assert logs["g_feat"] > 0 and {"g_gan", "g_l1", "d_loss"} <= set(logs)
    plain = Pix2Pix(tiny_pix2pix(paired_dataset, tmp_path / "p"), 2, 1, torch.device("cpu"))
    assert "g_feat" not in plain.step(batch)


def test_demo_translates_label_maps_and_lists_the_palette(tmp_path: Path) -> None:
    pytest.importorskip("gradio")
    import numpy as np
    from gradio import Error

    from img2img.catalog import describe_model
    from img2img.data.labels import PALETTES
    from img2img.demo import DemoBackend
    from img2img.demo.tabs import _summary

    values = {k: v for k, v in TINY.items() if k in ("ngf", "ndf", "global_blocks", "device")}
    model = save_untrained_model(tmp_path / "hd", "pix2pixhd", palette="facades", **values)
    backend = DemoBackend([describe_model(model)], max_pixels=64 * 64, device="cpu")
    colours = np.array(PALETTES["facades"].colours, np.uint8)
    label = colours[np.arange(32 * 32).reshape(32, 32) // 128 % 12]  # bands of classes
    Image.fromarray(label).save(tmp_path / "label.png")
    output, status = backend.translate(str(model), None, str(tmp_path / "label.png"))
    assert output.size == (32, 32) and status.startswith("Translated with")
    label[8:24, 8:24] = 0  # an area of black: no class of the palette
    Image.fromarray(label).save(tmp_path / "black.png")
    with pytest.raises(Error, match=r"black\.png as a label map: colour \(0, 0, 0\)"):
        backend.translate(str(model), None, str(tmp_path / "black.png"))
    assert "Input label colours (facades): background `#0000de`" in _summary(backend, str(model))


def test_the_demo_shrinks_label_maps_without_blending_their_colours() -> None:
    pytest.importorskip("gradio")
    import numpy as np

    from img2img.data.labels import PALETTES
    from img2img.demo import fit_pixels

    colours = np.array(PALETTES["facades"].colours, np.uint8)
    label = Image.fromarray(colours[np.arange(100 * 100).reshape(100, 100) // 7 % 12])
    palette = {tuple(c) for c in colours}
    small, note = fit_pixels(label, 50 * 50, labels=True)
    assert "downscaled" in note and small.size == (50, 50)
    assert {tuple(c) for c in np.asarray(small).reshape(-1, 3)} <= palette
    photo_like, _ = fit_pixels(label, 50 * 50)  # Lanczos: blends neighbouring classes
    assert not {tuple(c) for c in np.asarray(photo_like).reshape(-1, 3)} <= palette


def test_a_label_map_model_runs_on_onnxruntime_and_still_checks_its_colours(tmp_path: Path):
    import numpy as np

    from img2img.data.labels import PALETTES
    from img2img.infer import load
    from img2img.nets.labels import UnknownLabel

    values = {k: v for k, v in TINY.items() if k in ("ngf", "ndf", "global_blocks", "device")}
    model = save_untrained_model(tmp_path / "hd", "pix2pixhd", palette="facades", **values)
    colours = np.array(PALETTES["facades"].colours, np.uint8)
    label = Image.fromarray(colours[np.arange(32 * 32).reshape(32, 32) // 128 % 12])
    fast = load(model, "cpu", engine="onnxruntime")
    assert fast.engine == "onnxruntime"
    exact = load(model, "cpu", "fp32", engine="torch")
    difference = np.abs(np.asarray(fast(label), int) - np.asarray(exact(label), int))
    assert difference.max() <= 1
    black = np.asarray(label).copy()
    black[8:24, 8:24] = 0  # an area of a colour the palette lacks
    with pytest.raises(UnknownLabel, match=r"colour \(0, 0, 0\)"):
        fast(Image.fromarray(black))


def test_defaults_are_the_references_downsamplings_and_scale_width(tmp_path: Path) -> None:
    """n_downsample_global 4, and scale_width: the width to the load size, the aspect ratio
    kept, sides rounded to the generator's multiple (__make_power_2), no crop."""
    config = merge(Pix2PixHDConfig, {"data": str(tmp_path), "image_size": 64})
    assert (config.n_downsample, config.preprocess) == (4, "scale_width_rounded")
    assert Pix2PixHD.build_generator(config).network.size_multiple == 16
    (tmp_path / "train").mkdir()
    rng = np.random.default_rng(0)
    pair = rng.integers(0, 256, (50, 2 * 100, 3), dtype=np.uint8)  # halves 100 x 50
    Image.fromarray(pair).save(tmp_path / "train" / "0.png")
    for train in (True, False):
        item = Pix2PixHD.dataset(config, "train", augment=train)[0]
        assert item["input"].shape == item["target"].shape == (3, 32, 64)  # 64 x 32, kept


def test_a_mistyped_palette_is_an_error_naming_it(paired_dataset: Path, tmp_path: Path) -> None:
    for options in ({"palette": "facdes"}, {"palette": "facdes.json", "label_nc": 12}):
        config = tiny(paired_dataset, tmp_path / "run", **options)
        with pytest.raises(FileNotFoundError, match=f"--palette {options['palette']}: no such"):
            Trainer(config)
        assert not (tmp_path / "run").exists()  # nothing half-written is left
    # A saved model carries its colours: it still loads where its palette file is absent.
    config = tiny(paired_dataset, tmp_path / "run", palette="gone.json", label_nc=3)
    encoder = Pix2PixHD.build_generator(config).encoder
    assert encoder.label_nc == 3 and encoder.palette.shape == (3, 3)  # room for the colours
    with pytest.raises(FileNotFoundError, match=r"--palette gone\.json: no such"):
        Pix2PixHD.dataset(config, "train")  # training data needs the file itself


@pytest.mark.parametrize(
    ("size", "local", "fitting"), [(40, 0, 32), (16, 0, 32), (100, 0, 96), (32, 1, 64)]
)
def test_an_image_size_the_generator_cannot_take_is_refused(size, local, fitting) -> None:
    parts = "4 downsamplings and the local enhancer" if local else "4 downsamplings need"
    with pytest.raises(
        ValueError, match=f"--image-size {size}: the generator's {parts}.* use {fitting}$"
    ):
        merge(Pix2PixHDConfig, {"image_size": size, "local_enhancers": local})


def test_the_cli_says_what_is_wrong_with_a_palette_or_an_image_once(
    paired_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    argv = ["train", "--task", "pix2pixhd", "--data", str(paired_dataset), "--out", str(run)]
    with pytest.raises(SystemExit) as exit_code:
        main([*argv, "--palette", "facdes", "--device", "cpu"])
    message = capsys.readouterr().err
    assert exit_code.value.code == 2 and "--palette facdes: no such palette file" in message
    assert "Traceback" not in message and not run.exists()
    with pytest.raises(SystemExit):
        main([*argv, "--image-size", "40"])
    assert "--image-size 40: the generator's 4 downsamplings need a multiple of 16" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("engine", ["torch", "onnxruntime"])
def test_an_image_too_small_for_the_downsamplings_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    model = save_untrained_model(tmp_path / "m", "pix2pixhd", image_size=32, ngf=4, global_blocks=1)
    Image.new("RGB", (12, 12)).save(tmp_path / "small.png")
    Image.new("RGB", (20, 20)).save(tmp_path / "fits.png")  # padded to 32 x 32: 2 x 2 positions
    out = tmp_path / "out"
    argv = ["translate", "--model", str(model), "--engine", engine, "-o", f"{out}/"]
    with pytest.raises(SystemExit):
        main([*argv, str(tmp_path / "small.png"), str(tmp_path / "fits.png")])
    message = capsys.readouterr().err
    assert "small.png: a 12x12 image is too small for this pix2pixhd model: its generator " in (
        message
    )
    assert "downsamples by 16 and needs at least 32 px on each side" in message
    assert (out / "fits.png").is_file() and not (out / "small.png").exists()


def test_a_global_run_starts_from_a_saved_global_model(paired_dataset: Path, tmp_path: Path):
    """--init-from a global run without local enhancers: the whole generator is the saved
    one; a run whose network does not fit is refused naming the options to match."""
    Trainer(tiny(paired_dataset, tmp_path / "first", max_steps=1)).fit()
    config = tiny(paired_dataset, tmp_path / "second", init_from=str(tmp_path / "first"))
    start = Trainer(config).task.generator.state_dict()
    _, saved = load_model_files(tmp_path / "first")
    assert set(saved) == set(start)
    assert all(torch.equal(start[name], tensor) for name, tensor in saved.items())
    wider = tiny(paired_dataset, tmp_path / "wider", init_from=str(tmp_path / "first"), ngf=8)
    flags = "use the same --label-nc, --palette, --ngf, --global-blocks, --n-downsample."
    with pytest.raises(ValueError, match=re.escape(flags)):
        Trainer(wider)


def label_map_data(root: Path) -> Path:
    """DIR/train (2) and DIR/test (1) of facades-palette label maps and photos (label -> photo
    is BtoA)."""
    label_pairs(root / "train", 2, 32)
    return label_pairs(root / "test", 1, 32).parent


def test_a_local_enhancer_with_a_palette_starts_from_a_saved_global_model(tmp_path: Path) -> None:
    """--init-from into a local enhancer's G1 copies the label encoder's colours with the
    weights, and a saved generator that does not fit G1 is refused naming the options."""
    data = label_map_data(tmp_path / "labels")
    labels = {"palette": "facades", "label_nc": 12, "direction": "BtoA"}
    save_untrained_model(tmp_path / "global", "pix2pixhd", **TINY, **labels)
    local = {"local_enhancers": 1, "init_from": str(tmp_path / "global"), **labels}
    torch.manual_seed(1)  # a start of its own, unlike the saved generator's
    start = Trainer(tiny(data, tmp_path / "local", **local)).task.generator.state_dict()
    _, saved = load_model_files(tmp_path / "global")
    assert any(name.startswith("encoder.") for name in saved)
    for name, tensor in saved.items():
        torch.testing.assert_close(
            start[name.replace("network.", "network.global_generator.", 1)], tensor, rtol=0, atol=0
        )
    wider = tiny(data, tmp_path / "wider", **local, ngf=8)
    with pytest.raises(ValueError, match=re.escape("use the same --label-nc, --palette, --ngf")):
        Trainer(wider)


def test_pix2pixhd_is_built_from_its_options(paired_dataset: Path, tmp_path: Path) -> None:
    """ndf and norm reach the discriminators, whose objective is halved as in the
    reference; a palette makes a label-map data set; batch norm at batch 1 normalises each
    image by its own statistics at inference, as in training."""
    for norm in ("batch", "instance"):
        config = tiny(paired_dataset, tmp_path / "run", ndf=6, norm=norm)
        task = Pix2PixHD(config, 10, 0, torch.device("cpu"))
        discriminator = task.adversary.discriminator
        convs = [m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
        assert convs[0].out_channels == 6 and task.adversary.d_loss_weight == 0.5
        kinds = {type(m) for m in discriminator.modules()}
        assert (torch.nn.BatchNorm2d in kinds) == (norm == "batch"), norm
    for norm, batch, per_image in (("batch", 1, True), ("batch", 2, False), ("instance", 1, False)):
        settings = dataclasses.replace(config, norm=norm, batch_size=batch)
        assert Pix2PixHD.per_image_statistics(settings) is per_image
    labels = label_map_data(tmp_path / "labels")
    palette = dataclasses.replace(
        config, data=str(labels), palette="facades", label_nc=12, direction="BtoA"
    )
    assert isinstance(Pix2PixHD.dataset(palette, "train"), LabelMapFolder)
    indices = dataclasses.replace(config, label_nc=5)  # class-index images, no palette
    assert Pix2PixHD.build_generator(indices).encoder.label_nc == 5
    for split, augment, flips_and_crops in (("train", None, True), ("test", None, False)):
        assert Pix2PixHD.dataset(config, split, augment).train is flips_and_crops
    assert Pix2PixHD.dataset(config, "train", augment=False).train is False
    local = dataclasses.replace(config, local_enhancers=1, norm="batch")
    enhancer = Pix2PixHD.build_generator(local).network
    assert isinstance(enhancer, LocalEnhancer)
    own = [m for name, m in enhancer.named_modules() if not name.startswith("global_generator")]
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in own)  # --norm reaches the enhancer
