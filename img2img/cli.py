"""The command line: ``img2img train | translate | sample | eval | export | data | demo | push``.

Train options are generated from the task's config dataclass (see :mod:`img2img.config`),
so every field is a flag and the defaults live in one place.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from img2img.config import (
    add_config_arguments,
    load_yaml,
    merge,
    rename_old_names,
    typed_options,
    upgrade_saved,
)
from img2img.data.masks import MASKS
from img2img.engines import ENGINES
from img2img.precision import PRECISIONS
from img2img.saved_models import DEFAULT_MODEL, config_file, read_config
from img2img.tasks import DEFAULT_TASK, TASKS, all_directions, get_task

MODEL_HELP = (
    "run directory, .safetensors file (with its .json), shipped model name, or Hub model "
    "hf://org/name[@revision]"
)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """Every command's --device, with train's default (its config's ``device`` field)."""
    parser.add_argument(
        "--device",
        default="auto",
        help="cpu, cuda, cuda:1, ... (default: auto, cuda when available)",
    )


def train_command(argv: list[str]) -> None:
    # First pass: which task, which YAML, resuming or not; these decide the full parser.
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task", default=None)
    pre.add_argument("--config", default=None)
    pre.add_argument("--resume", default=None)
    known, _ = pre.parse_known_args(argv)

    try:
        task_name, yaml_values, saved_values = file_layers(known.task, known.config, known.resume)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None
    task = get_task(task_name)

    parser = argparse.ArgumentParser(
        prog="img2img train",
        description=f"Train a {task_name} model.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--config", help="YAML file setting any of the options below")
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh in a non-empty --out: the old run is moved to OUT.old-<time>, "
        "not deleted (without this, or --resume, a non-empty --out is refused)",
    )
    add_config_arguments(parser, task.Config)
    args = vars(parser.parse_args(argv))
    args.pop("config", None)
    resume = args.pop("resume", None)
    overwrite = args.pop("overwrite")
    if resume:
        args.setdefault("out", resume)
    try:
        config = merge(task.Config, yaml_values, saved_values, {**args, "task": task_name})
    except ValueError as err:  # an option's value, or options that contradict each other
        parser.error(str(err))
    if not config.data:
        parser.error("--data is required (a dataset folder)")

    from img2img.distributed import shutdown
    from img2img.watch import TrainingDiverged

    try:
        fit(config, resume=bool(resume), overwrite=overwrite)
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        shutdown()  # leave the process group torchrun's environment made us join


def fit(config: Any, resume: bool, overwrite: bool) -> None:
    """Build the Trainer and train. A function of its own so that the Trainer, and the DDP
    wrappers that hold the process group, are unreferenced by the time :func:`shutdown`
    destroys the group."""
    from img2img.train import Trainer

    try:  # what the run is given (data, files, options) is checked while it starts
        trainer = Trainer(config, resume=resume, overwrite=overwrite)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    trainer.fit()


def file_layers(
    task: str | None, config: str | None, resume: str | None
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(the task, the options of the --config YAML, those of the config of the run being
    resumed): each file's options under today's names and in their types, so a value that
    is not its option's type is an error naming the file, not a failure later; the saved
    config with the options added since (:func:`~img2img.config.upgrade_saved`)."""
    yaml_values = load_yaml(config) if config else {}
    saved_values = read_config(Path(resume)) if resume else {}
    task = task or yaml_values.get("task") or saved_values.get("task") or DEFAULT_TASK
    cls = get_task(task).Config
    saved = config_file(Path(resume)) if resume else None
    # A run saved before an option existed resumes as it started (upgrade_saved).
    yaml_layer = typed_options(cls, rename_old_names(cls, yaml_values), config)
    saved_layer = typed_options(cls, upgrade_saved(cls, saved_values), saved) if resume else {}
    return task, yaml_layer, saved_layer


def translate_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="img2img translate",
        description="Translate images with a trained model: files, folders (recursively) "
        'and glob patterns ("photos/*.jpg"); outputs keep their names and formats.',
    )
    parser.add_argument("inputs", nargs="+", help="input image files, folders or glob patterns")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"run directory, shipped model name or Hub model (org/name, "
        f"hf://org/name@revision) (default: {DEFAULT_MODEL}, facade label maps to photos)",
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file (one input file) or folder (anything else, or a name ending in /)",
    )
    add_device_argument(parser)
    parser.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="autocast precision (auto: bf16 where the device is fast at it)",
    )
    add_engine_argument(parser)
    parser.add_argument(
        "--raw-weights",
        action="store_true",
        help="use the raw generator weights even if the model has EMA weights",
    )
    parser.add_argument(
        "--direction",
        choices=all_directions(),
        help="which way a two-way model (CycleGAN) translates (default: its first); "
        "one-way models (pix2pix) take none",
    )
    parser.add_argument(
        "--tile",
        type=int,
        default=512,
        help="translate images with a side over N px in overlapping N x N tiles, which "
        "bounds memory (0: always the whole image at once)",
    )
    parser.add_argument(
        "--mask",
        help="inpainting models: image whose white pixels are the hole to fill, resized to "
        "each input with nearest neighbour (default: the model's training mask)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive,
        default=4,
        help="images of equal size translated together (default: 4)",
    )
    parser.add_argument(
        "--suffix", default="", help="added to each output name before the extension"
    )
    parser.add_argument(
        "--ext", help="output format by extension, e.g. png (default: each input's own)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from img2img.file_translation import plan_jobs, translate_jobs
    from img2img.infer import load

    try:
        jobs = plan_jobs(args.inputs, args.output, args.suffix, args.ext)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    try:
        translator = load(
            args.model,
            args.device,
            args.precision,
            use_ema=not args.raw_weights,
            direction=args.direction,
            tile=args.tile,
            engine=args.engine,
        )
    except FileNotFoundError as err:  # no such model, or a Hub model that cannot be had
        raise SystemExit(f"error: {err}") from None
    except ValueError as err:  # a direction the model does not have, an engine it cannot use
        parser.error(str(err))
    if args.mask and not translator.inpaints:
        parser.error(f"--mask: a {translator.config.task} model takes no mask (inpaint models do)")
    # Notes such as "mask resized" are for the user, not a source line of img2img.
    warnings.formatwarning = lambda message, *_, **__: f"note: {message}\n"
    skipped = translate_jobs(
        translator, jobs, args.batch_size, progress=not args.no_progress, mask=args.mask
    )
    written = len(jobs) - len(skipped)
    where = jobs[0].target if len(jobs) == 1 else args.output
    print(f"{written} image{'s' * (written != 1)} translated -> {where}")
    if skipped:
        plural = "s" * (len(skipped) != 1)
        verb = "were" if plural else "was"
        print(f"{len(skipped)} file{plural} failed and {verb} skipped", file=sys.stderr)
        raise SystemExit(1)


def add_engine_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        default="auto",
        choices=ENGINES,
        help="what runs the networks (auto: onnxruntime on CPUs without native bf16, "
        "PyTorch with bf16 where the CPU has it and on GPUs)",
    )


def eval_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="img2img eval",
        description="Measure a model on the test split of a dataset: FID/KID of its outputs "
        "against the real targets, PSNR/SSIM/LPIPS against each target (CycleGAN: each "
        "direction's outputs against the other domain's test images; GAN: generated samples "
        "against the images of --data). Prints a table and writes eval-<data>.json (and "
        ".html) to --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--data", required=True, help="dataset folder with a test/ (or val/) split")
    parser.add_argument("--metrics", default="fid,kid,psnr,ssim,lpips", help="comma-separated")
    parser.add_argument(
        "--out",
        help="folder for the JSON/HTML (default: the run directory; runs/eval/NAME "
        "for a model shipped in weights/)",
    )
    parser.add_argument("--html", action="store_true", help="also write an HTML report")
    parser.add_argument("--samples", type=int, default=8, help="image rows in the HTML report")
    add_device_argument(parser)
    parser.add_argument("--batch-size", type=int, default=16, help="Inception batch size")
    parser.add_argument("--y-channel", action="store_true", help="PSNR/SSIM on the Y channel")
    parser.add_argument("--shave", type=int, default=0, help="border pixels PSNR/SSIM ignore")
    parser.add_argument("--inception", help="TorchScript Inception file (default: fid-helper's)")
    parser.add_argument("--lpips-net", default="alex", choices=("alex", "vgg"))
    parser.add_argument("--lpips-weights", help="torchvision weights file of the LPIPS trunk")
    parser.add_argument("--no-cache", action="store_true", help="recompute real features")
    parser.add_argument(
        "--generate",
        type=int,
        default=0,
        help="GAN models: samples generated for FID/KID (0: as many as the real images)",
    )
    parser.add_argument(
        "--real",
        type=int,
        default=0,
        help="GAN models: compare with this many real images, a random subset; CycleGAN: "
        "the first N test images of each domain (0: all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="GAN models: seed of the latents")
    parser.add_argument(
        "--baseline",
        help="inpainting models: another inpainting run measured on the same holes "
        "(e.g. the network trained with --l2-weight 1); OpenCV's Telea is always measured",
    )
    parser.add_argument(
        "--mask",
        choices=MASKS,
        help="inpainting models: the holes to fill (default: the model's training mask)",
    )
    parser.add_argument(
        "--lr-data",
        help="super-resolution models: the LR test images (DIR/test or DIR), named like the "
        "HR ones (0001.png or 0001x4.png), instead of LR made by bicubic downscaling",
    )
    add_engine_argument(parser)
    args = parser.parse_args(argv)

    from img2img.metrics.evaluate import evaluate, parse_metrics
    from img2img.metrics.reports import default_output_dir, format_table, write_html, write_json

    try:
        metrics = parse_metrics(args.metrics)
    except ValueError as err:
        parser.error(str(err))
    try:
        evaluation = evaluate(
            args.model,
            args.data,
            metrics,
            device=args.device,
            batch_size=args.batch_size,
            y_channel=args.y_channel,
            shave=args.shave,
            inception=args.inception,
            lpips_net=args.lpips_net,
            lpips_weights=args.lpips_weights,
            use_cache=not args.no_cache,
            samples=args.samples if args.html else 0,
            generate=args.generate,
            real_count=args.real,
            seed=args.seed,
            baseline=args.baseline,
            mask=args.mask,
            engine=args.engine,
            lr_data=args.lr_data,
        )
    except (FileNotFoundError, ValueError, ImportError) as err:  # data, model, kind, engine
        raise SystemExit(f"error: {err}") from None
    print(format_table(evaluation.summary))
    out = Path(args.out) if args.out else default_output_dir(args.model)
    stem = f"eval-{Path(args.data).resolve().name}"
    print(f"wrote {write_json(evaluation, out / f'{stem}.json')}")
    if args.html:
        print(f"wrote {write_html(evaluation, out / f'{stem}.html')}")


def export_command(argv: list[str]) -> None:
    from img2img.export import FORMATS, export_model

    parser = argparse.ArgumentParser(
        prog="img2img export",
        description="Export a model's generator (dynamic batch, height, width).",
    )
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--format", default="onnx", choices=FORMATS)
    parser.add_argument("-o", "--output", required=True, help="output file (.onnx or .pt)")
    parser.add_argument(
        "--raw-weights",
        action="store_true",
        help="export the raw generator weights even if the model has EMA weights",
    )
    parser.add_argument(
        "--direction", choices=all_directions(), help="which network of a two-way model (CycleGAN)"
    )
    args = parser.parse_args(argv)
    path = export_model(
        args.model,
        args.output,
        args.format,
        use_ema=not args.raw_weights,
        direction=args.direction,
    )
    print(f"{args.model} -> {path} ({args.format}; input N x C x H x W in [-1, 1])")


def sample_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="img2img sample",
        description="Draw samples from a trained GAN: a grid, and slerp interpolations of z.",
    )
    parser.add_argument("--model", required=True, help=f"a GAN model: {MODEL_HELP}")
    parser.add_argument("-n", type=int, default=64, help="number of samples in the grid")
    parser.add_argument("-o", "--output", default="samples.png", help="grid image file")
    parser.add_argument("--label", type=int, help="class of every sample (conditional models)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent vectors")
    parser.add_argument(
        "--interpolations", type=int, default=4, help="rows of the slerp strip (0: none)"
    )
    parser.add_argument("--steps", type=int, default=10, help="images per interpolation row")
    parser.add_argument(
        "--truncation", type=float, default=1.0, help="style models: psi of the truncation trick"
    )
    parser.add_argument(
        "--style-mix",
        type=int,
        default=0,
        metavar="K",
        help="style models: also write a K x K style-mixing grid (<output>_mix)",
    )
    parser.add_argument(
        "--chain", action="store_true", help="DDGAN models: also write the denoising steps"
    )
    parser.add_argument(
        "--parzen",
        type=int,
        default=0,
        metavar="N",
        help="also print the Parzen-window log likelihood of held-out data under N samples",
    )
    add_device_argument(parser)
    add_engine_argument(parser)
    args = parser.parse_args(argv)

    try:
        _sample(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None


def _sample(args: argparse.Namespace) -> None:
    from img2img.metrics.parzen import evaluate_parzen
    from img2img.sampling import growth_note, write_sample_files

    if args.parzen:
        result = evaluate_parzen(
            args.model, samples=args.parzen, seed=args.seed, device=args.device
        )
        print(
            f"Parzen log likelihood {result['log_likelihood']:.1f} +- {result['stderr']:.1f} "
            f"nats (sigma {result['sigma']:.3f}, {args.parzen} samples)"
            + (
                " on images the model trained on (the data set has no test split)"
                if result["seen"]
                else ""
            )
        )

    for path in write_sample_files(
        args.model,
        Path(args.output),
        args.n,
        args.label,
        args.seed,
        args.interpolations,
        args.steps,
        args.device,
        args.engine,
        args.truncation,
        args.style_mix,
        args.chain,
    ):
        print(path)
    if note := growth_note(args.model):
        print(f"{args.model}: {note}")


def data_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="img2img data", description="Prepare datasets.")
    commands = parser.add_subparsers(dest="command", required=True)
    split = commands.add_parser(
        "split-unpaired",
        help="aligned A|B dataset -> trainA/ trainB/ testA/ testB/ for unpaired training",
        description="Write the left (A) and right (B) halves of an aligned A|B dataset as "
        "the unpaired layout (PNG), e.g. facades photos and label maps as two domains.",
    )
    split.add_argument("--data", required=True, help="aligned dataset (DIR/train [+ DIR/test])")
    split.add_argument("--out", required=True, help="folder to write trainA/, trainB/, ... into")
    split.add_argument(
        "--disjoint",
        action="store_true",
        help="A from the even-numbered images, B from the odd ones: no scene in both domains",
    )
    download = commands.add_parser(
        "download",
        help="fetch a standard public data set (facades, horse2zebra, div2k, set5, ...)",
        description="Download a standard public data set from the address its reference code "
        "uses and unpack it into ROOT/NAME in the layout the tasks read, with a progress bar; "
        "an interrupted download resumes when run again, and nothing half-unpacked is left "
        "behind on failure. --list shows the sets.",
    )
    download.add_argument("name", nargs="?", help="the data set (see --list)")
    download.add_argument("--root", default="data", help="folder to unpack into (default: data)")
    download.add_argument("--list", action="store_true", help="list the data sets and exit")
    args = parser.parse_args(argv)

    if args.command == "download":
        _download(download, args)
        return
    from img2img.data import split_unpaired

    try:
        counts = split_unpaired(args.data, args.out, disjoint=args.disjoint)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None
    print(", ".join(f"{name}: {count}" for name, count in counts.items()) + f" -> {args.out}")


def _download(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from img2img.data.download import DATASETS, DownloadError, download_dataset

    if args.list:
        width = max(map(len, DATASETS))
        for name, dataset in DATASETS.items():
            print(f"{name:<{width}}  {dataset.description}")
        return
    if not args.name:
        parser.error("name the data set to download (--list shows them)")
    try:
        path = download_dataset(args.name, args.root)
    except DownloadError as err:
        raise SystemExit(f"error: {err}") from None
    print(f"use it with --data {path}")


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number of at least 1")
    return int(text)


def demo_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="img2img demo",
        description="Start the Gradio web demo: a tab each for image translation, "
        "super-resolution and GAN sampling.",
    )
    parser.add_argument(
        "--model",
        action="append",
        metavar="MODEL",
        help=f"{MODEL_HELP}; repeat for several (default: every model shipped in weights/)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="default 127.0.0.1; 0.0.0.0 serves the network"
    )
    parser.add_argument("--port", type=int, help="default: the first free port from 7860")
    parser.add_argument(
        "--share",
        choices=("yes", "no"),
        default="no",
        help="also serve on a public gradio.live URL (default: no)",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        help="inputs with more pixels are downscaled (for super-resolution: outputs), which "
        "bounds each request's work; uploads decoding to over 16x this are refused "
        "(default: img2img.demo.DEFAULT_MAX_PIXELS, 1024 x 1024)",
    )
    add_device_argument(parser)
    add_engine_argument(parser)
    parser.add_argument(
        "--concurrency",
        type=positive,
        default=1,
        help="requests run at once (default: 1: one request already uses every CPU core); "
        "each may hold about 16 bytes a pixel of 16x --max-pixels while it decodes its upload "
        "(256 MB for the default) plus the model's activations",
    )
    parser.add_argument(
        "--queue-size",
        type=positive,
        default=32,
        help="requests that may wait for their turn; later ones are turned away with a "
        "message (default: 32)",
    )
    args = parser.parse_args(argv)

    from img2img.demo import DEFAULT_MAX_PIXELS, build_demo, launch

    try:
        demo = build_demo(
            args.model,
            max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS,
            device=args.device,
            concurrency=args.concurrency,
            queue_size=args.queue_size,
            engine=args.engine,
        )
    except (FileNotFoundError, ValueError, ImportError) as err:
        parser.error(str(err))
    launch(demo, host=args.host, port=args.port, share=args.share == "yes")


def push_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="img2img push",
        description="Upload a model to the Hugging Face Hub: its config, generator weights "
        "(and EMA weights), its model card (model_card.json) and the Hub README.md made from "
        "it, in one commit. Log in first (`hf auth login`, or HF_TOKEN).",
    )
    parser.add_argument("model", metavar="RUN_OR_MODEL", help=MODEL_HELP)
    parser.add_argument("repo", metavar="ORG/NAME", help="the Hub repository (made if absent)")
    parser.add_argument(
        "--private", action="store_true", help="make a new repository private (default: public)"
    )
    parser.add_argument(
        "--revision", metavar="BRANCH", help="commit to this branch, made from main if absent"
    )
    parser.add_argument(
        "--with-state",
        action="store_true",
        help="also upload the training state (trainer_state.pt: optimizers, discriminators, "
        "RNG), so that others can resume the run; never uploaded without this",
    )
    args = parser.parse_args(argv)

    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

    from img2img.push import push_model

    try:
        pushed = push_model(
            args.model,
            args.repo,
            private=args.private,
            revision=args.revision,
            with_state=args.with_state,
        )
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None
    except (HfHubHTTPError, LocalTokenNotFoundError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SystemExit(
            f"error: the Hub refused the upload ({first}); log in with `hf auth login` (or set "
            "HF_TOKEN) with a token that may write to this repository"
        ) from None
    print(f"{args.model} -> {pushed.url} ({pushed.revision}): {', '.join(pushed.files)}")


COMMANDS = {
    "train": train_command,
    "translate": translate_command,
    "sample": sample_command,
    "eval": eval_command,
    "export": export_command,
    "data": data_command,
    "demo": demo_command,
    "push": push_command,
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["--version"], ["-V"]):
        from img2img import __version__

        print(f"img2img {__version__}")
        return
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(
            "usage: img2img [--version] {train,translate,sample,eval,export,data,demo,push} ...\n\n"
            "  train      train a model: img2img train --task pix2pix --data DIR --out runs/x\n"
            "  translate  run a model: img2img translate [--model runs/x] in.png -o out.png\n"
            "  sample     draw from a GAN: img2img sample --model runs/gan -n 64 -o grid.png\n"
            "  eval       measure a model: img2img eval --model runs/x --data DIR\n"
            "  export     ONNX/TorchScript: img2img export --model runs/x -o model.onnx\n"
            "  data       get data: img2img data download facades (--list: all sets)\n"
            "  demo       web demo: img2img demo [--model runs/x ...] [--port 7860]\n"
            "  push       share on the Hugging Face Hub: img2img push runs/x org/name\n\n"
            f"tasks: {', '.join(TASKS)}; `img2img train --task NAME --help` lists its options.",
            file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout,
        )
        raise SystemExit(0 if argv and argv[0] in ("-h", "--help") else 2)
    COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    main()
