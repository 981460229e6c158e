"""`img2img eval` on models without aligned targets: CycleGAN (both directions) and GANs.

Inception is replaced by a cheap stand-in (pixels as features), so these tests check which
images are compared with which, and the bookkeeping, in a second; the network itself is
tested in test_fid.py and test_fid_inception.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import record_engines
from PIL import Image

from img2img.checkpoint import save_model
from img2img.cli import main
from img2img.images import pil_to_tensor, quantize
from img2img.infer import load
from img2img.metrics import inception_features
from img2img.metrics.distances import fid_from_features, kid_from_features
from img2img.metrics.evaluate import evaluate
from img2img.metrics.unpaired import proportional_labels
from img2img.sampling import load_gan
from img2img.tasks.cyclegan import CycleGAN, CycleGANConfig
from img2img.tasks.gan import GAN, GANConfig
from img2img.tasks.noise import generate, latent


class PixelFeatures(inception_features.InceptionFeatures):
    """Stand-in for Inception: each image's first 2048 values at 32x32 (nearest)."""

    def __init__(self, path: object = None, device: str = "cpu") -> None:
        self.device = torch.device("cpu")

    @property
    def identity(self) -> str:
        return "pixels"

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        x = F.interpolate(images.float(), size=(32, 32), mode="nearest")
        return x.flatten(1)[:, :2048].numpy()


@pytest.fixture
def pixel_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PixelFeatures:
    monkeypatch.setattr(inception_features, "InceptionFeatures", PixelFeatures)
    monkeypatch.setenv("IMG2IMG_CACHE", str(tmp_path / "cache"))
    return PixelFeatures()


def random_images(folder: Path, count: int, size: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    paths = [folder / f"{i:02d}.png" for i in range(count)]
    for path in paths:
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return paths


def read(paths: list[Path]) -> torch.Tensor:
    return torch.stack([pil_to_tensor(Image.open(p)) for p in paths])


def tiny_cyclegan_and_test_domains(tmp_path: Path) -> dict[str, list[Path]]:
    """An untrained CycleGAN in tmp_path/model; tmp_path/data/testA (4) and testB (6)."""
    files = {
        "A": random_images(tmp_path / "data" / "testA", 4, 16, seed=1),
        "B": random_images(tmp_path / "data" / "testB", 6, 16, seed=2),
    }
    torch.manual_seed(0)
    config = CycleGANConfig(image_size=16, ngf=4, resnet_blocks=1)
    save_model(tmp_path / "model", config, CycleGAN.build_generator(config))
    return files


def test_cyclegan_compares_each_direction_with_the_other_domain(
    tmp_path: Path, pixel_features: PixelFeatures
) -> None:
    files = tiny_cyclegan_and_test_domains(tmp_path)

    # One engine for both sides: "auto" measures which is faster at each call, and the two
    # engines' outputs can round to different 8-bit pixels.
    summary = evaluate(tmp_path / "model", tmp_path / "data", ["fid", "kid", "psnr"],
                       device="cpu", progress=False, engine="torch").summary  # fmt: skip

    for way, source, target in (("AtoB", "A", "B"), ("BtoA", "B", "A")):
        translator = load(tmp_path / "model", "cpu", direction=way, engine="torch")
        outputs = quantize(translator.translate_tensor(read(files[source])))
        real, fake = pixel_features(read(files[target])), pixel_features(outputs)
        assert summary["metrics"][f"fid_{way}"] == pytest.approx(fid_from_features(real, fake))
        assert summary["metrics"][f"kid_{way}"]["mean"] == pytest.approx(
            kid_from_features(real, fake).mean
        )
    assert summary["metrics"]["fid_AtoB"] != pytest.approx(summary["metrics"]["fid_BtoA"])
    assert "no A image has an aligned B" in summary["unavailable"]["psnr"]
    assert summary["images"] == {"A": 4, "B": 6}


def test_cyclegan_on_a_fixed_subset(tmp_path: Path, pixel_features: PixelFeatures) -> None:
    """``real_count`` (validation's --val-images): the first N test images of each domain."""
    files = tiny_cyclegan_and_test_domains(tmp_path)
    summary = evaluate(tmp_path / "model", tmp_path / "data", ["fid"], device="cpu",
                       progress=False, real_count=3, engine="torch").summary  # fmt: skip
    assert summary["images"] == {"A": 3, "B": 3}
    translator = load(tmp_path / "model", "cpu", direction="AtoB", engine="torch")
    outputs = quantize(translator.translate_tensor(read(files["A"][:3])))
    real, fake = pixel_features(read(files["B"][:3])), pixel_features(outputs)
    assert summary["metrics"]["fid_AtoB"] == pytest.approx(fid_from_features(real, fake))


def test_labels_follow_the_class_proportions() -> None:
    real = torch.tensor([0, 0, 0, 0, 1, 1])
    assert torch.bincount(proportional_labels(real, 12, seed=0)).tolist() == [8, 4]
    few = proportional_labels(real, 3, seed=0)
    assert len(few) == 3 and set(few.tolist()) <= {0, 1}
    assert torch.equal(few, proportional_labels(real, 3, seed=0))


@pytest.fixture
def tiny_gan(tmp_path: Path) -> tuple[Path, Path]:
    """A conditional 8-px DCGAN (untrained) and a class-folder set: 4 of "a", 2 of "b"."""
    random_images(tmp_path / "classes" / "a", 4, 8, seed=3)
    random_images(tmp_path / "classes" / "b", 2, 8, seed=4)
    torch.manual_seed(0)
    config = GANConfig(data=str(tmp_path / "classes"), image_size=8, z_dim=4, ngf=4, ndf=4,
                       batch_size=4, conditional=True, num_classes=2)  # fmt: skip
    save_model(tmp_path / "gan", config, GAN.build_generator(config))
    return tmp_path / "gan", tmp_path / "classes"


def test_gan_samples_against_the_real_images(
    tiny_gan: tuple[Path, Path], pixel_features: PixelFeatures
) -> None:
    model, data = tiny_gan
    summary = evaluate(model, data, ["fid", "kid", "ssim"], device="cpu", progress=False,
                       generate=10, seed=5, engine="torch").summary  # fmt: skip

    generator, config = load_gan(model)
    labels = proportional_labels(torch.tensor([0, 0, 0, 0, 1, 1]), 10, seed=5)
    z = latent(10, config.z_dim, seed=5)
    batches = [(z[i : i + 4], labels[i : i + 4]) for i in range(0, 10, 4)]  # training size
    fake = torch.cat([quantize(generate(generator, *batch)) for batch in batches])
    real = read(sorted(data.glob("*/*.png")))
    expected = fid_from_features(pixel_features(real), pixel_features(fake))
    assert summary["metrics"]["fid"] == pytest.approx(expected)
    assert summary["generated"] == 10 and summary["images"] == 6
    assert summary["split"] == "train" and summary["real_images_seen_in_training"]
    assert "no inputs or targets" in summary["unavailable"]["ssim"]


def test_gan_eval_cli_writes_table_json_and_html(
    tiny_gan: tuple[Path, Path],
    pixel_features: PixelFeatures,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    model, data = tiny_gan
    out = tmp_path / "report"
    main(["eval", "--model", str(model), "--data", str(data), "--device", "cpu", "--out",
          str(out), "--html", "--samples", "2", "--generate", "5", "--real", "4"])  # fmt: skip
    printed = capsys.readouterr().out
    assert "5 generated samples vs 4 real train images (a random 4 of 6)" in printed
    assert "psnr     unavailable: a GAN has no inputs" in printed
    summary = json.loads((out / "eval-classes.json").read_text())
    assert summary["generated"] == 5 and summary["images"] == 4
    assert set(summary["metrics"]) == {"fid", "kid"}
    page = (out / "eval-classes.html").read_text()
    assert "<th>generated</th><th>real</th>" in page and page.count("<tr>") == 3


def test_gan_eval_draws_samples_on_the_chosen_engine(
    tiny_gan: tuple[Path, Path],
    pixel_features: PixelFeatures,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`img2img eval --engine` draws the samples as `img2img sample --engine` would: the
    engine reaches the sampler, and both engines' samples score alike."""
    from img2img import sampling

    asked = record_engines(monkeypatch, sampling)
    model, data = tiny_gan
    fid = {}
    for engine in ("torch", "onnxruntime"):
        out = tmp_path / engine
        main(["eval", "--model", str(model), "--data", str(data), "--device", "cpu", "--out",
              str(out), "--generate", "8", "--engine", engine])  # fmt: skip
        fid[engine] = json.loads((out / "eval-classes.json").read_text())["metrics"]["fid"]
    assert asked == ["torch", "onnxruntime"]
    assert fid["onnxruntime"] == pytest.approx(fid["torch"], rel=1e-2)


def test_cyclegan_without_test_domains_is_a_clear_error(tmp_path: Path) -> None:
    config = CycleGANConfig(image_size=16, ngf=4, resnet_blocks=1)
    save_model(tmp_path / "model", config, CycleGAN.build_generator(config))
    (tmp_path / "data").mkdir()
    with pytest.raises(SystemExit, match="no testA/ \\+ testB/"):
        main(["eval", "--model", str(tmp_path / "model"), "--data", str(tmp_path / "data")])


def test_gan_real_features_are_cached_for_a_subset(
    tiny_gan: tuple[Path, Path], pixel_features: PixelFeatures, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, data = tiny_gan
    options = {"device": "cpu", "progress": False, "generate": 3, "real_count": 4}
    first = evaluate(model, data, ["fid"], **options).summary
    seen: list[int] = []
    count_images = PixelFeatures.__call__
    monkeypatch.setattr(PixelFeatures, "__call__", lambda self, x: seen.append(len(x)) or
                        count_images(self, x))  # fmt: skip
    second = evaluate(model, data, ["fid"], **options).summary
    assert sum(seen) == 3  # the generated samples only: the 4 real images came from the cache
    assert second["metrics"] == first["metrics"]
