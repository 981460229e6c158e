"""``img2img eval`` for models without aligned (input, target) test items.

- **CycleGAN** (two-way): each direction translates its test domain and is measured by
  FID/KID of its outputs against the *other* domain's real test images: A->B outputs vs real
  B, B->A outputs vs real A. Nothing aligns an A image with a B image, so PSNR/SSIM/LPIPS
  are reported unavailable.
- **GAN** from noise: FID/KID of ``generate`` samples (default: as many as there are real
  images) against the real images of ``--data``: its test split when it has one, else the
  images the model trained on (the summary says which). A class-conditional model samples
  labels in the data's class proportions, so a class imbalance in the real set is not
  counted against it. A model trained on MNIST is also judged by a digit classifier when
  asked (``digits``, or ``modes`` for Stacked MNIST: :mod:`.digits`).

Outputs are rounded to 8 bits (as saved images are) before they reach Inception, as in
:mod:`img2img.metrics.evaluate`; real features are cached per file list and reading mode.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from img2img.devices import resolve_device
from img2img.images import quantize
from img2img.metrics.digits import check_digit_metrics, digit_metrics, trained_on_digits
from img2img.metrics.distances import distribution_metrics
from img2img.metrics.protocols import (
    EvalRequest,
    EvaluationProtocol,
    Setup,
    as_rgb,
    batches,
    register_protocol,
)
from img2img.metrics.reports import DIGIT_METRICS, PAIRED, Evaluation
from img2img.tasks import get_task


def unavailable_paired(metrics: list[str], reason: str) -> dict[str, str]:
    return {name: reason for name in metrics if name in PAIRED}


def evaluate_cyclegan(
    path: Path,
    translators: dict[str, Any],
    config: Any,
    data: str | Path,
    metrics: list[str],
    setup: Setup,
    limit: int = 0,
) -> Evaluation:
    """FID/KID of each direction's test outputs against the other domain's real test images,
    for the model at ``path`` loaded as ``translators`` ("AtoB", "BtoA" ->
    :class:`~img2img.infer.Translator`) with its ``config``. Metrics are named
    ``fid_AtoB``, ``kid_AtoB``, ``fid_BtoA``, ``kid_BtoA``. ``limit`` > 0 uses only the
    first ``limit`` test images of each domain (a fixed subset, for validation during
    training)."""
    start = time.perf_counter()
    config = dataclasses.replace(config, data=str(data))
    dataset = get_task(config.task).dataset(config, "test", augment=False)
    if dataset is None:
        raise FileNotFoundError(
            f"{data}: no testA/ + testB/ folders (or test/A, test/B); eval measures the "
            "held-out split of both domains"
        )
    unavailable = unavailable_paired(
        metrics, "unpaired test split: no A image has an aligned B counterpart"
    )
    extractor = setup.extractor(metrics, unavailable)
    values: dict[str, Any] = {}
    kept: list[tuple[Tensor, ...]] = []
    files = {domain: paths[:limit] if limit else paths for domain, paths in dataset.files.items()}

    def domain_images(domain: str) -> Iterator[Tensor]:
        for index in range(len(files[domain])):
            yield dataset[index][domain]

    for way, translator in translators.items():
        source, target = way[0], way[-1]
        outputs = []
        for batch in batches(domain_images(source), setup.batch_size):
            outputs.append(as_rgb(quantize(translator.translate_tensor(batch))))
        fake = torch.cat(outputs)
        reals = list(domain_images(target))
        kept += [
            (dataset[i][source], fake[i], reals[i % len(reals)])
            for i in range(min(math.ceil(setup.samples / 2), len(fake)))
        ]
        if extractor is None:
            continue
        real = setup.real_features(
            extractor,
            files[target],
            lambda reals=reals: reals,
            len(reals),
            {
                "images": f"test {target}",
                "protocol": "two-way",
                "size": config.image_size,
                # grey images are other features; RGB runs keep their cache keys
                **({"channels": 1} if getattr(config, "channels", 3) == 1 else {}),
            },
        )
        fake_features = setup.fake_features(extractor, fake, f"{way} outputs")
        for name, value in distribution_metrics(real, fake_features, metrics).items():
            values[f"{name}_{way}"] = value
    summary = {
        "model": str(path),
        "data": str(data),
        "split": {domain: str(root) for domain, root in dataset.roots.items()},
        "images": {domain: len(paths) for domain, paths in files.items()},
        "description": (
            f"A->B outputs of {len(files['A'])} test A images vs "
            f"{len(files['B'])} real test B images, and B->A likewise"
        ),
        "task": config.task,
        "direction": None,
        "image_size": config.image_size,
        "columns": ["input", "output", "a real image of the output's domain"],
        "metrics": values,
        "unavailable": unavailable,
        "inception": extractor.identity if extractor else None,
        "device": str(translators["AtoB"].device),
        "seconds": round(time.perf_counter() - start, 1),
        "per_image": [],
    }
    return Evaluation(summary, kept[: setup.samples])


def proportional_labels(real_labels: Tensor, n: int, seed: int) -> Tensor:
    """``n`` labels in the real data's class proportions: the real labels in a seeded
    random order, repeated as often as needed (exact proportions when ``n`` is a multiple
    of the real count, a random subset's when smaller)."""
    from img2img.data.transforms import make_generator

    order = torch.randperm(len(real_labels), generator=make_generator(seed, 7))
    return real_labels[order].repeat(math.ceil(n / len(real_labels)))[:n]


def evaluate_gan(
    path: Path,
    generator: torch.nn.Module,
    config: Any,
    data: str | Path,
    metrics: list[str],
    setup: Setup,
    *,
    generate: int = 0,
    real_count: int = 0,
    seed: int = 0,
    engine: str = "auto",
) -> Evaluation:
    """FID/KID of ``generate`` samples of a GAN (0: as many as the real images) against the
    real images of ``data`` (``real_count`` > 0: a random subset of that many, chosen by ``seed``;
    Inception on a CPU is slow); ``generator`` (eval mode, on its device) and ``config`` are
    the model at ``path``. Samples are drawn in batches of the training batch size,
    with batch norm on batch statistics as in training, on ``engine``: as ``img2img
    sample`` draws them (:func:`img2img.sampling.gan_sampler`). ``digits`` / ``modes`` in
    ``metrics`` have the shipped digit classifier read the samples (:mod:`.digits`); they are
    refused for a model not trained on (Stacked) MNIST."""
    from img2img.data.mnist import mnist_split_files
    from img2img.data.toy import is_toy
    from img2img.data.transforms import make_generator
    from img2img.sampling import gan_sampler
    from img2img.tasks.noise import latent

    start = time.perf_counter()
    if is_toy(str(data)):
        raise ValueError(
            f"{data}: FID/KID need images; a 2-D toy model is measured by its mode coverage "
            "(see the GAN lab's plots and `img2img sample`)"
        )
    digit_wanted = [name for name in metrics if name in DIGIT_METRICS]
    check_digit_metrics(digit_wanted, config, path)  # the data the model trained on
    torch_device = resolve_device(setup.device)
    config = dataclasses.replace(config, data=str(data))
    task = get_task(config.task)
    split = "test" if task.dataset(config, "test") is not None else "train"
    dataset = task.dataset(config, split)
    if dataset is None or len(dataset) == 0:
        raise FileNotFoundError(f"{data}: no images to compare the GAN's samples with")
    files = getattr(dataset, "files", None) or list(mnist_split_files(config.data, split))
    chosen = list(range(len(dataset)))
    if 0 < real_count < len(dataset):
        order = torch.randperm(len(dataset), generator=make_generator(seed, 8))
        chosen = sorted(order[:real_count].tolist())
    count = generate or len(chosen)
    labels = None
    conditional = bool(generator.num_classes)
    if conditional:
        real_labels = torch.as_tensor(dataset.labels)
        if int(real_labels.max()) >= generator.num_classes:
            raise ValueError(
                f"{data}: labels up to {int(real_labels.max())}, but the model knows "
                f"{generator.num_classes} classes"
            )
        labels = proportional_labels(real_labels, count, seed)

    z = latent(count, generator.latent_size, seed)
    sample = gan_sampler(generator, engine, torch_device)
    chunk = config.batch_size  # batch statistics: sample at the batch size it trained with
    fake = torch.cat(
        [
            quantize(sample(z[i : i + chunk], None if labels is None else labels[i : i + chunk]))
            for i in range(0, count, chunk)
        ]
    )
    unavailable = unavailable_paired(metrics, "a GAN has no inputs or targets to compare")
    extractor = setup.extractor(metrics, unavailable)
    values: dict[str, Any] = {}
    if extractor is not None:
        real = setup.real_features(
            extractor,
            files,
            lambda: (dataset[i]["image"] for i in chosen),
            len(chosen),
            {
                "images": f"{split} split",
                "protocol": "samples",
                "size": config.image_size,
                "channels": int(dataset[chosen[0]]["image"].shape[0]),
                "subset": None if len(chosen) == len(dataset) else [len(chosen), seed],
            },
        )
        fake_features = setup.fake_features(extractor, fake, "generated samples")
        values = distribution_metrics(real, fake_features, metrics)
    if digit_wanted:
        values.update(digit_metrics(fake, digit_wanted, torch_device))
    seen = split == "train"
    kept = [(as_rgb(fake[k : k + 1])[0], as_rgb(dataset[i]["image"][None])[0]) for k, i in
            enumerate(chosen[: min(setup.samples, count)])]  # fmt: skip
    subset = f" (a random {len(chosen)} of {len(dataset)})" if len(chosen) < len(dataset) else ""
    summary = {
        "model": str(path),
        "data": str(data),
        "split": split,
        "images": len(chosen),
        "generated": count,
        "description": (
            f"{count} generated samples vs {len(chosen)} real {split} images{subset}"
            + (", the images the model trained on" if seen else "")
        ),
        "real_images_seen_in_training": seen,
        "task": config.task,
        "direction": None,
        "image_size": config.image_size,
        "conditional": conditional,
        "labels": "drawn in the real data's class proportions" if conditional else None,
        "seed": seed,
        "columns": ["generated", "real"],
        "metrics": values,
        "unavailable": unavailable,
        "inception": extractor.identity if extractor else None,
        "device": str(torch_device),
        "seconds": round(time.perf_counter() - start, 1),
        "per_image": [],
    }
    return Evaluation(summary, kept)


@register_protocol("two-way")
class BothDirections(EvaluationProtocol):
    """Each direction's test outputs against the other domain's real test images (FID/KID),
    the mean over the two directions ranking models (:func:`evaluate_cyclegan`)."""

    options: ClassVar[dict[str, Any]] = {"real_count": 0}
    validation = ("fid", "kid")
    higher_is_better = False

    @classmethod
    def evaluate(cls, request: EvalRequest) -> Evaluation:
        translators = {way: request.translator(way) for way in request.generator}
        return evaluate_cyclegan(
            request.path, translators, request.config, request.data, request.metrics,
            request.setup, request.options["real_count"],
        )  # fmt: skip


@register_protocol("samples")
class Samples(EvaluationProtocol):
    """Samples drawn from noise against the real images of the data (FID/KID;
    :func:`evaluate_gan`)."""

    options: ClassVar[dict[str, Any]] = {"generate": 0, "real_count": 0, "seed": 0}
    validation = ("fid", "kid")
    higher_is_better = False
    extra_metrics = DIGIT_METRICS

    @classmethod
    def validation_metrics(cls, config: Any) -> tuple[str, ...]:
        """FID and KID, and for a run on MNIST the digit classifier's ``digits`` (Stacked
        MNIST: ``modes``), logged beside them (FID still ranks the models)."""
        if not trained_on_digits(config):
            return cls.validation
        return (*cls.validation, "modes" if getattr(config, "stacked", False) else "digits")

    @classmethod
    def check_data(cls, task: Any, config: Any) -> None:
        """Any image data will do (the training images when there is no test split), but
        not 2-D points."""
        from img2img.data.toy import is_toy

        if is_toy(config.data):
            raise ValueError(
                f"--val-every measures FID/KID, which need images; {config.data} is 2-D "
                "points (its mode coverage is logged at every --log-every instead)"
            )

    @classmethod
    def evaluate(cls, request: EvalRequest) -> Evaluation:
        return evaluate_gan(
            request.path, request.generator, request.config, request.data, request.metrics,
            request.setup, engine=request.engine, **request.options,
        )  # fmt: skip
