"""Augmentation beyond crop and flip (``--augment``), built on albumentations.

``--augment light`` / ``strong`` are presets; ``--augment FILE.yaml`` reads a list of
albumentations transforms, one mapping each, applied in order::

    - Affine: {rotate: [-10, 10], scale: [0.9, 1.1], p: 0.5}
    - RandomBrightnessContrast: {brightness_limit: 0.1, p: 0.3}

(a file albumentations itself wrote with ``A.save(..., data_format="yaml")`` works too).

The pipeline runs after the crop and flip, on training items only. Both images of a pair
go through it together (albumentations' ``additional_targets``), so a rotation or a colour
change is the same on the input and its target; the two domains of unpaired data are
augmented independently. Its random draws are seeded per item from the item's own
generator (seeded by (seed, epoch, index), see :mod:`img2img.data.transforms`), never a
global RNG, so the worker count does not matter and a resumed run sees the very
augmentations the uninterrupted one would have.

The presets change colours as well as geometry; for label maps (pix2pix's facades labels)
whose colours mean classes, use a YAML file of geometric transforms only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from img2img.config import option

PRESETS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "light": [
        ("Affine", {"scale": (0.95, 1.05), "translate_percent": (-0.03, 0.03),
                    "rotate": (-5, 5), "p": 0.5}),
        ("RandomBrightnessContrast", {"brightness_limit": 0.1, "contrast_limit": 0.1, "p": 0.3}),
    ],
    "strong": [
        ("Affine", {"scale": (0.8, 1.2), "translate_percent": (-0.08, 0.08),
                    "rotate": (-15, 15), "shear": (-5, 5), "p": 0.8}),
        ("Perspective", {"scale": (0.02, 0.06), "p": 0.3}),
        ("ColorJitter", {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.05,
                         "p": 0.5}),
        ("GaussNoise", {"std_range": (0.01, 0.04), "p": 0.2}),
    ],
}  # fmt: skip


def augment_option() -> Any:
    """The ``--augment`` config field of the tasks that read image folders."""
    return option(
        "",
        "albumentations after crop and flip, the same on both images of a pair: light, "
        "strong, or a YAML file listing transforms ('': none)",
    )


def build_pipeline(spec: str) -> Any:
    """The albumentations ``Compose`` that ``spec`` (a preset name or a YAML path) names."""
    import albumentations as A

    if spec in PRESETS:
        transforms = [getattr(A, name)(**params) for name, params in PRESETS[spec]]
    else:
        transforms = _transforms_from_yaml(Path(spec))
        if isinstance(transforms, A.BaseCompose):
            transforms = [transforms]
    return A.Compose(transforms, additional_targets={"target": "image"}, seed=0)


def _transforms_from_yaml(path: Path) -> Any:
    import albumentations as A
    import yaml

    if not path.is_file():
        raise FileNotFoundError(
            f"--augment {path}: no such file; use light, strong, or a YAML file of "
            "albumentations transforms"
        )
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from None
    if isinstance(spec, dict) and "transform" in spec:  # albumentations' own format
        return A.from_dict(spec)
    if not isinstance(spec, list):
        raise ValueError(f"{path}: expected a list of transforms like '- Affine: {{p: 0.5}}'")
    transforms = []
    for number, entry in enumerate(spec, 1):
        if not (isinstance(entry, dict) and len(entry) == 1):
            raise ValueError(f"{path}: entry {number} is not one 'Name: {{options}}' mapping")
        ((name, params),) = entry.items()
        transform = getattr(A, str(name), None)
        if not isinstance(transform, type):
            raise ValueError(f"{path}: entry {number}: albumentations has no transform {name!r}")
        try:  # strict: a misspelt option is an error, not a warning that is easily missed
            transforms.append(transform(**(params or {}), strict=True))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: entry {number} ({name}): {err}") from None
    return transforms


class Augmenter:
    """Applies the ``spec`` pipeline to the images of one item (one image, or a pair that
    is transformed alike); built at once, so a bad ``--augment`` fails at start."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.pipeline = build_pipeline(spec)

    def __call__(self, images: list[Image.Image], generator: torch.Generator) -> list[Image.Image]:
        """``images`` augmented with a seed drawn from the item's ``generator``."""
        self.pipeline.set_random_seed(int(torch.randint(2**31 - 1, (1,), generator=generator)))
        arrays = [np.asarray(image.convert("RGB")) for image in images]
        targets = {"target": arrays[1]} if len(arrays) > 1 else {}
        out = self.pipeline(image=arrays[0], **targets)
        names = ["image", "target"][: len(arrays)]
        return [Image.fromarray(np.ascontiguousarray(out[name])) for name in names]


def augmenter_for(spec: str) -> Augmenter | None:
    return Augmenter(spec) if spec else None
