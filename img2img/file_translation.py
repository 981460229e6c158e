"""Translating many files: ``img2img translate in_dir/ "*.jpg" -o out_dir/``.

Inputs are files, folders (every image in them and their subfolders, whose layout the
output folder repeats) and glob patterns (expanded here, so quoting them works on every
shell; ``**`` recurses). Each output keeps its input's name and format, with an optional
``suffix`` before the extension and an optional other extension. Images of equal size are
translated in batches of ``batch_size`` (the network runs once per batch, which is faster
per image on every engine); each image's result is independent of the others in its batch
(see :mod:`img2img.nets.batchnorm`). An unreadable file is skipped with a warning that
names it and counted; no output ever replaces an input, and no two inputs share an output:
both are refused before any work starts.
"""

from __future__ import annotations

import glob
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from img2img.data import find_images
from img2img.images import ImageError, load_image, pil_to_tensor, tensor_to_pil
from img2img.infer import Translator

# Images kept waiting for batch-mates of their size; beyond it every waiting batch is run,
# so a folder of images of all different sizes does not pile up in memory.
MAX_WAITING_BATCHES = 4


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path


def expand_inputs(inputs: Sequence[str]) -> list[tuple[Path, Path]]:
    """(file, its name relative to the output folder) for every input: a file is its own
    name, a folder's images keep their path inside the folder, a glob's matches their name.
    Raises FileNotFoundError naming an input that is neither, or a glob matching nothing."""
    found: list[tuple[Path, Path]] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            found += [(file, file.relative_to(path)) for file in find_images(path)]
        elif path.exists():
            found.append((path, Path(path.name)))
        elif glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                raise FileNotFoundError(f"{text}: no file matches this pattern")
            found += [(file, Path(file.name)) for file in files]
        else:
            raise FileNotFoundError(f"{text}: no such file or folder")
    return found


def normalise_extension(ext: str | None) -> str | None:
    """``"png"`` or ``".png"`` -> ``".png"``; refused unless PIL writes that format."""
    if not ext:
        return None
    ext = ext.lower() if ext.startswith(".") else f".{ext.lower()}"
    if ext not in Image.registered_extensions():
        raise ValueError(f"--ext {ext}: not an image format img2img can write (try .png)")
    return ext


def plan_jobs(
    inputs: Sequence[str], output: str, suffix: str = "", ext: str | None = None
) -> list[Job]:
    """Where each input goes. One input file with an ``output`` that is not a folder (and
    does not end with a slash) writes to ``output`` itself; otherwise ``output`` is a
    folder and each file keeps its name (plus ``suffix``, with ``ext`` if given). Raises
    ValueError, before any work, when an output would replace an input or two inputs
    would write the same output."""
    ext = normalise_extension(ext)
    sources = expand_inputs(inputs)
    target_root = Path(output)
    single = (
        len(inputs) == 1
        and len(sources) == 1
        and not Path(inputs[0]).is_dir()
        and not glob.has_magic(inputs[0])
        and not target_root.is_dir()
        and not output.endswith(("/", "\\"))
    )
    if single:
        jobs = [Job(sources[0][0], target_root)]
    else:
        jobs = [
            Job(file, target_root / name.parent / f"{name.stem}{suffix}{ext or name.suffix}")
            for file, name in sources
        ]
    originals = {job.source.resolve(): job.source for job in jobs}
    seen: dict[Path, Path] = {}
    for job in jobs:
        target = job.target.resolve()
        if target in originals:
            raise ValueError(
                f"{job.source}: its output {job.target} is an input file, which is never "
                "overwritten; pass --suffix or another -o folder"
            )
        if target in seen:
            raise ValueError(
                f"{seen[target]} and {job.source} would both be written to {job.target}; "
                "pass them separately or use --suffix"
            )
        seen[target] = job.source
    return jobs


def save(image: Image.Image, target: Path) -> None:
    """Write ``image`` in the format of ``target``'s extension (JPEG and WebP at quality
    95, not PIL's 75: the output of a model should not lose detail to the container)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    lossy = target.suffix.lower() in (".jpg", ".jpeg", ".webp")
    image.save(target, **({"quality": 95} if lossy else {}))


def translate_jobs(
    translator: Translator,
    jobs: Sequence[Job],
    batch_size: int = 1,
    progress: bool = True,
    mask: Any = None,
) -> list[Job]:
    """Run every job, batching images of equal size; ``mask``: the hole an inpainting model
    fills in every image (see :meth:`Translator.translate_batch`). Returns the jobs that
    failed, each named in a warning on stderr as it is skipped: an input that could not be
    read, or one the model refuses (a label-map colour that is no class, a mask with no
    hole). A refused batch is retried image by image, so one bad file costs only itself."""
    from tqdm import tqdm

    waiting: dict[tuple[int, ...], list[tuple[Job, torch.Tensor]]] = {}
    skipped: list[Job] = []

    def run(batch: list[tuple[Job, torch.Tensor]]) -> None:
        try:
            outputs = translator.translate_batch(torch.stack([x for _, x in batch]), mask)
        except ValueError as err:
            if len(batch) > 1:
                for item in batch:
                    run([item])
                return
            skipped.append(batch[0][0])
            message = err if isinstance(err, ImageError) else f"{batch[0][0].source}: {err}"
            bar.write(f"warning: skipped {message}", file=sys.stderr)
            return
        for (job, _), output in zip(batch, outputs, strict=True):
            save(tensor_to_pil(output), job.target)

    with tqdm(jobs, desc="translate", unit="img", disable=not progress) as bar:
        for job in bar:
            try:
                x = pil_to_tensor(load_image(job.source))
            except ImageError as err:
                skipped.append(job)
                bar.write(f"warning: skipped {err}", file=sys.stderr)
                continue
            batch = waiting.setdefault(tuple(x.shape), [])
            batch.append((job, x))
            if len(batch) == batch_size:
                run(waiting.pop(tuple(x.shape)))
            elif len(waiting) > MAX_WAITING_BATCHES:
                for shape in list(waiting):
                    run(waiting.pop(shape))
        for batch in waiting.values():
            run(batch)
    return skipped
