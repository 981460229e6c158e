"""Shared fixtures: small generated datasets with a known answer, and the real data folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


def _shared_data() -> Path:
    """Real data sets for the tests that compare against them: $IMG2IMG_TEST_DATA, or a
    "shared/data" folder beside the checkout (facades/, sr/Set5, sr/Set14, sr/T91, sr/BSD200,
    mnist/, cifar10-test/); a test whose set is missing skips and says which.

    `mutmut run` runs the tests from its copy of the checkout, CHECKOUT/mutants/: the folder
    beside the checkout is still the one meant, or the mutation check would skip these tests
    and count the faults only they catch as survivors.
    """
    if os.environ.get("IMG2IMG_TEST_DATA"):
        return Path(os.environ["IMG2IMG_TEST_DATA"])
    checkout = Path(__file__).resolve().parents[1]
    if checkout.name == "mutants":
        checkout = checkout.parent
    return checkout.parent / "shared" / "data"


SHARED_DATA = _shared_data()
# No test downloads ImageNet weights (hundreds of MB): where a file is missing, the code under
# test raises its "how to provide it" error, as on a machine without network access. Tests of
# the download itself unset this and fake the transfer. Subprocesses inherit it.
os.environ.setdefault("IMG2IMG_OFFLINE", "1")


def make_aligned_pairs(root: Path, count: int, size: int, seed: int = 0) -> Path:
    """An A|B folder where B is the colour inverse of A: a mapping with a known answer.

    A holds a few smooth colour blobs, so that there is structure to learn at every scale.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    ys, xs = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        image = np.zeros((size, size, 3))
        for _ in range(3):
            (cy, cx), radius = rng.uniform(0.1, 0.9, 2), rng.uniform(0.1, 0.3)
            blob = np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * radius**2))
            image += blob[..., None] * rng.uniform(0, 1, 3)
        a = (np.clip(image, 0, 1) * 255).astype(np.uint8)
        pair = np.concatenate([a, 255 - a], axis=1)
        Image.fromarray(pair).save(root / f"{i:03d}.png")
    return root


def make_hr_images(
    root: Path, sizes: list[tuple[int, int]], mode: str = "RGB", seed: int = 0
) -> Path:
    """Textures for super-resolution: random 8x8 colours upscaled bilinearly to each
    (width, height), so there is structure at every scale and no two images are alike."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i, size in enumerate(sizes):
        small = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        small.resize(size, Image.Resampling.BILINEAR).convert(mode).save(root / f"{i:02d}.png")
    return root


@pytest.fixture
def paired_dataset(tmp_path: Path) -> Path:
    """DIR/train (8 pairs) and DIR/test (2 pairs) of 32x32 halves."""
    make_aligned_pairs(tmp_path / "pairs" / "train", count=8, size=32, seed=0)
    make_aligned_pairs(tmp_path / "pairs" / "test", count=2, size=32, seed=1)
    return tmp_path / "pairs"


# The smallest pix2pix that still exercises every part: 32 px, 8 filters, no worker processes.
TINY_PIX2PIX = {
    "image_size": 32,
    "load_size": 36,
    "ngf": 8,
    "ndf": 8,
    "num_workers": 0,
    "device": "cpu",
}


def label_pairs(root: Path, count: int, size: int) -> Path:
    """A|B files whose B half is a label map in the facades palette's colours (blocks of
    classes) and whose A half is its colours blurred: pix2pixHD's data with --palette."""
    from img2img.data.labels import PALETTES

    rng = np.random.default_rng(0)
    colours = np.array(PALETTES["facades"].colours, np.uint8)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        classes = rng.integers(0, len(colours), (4, 4)).repeat(size // 4, 0).repeat(size // 4, 1)
        label = colours[classes]
        blurred = Image.fromarray(label).resize((size // 2, size // 2)).resize((size, size))
        photo = np.asarray(blurred)
        Image.fromarray(np.concatenate([photo, label], axis=1)).save(root / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def random_alexnet_trunk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torchvision AlexNet weights file with random weights, written once: LPIPS's trunk
    for the tests of its wiring (no test downloads the ImageNet file)."""
    from torchvision.models import alexnet

    torch.manual_seed(0)
    trunk = tmp_path_factory.mktemp("lpips") / "alexnet.pth"
    torch.save(alexnet().state_dict(), trunk)
    return trunk


def cli_flags(values: dict) -> list[str]:
    """``{"image_size": 32}`` -> ``["--image-size", "32"]``, in the dict's order."""
    return [item for k, v in values.items() for item in ("--" + k.replace("_", "-"), str(v))]


def tiny_pix2pix(data: Path, out: Path, **overrides):
    """A :class:`Pix2PixConfig` for :data:`TINY_PIX2PIX` at batch size 2, with overrides."""
    from img2img.config import merge
    from img2img.tasks.pix2pix import Pix2PixConfig

    values = {"data": str(data), "out": str(out), **TINY_PIX2PIX, "batch_size": 2}
    return merge(Pix2PixConfig, values, overrides)


def require_shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (see docs/data.md)")
    return path


@pytest.fixture
def one_thread():
    """Tiny networks run fastest on one thread; several threads on a busy CPU spin and wait."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def save_untrained_model(out: Path, task: str, **values) -> Path:
    """A model directory (config.json + generator.safetensors) of a freshly initialised
    ``task`` generator built from ``values``: enough to test finding, loading and running."""
    from img2img.checkpoint import save_model
    from img2img.config import merge
    from img2img.tasks import get_task

    recipe = get_task(task)
    config = merge(recipe.Config, {"task": task, **values})
    torch.manual_seed(0)
    save_model(out, config, recipe.build_generator(config))
    return out


# Smallest generators of each kind for API and demo tests (built in milliseconds).
TINY_CYCLEGAN = {"image_size": 32, "ngf": 4, "ndf": 4, "resnet_blocks": 1, "device": "cpu"}
TINY_GAN = {"image_size": 28, "channels": 1, "ngf": 8, "ndf": 8, "z_dim": 8, "device": "cpu"}
TINY_INPAINT = {"image_size": 32, "nef": 4, "ngf": 4, "ndf": 4, "bottleneck": "channelwise"}
TINY_VQGAN = {"image_size": 16, "downsample": 4, "ngf": 32, "channel_mult": "1,1,1",
              "res_blocks": 1, "attention": False, "code_dim": 8, "codebook_size": 16,
              "perceptual": "none", "device": "cpu"}  # fmt: skip


def assert_agrees_with_skimage(output: torch.Tensor, target: torch.Tensor, ssim_tol: float) -> None:
    """img2img's PSNR/SSIM of two (3, H, W) images in [-1, 1] equal skimage's, on RGB and
    on MATLAB's Y channel (skimage's rgb2ycbcr: Y in [16, 235]) with 4 px shaved, the SR
    protocol. ``ssim_tol``: absolute tolerance of SSIM (PSNR's is 1e-6)."""
    from img2img.metrics import psnr, ssim

    metrics = pytest.importorskip("skimage.metrics")
    color = pytest.importorskip("skimage.color")
    x, y = (((t.double() + 1) / 2).permute(1, 2, 0).numpy() for t in (output, target))
    kinds = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    reference = metrics.structural_similarity(x, y, data_range=1.0, channel_axis=-1, **kinds)
    assert ssim(output, target).item() == pytest.approx(reference, abs=ssim_tol)
    reference_psnr = metrics.peak_signal_noise_ratio(y, x, data_range=1.0)
    assert psnr(output, target).item() == pytest.approx(reference_psnr, abs=1e-6)
    y_x, y_y = (color.rgb2ycbcr(image)[4:-4, 4:-4, 0] / 255 for image in (x, y))
    reference_y = metrics.structural_similarity(y_x, y_y, data_range=1.0, **kinds)
    measured_y = ssim(output, target, y_channel=True, shave=4).item()
    assert measured_y == pytest.approx(reference_y, abs=ssim_tol)
    reference_psnr_y = metrics.peak_signal_noise_ratio(y_y, y_x, data_range=1.0)
    measured_psnr_y = psnr(output, target, y_channel=True, shave=4).item()
    assert measured_psnr_y == pytest.approx(reference_psnr_y, abs=1e-6)


def first_items(dataset, count: int, *keys: str) -> dict[str, torch.Tensor]:
    """A batch of ``dataset``'s first ``count`` items: the ``keys`` a task's step reads,
    stacked (what a DataLoader without shuffling would give)."""
    return {key: torch.stack([dataset[i][key] for i in range(count)]) for key in keys}


def record_engines(monkeypatch: pytest.MonkeyPatch, module: object) -> list[str]:
    """The engines asked of ``module.compile_network`` from now on, in order (the calls go
    through): a wiring check that an ``engine`` option reaches the network it is for."""
    asked: list[str] = []
    compile_network = module.compile_network

    def recording(network, example, engine, *args, **kwargs):
        asked.append(engine)
        return compile_network(network, example, engine, *args, **kwargs)

    monkeypatch.setattr(module, "compile_network", recording)
    return asked


def assert_resumed_like_straight(straight: Path, resumed: Path, atol: float = 1e-6) -> list[str]:
    """A run stopped and resumed ended where an uninterrupted one did: the same generator
    weights and the same tensors in the adversary's state (the discriminator's weights and
    buffers), to ``atol``. Returns the names of the discriminator's tensors, for checks of
    what was compared."""
    from img2img.checkpoint import load_model_files, load_training_state

    _, expected = load_model_files(straight)
    _, actual = load_model_files(resumed)
    for name, tensor in expected.items():
        torch.testing.assert_close(actual[name], tensor, rtol=0, atol=atol, msg=name)
    d_expected = load_training_state(straight)["task"]["adversary"]
    d_actual = load_training_state(resumed)["task"]["adversary"]
    for name, value in d_expected.items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(d_actual[name], value, rtol=0, atol=atol, msg=name)
    d_weights = [name for name in d_expected if name.startswith("discriminator.")]
    assert d_weights, f"{straight}: no discriminator in the training state"
    return d_weights
