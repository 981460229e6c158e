"""Datasets, samplers and augmentations; images enter through :mod:`img2img.images`.

Everything random here is a pure function of explicit seeds (seed, epoch, index), so a
training run gives the same batches whatever the number of DataLoader workers, and a
resumed run continues exactly where the interrupted one stopped.
"""

from img2img.data.folders import PairedImageFolder, find_images, resolve_split
from img2img.data.sampler import ResumableSampler, resume_position

__all__ = [
    "PairedImageFolder",
    "ResumableSampler",
    "find_images",
    "resolve_split",
    "resume_position",
]
