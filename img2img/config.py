"""Configuration: one dataclass per task, whose defaults reproduce its paper.

The dataclass is the single declaration of every option: the command line is generated
from it (``image_size`` becomes ``--image-size``, booleans get ``--flag/--no-flag``), a YAML
file may set any field, and the resolved values are saved with every checkpoint so that a
checkpoint alone rebuilds its model. Values read from files are converted to each option's
type (:func:`typed_options`), and a saved ``config.json`` keeps the model's options apart from
the run's own (:func:`saved_config`, :func:`saved_options`).

Options that several tasks share are declared once, in option groups (small dataclasses
that task configs compose by inheritance: :mod:`img2img.tasks.options`); a task whose
default differs re-declares the field with :meth:`OptionGroup.option`, which keeps the
group's help text and choices, so one name means one thing in every task.

A saved config (a model's or a run's ``config.json``) holds every option of its time. An
option added later takes, in a saved config that lacks it, its ``saved_default`` (the value
that reproduces what the code did before the option existed) or else its default, never a
preset; :func:`config_from_saved` reads a saved config with those values filled in, so an old
model rebuilds the network it was trained as and an old run resumes as it started, while
new runs take the new default.

Precedence, lowest first: dataclass defaults < presets (a config class's ``presets(values)``:
defaults that depend on other options, such as a GAN objective's paper settings or the
DualGAN preset; see :func:`merge`) < ``--config`` YAML < the config saved in a run being
resumed < flags given on the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from img2img.loggers import LOGGERS
from img2img.optim import LR_SCHEDULES
from img2img.precision import PRECISIONS
from img2img.version import __version__

C = TypeVar("C", bound="TrainConfig")


def option(
    default: Any,
    help: str,
    choices: tuple | None = None,
    aliases: tuple[str, ...] = (),
    old_names: tuple[str, ...] = (),
    repeatable: bool = False,
    file_names: tuple[str, ...] = (),
    saved_default: Any = MISSING,
    run: bool = False,
) -> Any:
    """A dataclass field with the help text (and allowed values) its CLI flag shows;
    ``aliases`` are extra flag names for it (``("--workers",)``). ``old_names`` are names
    the field had before a rename: each is also a flag, and a YAML file or a saved
    ``config.json`` that uses it still sets the field (:func:`rename_old_names`).
    ``file_names`` are old names read from YAML and saved configs only, with a note, for a
    name whose flag now means something else (SRGAN's width was ``channels``, which is an
    image's channels everywhere now). ``repeatable``: a string of comma-separated
    ``choices``; the flag may be given several times (``--logger tensorboard --logger
    wandb``) and YAML may give a list. ``saved_default``: for an option added after models
    were saved, the value a saved config without it means (what the code did before the
    option existed; see :func:`upgrade_saved`). ``run``: an option of the run, not of the
    model (where its data and outputs are, how it logs, checkpoints and uses the machine):
    a saved ``config.json`` keeps it apart from the options that rebuild the model
    (:func:`saved_config`)."""
    metadata = {
        "help": help,
        "choices": choices,
        "aliases": aliases,
        "old_names": old_names,
        "repeatable": repeatable,
        "file_names": file_names,
        "run": run,
    }
    if saved_default is not MISSING:
        metadata["saved_default"] = saved_default
    return field(default=default, metadata=metadata)


@dataclass
class OptionGroup:
    """Options declared together and composed into task configs (see the module
    docstring); the first line of a group's docstring titles its section of ``--help``."""

    @classmethod
    def option(cls, name: str, default: Any, **changes: Any) -> Any:
        """The group's field ``name`` with this task's ``default`` (and, in ``changes``, other
        metadata such as ``choices`` or ``file_names``); the help text stays the group's."""
        declared = cls.__dataclass_fields__[name]
        return field(default=default, metadata={**declared.metadata, **changes})


class JoinRepeats(argparse.Action):
    """A flag given several times collects its values joined by commas."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        previous = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, f"{previous},{values}" if previous else values)


@dataclass
class TrainConfig(OptionGroup):
    """Options every task shares: data, run directory, schedule, logging and checkpoints."""

    task: str = option("", "which recipe to train (pix2pix, ...)")
    data: str = option(
        "",
        "dataset folder (DIR/train + DIR/test, or a flat folder of images)",
        run=True,
    )
    out: str = option("runs/run", "run directory: checkpoints, logs, sample grids", run=True)
    image_size: int = option(256, "training crop size in pixels")
    batch_size: int = option(1, "images per optimisation step (per process)")
    epochs: int = option(200, "total epochs (the LR schedule is laid out over these)")
    decay_epochs: int = option(100, "final epochs over which the LR decays linearly to 0")
    lr_schedule: str = option(
        "linear",
        "learning-rate schedule: linear (constant, then a linear decay over --decay-epochs) or "
        "cosine (annealed from the first iteration over all --epochs; --decay-epochs 0)",
        LR_SCHEDULES,
    )
    lr_floor: float = option(0.0, "the learning rate the schedule decays to (DDGAN: 1e-5)")
    max_steps: int = option(0, "stop after this many iterations (0: run all epochs)")
    save_every: int = option(1000, "write a resumable checkpoint every N iterations", run=True)
    keep_checkpoints: int = option(
        2, "training states kept (older ones are the fallback)", run=True
    )
    sample_every: int = option(
        500, "write a sample grid and the loss plot every N iterations", run=True
    )
    log_every: int = option(10, "append mean losses to losses.jsonl every N iterations", run=True)
    num_samples: int = option(4, "rows in each sample grid", run=True)
    val_every: int = option(
        0,
        "every N iterations measure the model on the test split (PSNR/SSIM; FID/KID for "
        "GANs and CycleGAN), log it and keep the best model in OUT/best (0: off)",
        run=True,
    )
    val_images: int = option(
        500,
        "FID/KID at --val-every: GAN samples and real images; CycleGAN test images a side",
        run=True,
    )
    snapshot_every: int = option(0, "keep the generator of every N-th iteration (0: off)", run=True)
    keep_snapshots: int = option(0, "snapshots kept, the newest (0: all)", run=True)
    seed: int = option(0, "seed for weights, data order and augmentation")
    num_workers: int = option(
        2,
        "data-loading worker processes (kept for the whole run)",
        aliases=("--workers",),
        run=True,
    )
    device: str = option("auto", "cpu, cuda, cuda:1, ... (auto: cuda when available)", run=True)
    precision: str = option(
        "fp32",
        "autocast precision (auto: bf16/fp16 where the device is fast at it)",
        PRECISIONS,
        run=True,
    )
    ema: float = option(0.0, "keep an EMA of the generator weights with this decay (0: off)")
    ema_rampup: float = option(
        0.0,
        "EMA ramp-up: the average's half-life is at most this fraction of the iterations so "
        "far, so early weights are forgotten fast (StyleGAN2: 0.05; 0: off)",
    )
    sync_bn: bool = option(
        False, "under torchrun on GPUs: batch-norm statistics over all processes' batches", run=True
    )
    skip_nonfinite: bool = option(
        False,
        "skip (and count) an update whose loss or gradients are NaN/inf instead of stopping",
        run=True,
    )
    channels_last: bool = option(False, "channels-last memory format for the networks", run=True)
    compile: bool = option(
        False, "torch.compile the networks (slow start, maybe faster steps)", run=True
    )
    logger: str = option(
        "jsonl",
        "where logs go: losses.jsonl always; tensorboard (then `tensorboard --logdir runs`), "
        "wandb; repeat the flag for several",
        LOGGERS,
        repeatable=True,
        run=True,
    )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def rename_old_names(cls: type[TrainConfig], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with every key that is a field's old name (``option(old_names=...)``)
    under the field's name, so configs written before a rename keep loading; a dict that
    gives both names different values is ambiguous and raises ValueError."""
    renamed = dict(values)
    for f in dataclasses.fields(cls):
        for old in (*f.metadata.get("old_names", ()), *f.metadata.get("file_names", ())):
            if old not in renamed or old in cls.__dataclass_fields__:
                continue
            value = renamed.pop(old)
            if old in f.metadata.get("file_names", ()):
                warnings.warn(f"{old}={value!r} is read as {f.name} (its old name)", stacklevel=3)
            if f.name in renamed and renamed[f.name] != value:
                raise ValueError(
                    f"{old}={value!r} and {f.name}={renamed[f.name]!r}: {old} is the old name "
                    f"of {f.name}; give one"
                )
            renamed[f.name] = value
    return renamed


def upgrade_saved(cls: type[TrainConfig], values: dict[str, Any]) -> dict[str, Any]:
    """A saved config's ``values`` under today's options: old names renamed
    (:func:`rename_old_names`) and every option it lacks (one added after the file was
    written) set to the value that reproduces how that model or run trained: its
    ``saved_default`` where it declares one, else its default, never a preset (presets fill
    what a *new* run leaves unset, and may depend on options the old code did not have)."""
    upgraded = rename_old_names(cls, values)
    for f in dataclasses.fields(cls):
        if f.name not in upgraded and f.default is not MISSING:
            upgraded[f.name] = f.metadata.get("saved_default", f.default)
    return upgraded


def config_from_saved(cls: type[C], values: dict[str, Any], source: str | Path | None = None) -> C:
    """Build ``cls`` from a saved config's options (a model's or a run's ``config.json``):
    the config of the model as it was trained, options added since filled by
    :func:`upgrade_saved`. ``source`` names the file in errors."""
    return config_from_dict(cls, upgrade_saved(cls, values), source)


def config_from_dict(cls: type[C], values: dict[str, Any], source: str | Path | None = None) -> C:
    """Build ``cls`` from a dict (old option names accepted, see :func:`rename_old_names`;
    values converted to the options' types, see :func:`typed_options`), rejecting unknown
    keys with the list of valid ones. ``source`` names the file the values came from in
    errors."""
    values = typed_options(cls, rename_old_names(cls, values), source)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(
            f"{_where(source)}unknown option(s) {', '.join(unknown)} for {cls.__name__}; "
            f"valid options: {', '.join(sorted(names))}"
        )
    config = cls(**values)
    validate(config)
    return config


def typed_options(
    cls: type[TrainConfig], values: dict[str, Any], source: str | Path | None = None
) -> dict[str, Any]:
    """``values`` with each option's value converted to the type of its default, the type
    its command-line flag parses to. Files need this: PyYAML reads YAML 1.1, whose floats
    need a dot, so ``lr: 2e-4`` is the *string* '2e-4' (which would fail much later, inside
    the optimizer), and a JSON number need not be the int or float the option is. A list
    given to a repeatable option is joined with commas. A value that cannot be converted
    raises ValueError naming ``source`` (the file), the option and what it needs; names
    that are no option pass through, for :func:`config_from_dict` to refuse."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    typed = dict(values)
    for name, value in values.items():
        if name not in fields:
            continue
        f = fields[name]
        if f.metadata.get("repeatable") and isinstance(value, list | tuple):
            value = ",".join(str(part) for part in value)
        kind = type(f.default)
        try:
            typed[name] = _convert(value, kind)
        except (TypeError, ValueError):
            raise ValueError(
                f"{_where(source)}{name}: {value!r} is not {_KIND_NAMES[kind]}"
            ) from None
    return typed


_KIND_NAMES = {
    bool: "true or false",
    int: "a whole number",
    float: "a number (e.g. 2e-4 or 0.0002)",
    str: "a text value (quote it in YAML)",
}
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _convert(value: Any, kind: type) -> Any:
    """``value`` as a ``kind`` (bool, int, float or str), where that loses nothing; else
    TypeError/ValueError. Booleans are never numbers or text here (YAML 1.1 reads ``no``
    and ``off`` as false, which would otherwise become a text option's "False")."""
    if value is None:
        raise TypeError("no value")
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValueError(value)
    if isinstance(value, bool):
        raise TypeError(value)
    if kind is int:
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
        number = float(value)  # 1e3, 1000.0
        if not number.is_integer():
            raise ValueError(value)
        return int(number)
    if kind is float:
        return float(value)
    if kind is str and isinstance(value, str | int | float):
        return str(value)
    raise TypeError(value)


def _where(source: str | Path | None) -> str:
    return f"{source}: " if source else ""


def validate(config: TrainConfig) -> None:
    """Check every field with declared choices; the error names the field and the options."""
    for f in dataclasses.fields(config):
        choices = f.metadata.get("choices")
        value = getattr(config, f.name)
        given = value.split(",") if f.metadata.get("repeatable") else [value]
        if choices and any(part not in choices for part in given):
            raise ValueError(f"{f.name}={value!r} is not valid; choose one of {', '.join(choices)}")


def load_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: config file not found") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(values, dict):
        raise ValueError(
            f"{path}: expected a mapping of option: value, got {type(values).__name__}"
        )
    return {key.replace("-", "_"): value for key, value in values.items()}


# The layout of a saved config.json. Files without a "config_format" field (img2img 0.1.0,
# the shipped models) are format 1: a flat mapping of every option.
CONFIG_FORMAT = 2


def run_options(cls: type[TrainConfig]) -> set[str]:
    """The options of ``cls`` that belong to the run (``option(run=True)``), also where a
    task re-declares one with its own default."""
    return {
        f.name
        for klass in cls.__mro__
        if dataclasses.is_dataclass(klass)
        for f in dataclasses.fields(klass)
        if f.metadata.get("run")
    }


def saved_config(config: TrainConfig, model_class: Any) -> dict[str, Any]:
    """What a model's ``config.json`` holds (format :data:`CONFIG_FORMAT`): the img2img
    version that wrote it, the task, the generator's class (``model_class``, informative:
    loading asks the task registry, never imports a class a file names), the ``model``
    options (every option of the recipe: what rebuilds the network and how it was trained)
    and the ``run``'s own (data and output paths, workers, device, logging, checkpoints),
    which a shared model does not need. :func:`saved_options` reads it back."""
    values = config.to_dict()
    run = run_options(type(config))
    return {
        "config_format": CONFIG_FORMAT,
        "img2img_version": __version__,
        "task": values.pop("task"),
        "model_class": model_class,
        "model": {name: value for name, value in values.items() if name not in run},
        "run": {name: value for name, value in values.items() if name in run},
    }


def saved_options(values: dict[str, Any], source: str | Path | None = None) -> dict[str, Any]:
    """The options (name -> value, one flat mapping) of a saved config of any format: a
    format-1 file is that mapping already; a newer format than this img2img knows raises
    ValueError naming ``source``."""
    layout = values.get("config_format", 1)
    if layout == 1:
        return values
    if layout != CONFIG_FORMAT:
        raise ValueError(
            f"{_where(source)}config format {layout!r}: img2img {__version__} reads "
            f"formats 1 and {CONFIG_FORMAT}; upgrade img2img to use this model"
        )
    sections = values.get("model"), values.get("run", {})
    if not all(isinstance(section, dict) for section in sections):
        raise ValueError(f'{_where(source)}a format-2 config needs "model" and "run" mappings')
    return {**sections[1], **sections[0], "task": values.get("task")}


def add_config_arguments(parser: argparse.ArgumentParser, cls: type[TrainConfig]) -> None:
    """Add one ``--flag`` per dataclass field, in a section of the help per option group
    that declares it (the task's own options under the config class). Defaults are
    suppressed so that the parsed namespace holds only what the user typed; precedence is
    applied in :func:`merge`."""
    sections: dict[type, Any] = {}
    for f in dataclasses.fields(cls):
        owner = declaring_group(cls, f.name)
        if owner not in sections:
            title = (owner.__doc__ or owner.__name__).strip().splitlines()[0].rstrip(".")
            sections[owner] = parser.add_argument_group(title)
        group = sections[owner]
        old_flags = ["--" + old.replace("_", "-") for old in f.metadata.get("old_names", ())]
        flags = ["--" + f.name.replace("_", "-"), *f.metadata.get("aliases", ()), *old_flags]
        help_text = f"{f.metadata.get('help', '')} (default: {f.default!r})"
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        if isinstance(f.default, bool):
            group.add_argument(*flags, action=argparse.BooleanOptionalAction, **kwargs)
        elif f.metadata.get("repeatable"):
            choices = f.metadata.get("choices")
            group.add_argument(*flags, action=JoinRepeats, choices=choices, **kwargs)
        else:
            choices = f.metadata.get("choices")
            group.add_argument(*flags, type=type(f.default), choices=choices, **kwargs)


def declaring_group(cls: type, name: str) -> type:
    """The option group (or ``cls`` itself) in whose body field ``name`` is first written,
    going from the most general base to ``cls``: where its help text comes from."""
    for klass in reversed(cls.__mro__):
        if name in vars(klass).get("__annotations__", {}):
            return klass
    return cls


def merge(cls: type[C], *layers: dict[str, Any]) -> C:
    """Apply option layers in order over the defaults (later layers win).

    A config class may define ``presets(values) -> dict``: defaults that depend on other
    options (a GAN objective's paper settings, say). They sit between the dataclass
    defaults and the layers, so they fill only the fields no layer set.
    """
    values: dict[str, Any] = {}
    for layer in layers:  # renamed per layer: a later layer's old name overrides an earlier
        values.update(rename_old_names(cls, layer))
    presets = getattr(cls, "presets", None)
    if presets is not None:
        values = {**presets(values), **values}
    return config_from_dict(cls, values)


def format_config(config: TrainConfig) -> str:
    """The resolved configuration as aligned ``name: value`` lines, for the start of a run."""
    items = config.to_dict()
    width = max(len(name) for name in items)
    return "\n".join(f"  {name:<{width}}  {value!r}" for name, value in items.items())
