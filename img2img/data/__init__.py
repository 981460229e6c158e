"""Datasets, samplers and augmentations; images enter through :mod:`img2img.images`.

Everything random here is a pure function of explicit seeds (seed, epoch, index), so a
training run gives the same batches whatever the number of DataLoader workers, and a
resumed run continues exactly where the interrupted one stopped.
"""

from img2img.data.folders import PairedImageFolder, find_images, resolve_split
from img2img.data.sampler import ResumableSampler, resume_position
from img2img.data.unpaired import UnpairedImageFolder, resolve_unpaired, split_unpaired

__all__ = [
    "PairedImageFolder",
    "ResumableSampler",
    "UnpairedImageFolder",
    "find_images",
    "resolve_split",
    "resolve_unpaired",
    "resume_position",
    "split_unpaired",
]
