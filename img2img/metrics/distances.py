"""FID and KID: distances between two sets of Inception features.

FID (Heusel et al., 2017) is the Frechet distance between Gaussians fitted to the two
feature sets, ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``. Computed in float64 with
a square root that is exact for positive semi-definite matrices:
``tr((S1 S2)^(1/2)) = tr((R S2 R)^(1/2))`` with ``R = S1^(1/2)``, and ``R S2 R`` is
symmetric PSD, so its square root comes from a symmetric eigendecomposition (eigenvalues
clipped at 0) instead of the general Schur-based ``scipy.linalg.sqrtm``, which returns
complex noise for the singular covariances of fewer than 2048 images.

From features the same trace is a nuclear norm: with ``S_i = A_i^T A_i``,
``tr((S1 S2)^(1/2)) = ||A1 A2^T||_*`` (the sum of singular values). For a set of N < 2048
images ``A_i`` is its centred features / sqrt(N - 1), an N x 2048 matrix, so FID of a few
hundred images costs an N1 x N2 SVD instead of two 2048 x 2048 eigendecompositions; for
larger sets ``A_i = S_i^(1/2)``. Both are exact; a test checks them against each other.

KID (Binkowski et al., 2018) is the squared MMD with the cubic polynomial kernel
``k(x, y) = (x.y / d + 1)^3``, estimated without bias on random subsets; its mean and
standard deviation over the subsets are reported. Unbiased means it can be slightly
negative when the two sets come from one distribution.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np

from img2img.metrics.inception_features import Images, image_features


class KID(NamedTuple):
    """Mean and standard deviation of the unbiased MMD^2 estimates over the subsets."""

    mean: float
    std: float


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features -> float64 mean (D,) and sample covariance (D, D) (N - 1 normalised)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"need at least 2 feature vectors (N, D); got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (float64).

    Eigenvalues below 0 (rounding noise of a singular matrix) are clipped to 0."""
    matrix = np.asarray(matrix, dtype=np.float64)
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    root = sqrtm_psd(sigma1)
    inner = root @ sigma2 @ root
    eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0, None)).sum()
    distance = np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt
    return float(max(distance, 0.0))  # the exact value is >= 0; clip rounding below it


def covariance_factor(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features -> float64 mean (D,) and a factor A with A^T A = the sample covariance:
    the centred features / sqrt(N - 1) when N <= D (the cheaper, exact low-rank form), else
    the covariance's symmetric square root."""
    features = np.asarray(features, dtype=np.float64)
    mu, sigma = feature_statistics(features)
    if len(features) <= features.shape[1]:
        return mu, (features - mu) / np.sqrt(len(features) - 1)
    return mu, sqrtm_psd(sigma)


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two (N, D) feature arrays (float64; see the module docstring)."""
    mu1, a1 = covariance_factor(real)
    mu2, a2 = covariance_factor(fake)
    trace_sqrt = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum()
    distance = np.sum((mu1 - mu2) ** 2) + np.sum(a1**2) + np.sum(a2**2) - 2 * trace_sqrt
    return float(max(distance, 0.0))


def kid_from_features(
    real: np.ndarray,
    fake: np.ndarray,
    subsets: int = 100,
    subset_size: int | None = None,
    seed: int = 0,
) -> KID:
    """KID between two (N, D) feature arrays: unbiased MMD^2 with the cubic polynomial kernel
    on ``subsets`` random subsets of ``subset_size`` vectors from each side (drawn without
    replacement within a subset; default min(1000, half the smaller set), so that subsets
    differ and the std means something). ``seed`` makes the subsets reproducible."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    smaller = min(len(real), len(fake))
    size = subset_size or min(1000, max(2, smaller // 2))
    if not 2 <= size <= smaller:
        raise ValueError(f"subset_size={size}: needs 2 <= subset_size <= {smaller} (set sizes)")
    dim = real.shape[1]
    rng = np.random.default_rng(seed)
    estimates = np.empty(subsets)
    for s in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]
        k_xx = (x @ x.T / dim + 1) ** 3
        k_yy = (y @ y.T / dim + 1) ** 3
        k_xy = (x @ y.T / dim + 1) ** 3
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (size * (size - 1))
        estimates[s] = within - 2 * k_xy.mean()
    return KID(float(estimates.mean()), float(estimates.std()))


def fid(
    real: Images,
    fake: Images,
    *,
    batch_size: int = 32,
    device: str = "auto",
    inception: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: bool = True,
) -> float:
    """FID between two image sets (lower is closer; 0 for identical sets).

    ``real``, ``fake``: a folder of images (its features are cached), a list of image files,
    or a tensor (N, 3, H, W) float in [-1, 1] or uint8. Images of any size are resized to
    299x299 (see :mod:`img2img.metrics.inception_features`). FID is biased upwards for small sets:
    compare numbers only at equal set sizes (the papers use 10k-50k images).
    """
    options = {"batch_size": batch_size, "device": device, "inception": inception}
    options.update(use_cache=use_cache, progress=progress)
    return fid_from_features(image_features(real, **options), image_features(fake, **options))


def kid(
    real: Images,
    fake: Images,
    *,
    subsets: int = 100,
    subset_size: int | None = None,
    batch_size: int = 32,
    device: str = "auto",
    inception: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: bool = True,
) -> KID:
    """KID between two image sets: ``KID(mean, std)`` over subsets (see
    :func:`kid_from_features`); the inputs are as for :func:`fid`. Unlike FID its estimate
    is unbiased, so it is comparable across set sizes."""
    options = {"batch_size": batch_size, "device": device, "inception": inception}
    options.update(use_cache=use_cache, progress=progress)
    return kid_from_features(
        image_features(real, **options), image_features(fake, **options), subsets, subset_size
    )


def distribution_metrics(real: np.ndarray, fake: np.ndarray, metrics: list[str]) -> dict[str, Any]:
    """FID and/or KID (as named in ``metrics``) of Inception features ``fake`` vs ``real``."""
    values: dict[str, Any] = {}
    if "fid" in metrics:
        values["fid"] = fid_from_features(real, fake)
    if "kid" in metrics:
        result = kid_from_features(real, fake)
        values["kid"] = {"mean": result.mean, "std": result.std}
    return values


def distribution_columns(
    metrics: list[str],
    images: dict[str, list[Any]],
    reference: str,
    inception: Any,
    means: dict[str, dict[str, Any]],
    unavailable: dict[str, str],
) -> None:
    """FID/KID (as named in ``metrics``) of each method's images against the ``reference``
    entry's: ``images`` maps names to lists of (N, 3, H, W) tensors in [-1, 1], and
    ``means[method]`` receives each method's values (the evaluation protocols' baseline
    columns: SR's bicubic, inpainting's Telea). A metric that cannot be computed (no
    Inception network, fewer than 2 images) goes to ``unavailable`` with the reason."""
    wanted = [name for name in ("fid", "kid") if name in metrics]
    if not wanted:
        return
    from img2img.metrics.inception_features import InceptionFeatures

    try:
        extractor = InceptionFeatures(inception, "cpu")
    except (FileNotFoundError, ValueError) as reason:
        unavailable.update(dict.fromkeys(wanted, str(reason)))
        return
    if len(images[reference]) < 2:
        unavailable.update(dict.fromkeys(wanted, "needs at least 2 images"))
        return
    features = {key: np.concatenate([extractor(x) for x in batch]) for key, batch in images.items()}
    for method in means:
        means[method].update(distribution_metrics(features[reference], features[method], wanted))
