"""The GAN Lab: a 2-D GAN trained live in the demo, what the buttons of its tab do.

A :class:`LabSession` trains one setup, or two side by side on the same target and seed,
and reports what GAN Lab (Kahng et al. 2018) shows: real and generated points, the
discriminator's verdict over the plane, arrows on the generated points, the generator's
map of a latent grid, losses, modes covered and a divergence estimate over time.

Each setup is a :class:`LabRun`: the library's own ``img2img train --task gan --net mlp``,
a :class:`~img2img.train.Trainer` of a :class:`~img2img.tasks.gan.GANConfig`, stepped one
iteration at a time (:meth:`~img2img.train.Trainer.iteration`) over the Trainer's own
batches, so N iterations of the lab are N iterations of the command line with the same
options and seed, weight for weight. A single D step or G step is the GAN recipe's own
half-iteration (``discriminator_step`` / ``generator_step``), outside the iteration count.
Each run keeps its own random-number state, swapped in while it steps (under one lock: the
state is the process's), so two setups, or two visitors, never draw from each other's
stream. :meth:`LabRun.export` writes a run directory that ``img2img train --resume``
continues and ``img2img sample`` draws from.

Bounded for a public link: one session per visitor's page holds at most two runs (a new
setup replaces them), each capped at :data:`MAX_STEPS` iterations; a custom target holds at
most :data:`MAX_POINTS` points in the square of side 2 x :data:`PLANE`; every network
option has the bounds of :data:`NUMBERS`; nothing trains unless the visitor's page asks
(the tab's play timer runs in the browser), so closing the page stops the training; and
:class:`LabSessions` removes a session's files once it has been idle for
:data:`IDLE_SECONDS`, keeping at most :data:`MAX_SESSIONS`.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from img2img.checkpoint import capture_rng_state, restore_rng_state
from img2img.config import merge
from img2img.data.toy import MIXTURES, TOY_PREFIX, get_mixture, parse_points, write_points
from img2img.data.transforms import make_generator
from img2img.demo.backend import MAX_SEED, brief, one_of, refuse, whole_number
from img2img.losses import objective_choices
from img2img.optim import OPTIMIZERS
from img2img.tasks.gan import GANConfig
from img2img.tasks.lab import generator_pull, latent_grid
from img2img.train import Trainer
from img2img.watch import TrainingDiverged

LAB = "lab"
MIXTURE_TARGETS = tuple(TOY_PREFIX + name for name in MIXTURES)
DRAWN, UPLOADED = "drawn points", "uploaded CSV"
TARGETS = (*MIXTURE_TARGETS, DRAWN, UPLOADED)
# Iterations per setup in one session; past it, export the run and continue at home.
MAX_STEPS = 5000
MAX_POINTS = 1000  # points of a drawn or uploaded target
MAX_UPLOAD_BYTES = 2**20
PLANE = 6.0  # custom points lie in [-PLANE, PLANE]^2 (the mixtures lie within +-4.2)
# Play: the page asks every TICK_SECONDS; each request trains for about BUDGET_SECONDS.
TICK_SECONDS = 0.25
BUDGET_SECONDS = 0.15
MAX_PER_TICK = 100
HEAT_SIDE, GRID_SIDE, SHOWN = 40, 11, 300  # heat-map cells, latent grid, points drawn
HISTORY = 400  # points kept per curve (halved when full)
# Sessions: one per visitor's page, removed after this long without a request; at most
# MAX_SESSIONS at once (the least recently used goes first).
IDLE_SECONDS = 15 * 60
MAX_SESSIONS = 32

# What a visitor sets per setup: GANConfig options with their bounds or choices.
NUMBERS: dict[str, tuple[float, float, type]] = {
    "d_steps": (1, 10, int),
    "unroll": (0, 10, int),
    "lr": (1e-5, 1.0, float),
    "d_lr": (0.0, 1.0, float),
    "gp_weight": (0.0, 100.0, float),
    "r1_gamma": (0.0, 100.0, float),
    "hidden": (4, 256, int),
    "mlp_layers": (1, 6, int),
    "z_dim": (1, 64, int),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "objective": objective_choices(energy=True),
    "optimizer": OPTIMIZERS,
}
FLAGS = ("spectral_norm",)
SETUP_OPTIONS = ("objective", "optimizer", *NUMBERS, *FLAGS)

# The lab's networks are tiny: one CPU thread runs them fastest (more threads mostly wait on
# each other, the more so on a busy machine).
LAB_THREADS = 1
_STEPPING = threading.Lock()  # the process's RNG state and thread count are set per run


@contextmanager
def _exclusive(state: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    """Run a block alone, on :data:`LAB_THREADS` threads, with the process's random-number
    state set to ``state`` (left as it is when None); the yielded dict's ``"state"`` is then
    the state the block left, and the process's own state and thread count are restored."""
    with _STEPPING:
        threads = torch.get_num_threads()
        outside = capture_rng_state()
        torch.set_num_threads(LAB_THREADS)
        if state is not None:
            restore_rng_state(state)
        box: dict[str, Any] = {}
        try:
            yield box
        finally:
            box["state"] = capture_rng_state()
            restore_rng_state(outside)
            torch.set_num_threads(threads)


def help_text(name: str) -> str:
    """The help text of a GANConfig option: the lab's labels say what the CLI says."""
    return GANConfig.__dataclass_fields__[name].metadata["help"]


def default_setup(target: str = MIXTURE_TARGETS[0], objective: str = "nonsaturating") -> dict:
    """The setup options as ``img2img train --task gan --net mlp --data TARGET --objective
    OBJECTIVE`` resolves them (the lab's and the objective's presets), for the controls."""
    data = target if target in MIXTURE_TARGETS else "points.csv"  # any CSV: the same presets
    config = merge(GANConfig, {"data": data, "net": "mlp", "objective": objective})
    return {name: getattr(config, name) for name in SETUP_OPTIONS}


def check_setup(values: Any, where: str = "setup") -> dict[str, Any]:
    """A visitor's setup (a dict of :data:`SETUP_OPTIONS`; missing ones keep the
    objective's defaults) checked against the lab's bounds, or a refusal naming the
    option."""
    if not isinstance(values, dict):
        raise refuse(f"The {where} must be a JSON object of options; got {brief(values)}.")
    unknown = sorted(set(values) - set(SETUP_OPTIONS))
    if unknown:
        raise refuse(
            f"Unknown {where} option(s) {', '.join(unknown)}; the options are "
            f"{', '.join(SETUP_OPTIONS)}."
        )
    objective = one_of(values.get("objective", "nonsaturating"), CHOICES["objective"], "objective")
    setup = default_setup(objective=objective)
    for name, value in values.items():
        if name in CHOICES:
            setup[name] = one_of(value, CHOICES[name], name)
        elif name in FLAGS:
            if not isinstance(value, bool):
                raise refuse(f"{where}: {name} must be true or false; got {brief(value)}.")
            setup[name] = value
        else:
            low, high, kind = NUMBERS[name]
            if kind is int:
                setup[name] = whole_number(value, f"{where}: {name}", int(low), int(high))
                continue
            number = (
                value if isinstance(value, int | float) and not isinstance(value, bool) else None
            )
            if number is None or not math.isfinite(number) or not low <= number <= high:
                raise refuse(
                    f"{where}: {name} must be a number from {low:g} to {high:g}; "
                    f"got {brief(value)}."
                )
            setup[name] = float(number)
    return setup


def points_from_drawing(value: Any) -> Tensor:
    """The drawing pad's points (a JSON list of [x, y], or its text), checked."""
    try:
        points = json.loads(value) if isinstance(value, str) else value
        tensor = torch.tensor(points, dtype=torch.float32)
    except (ValueError, TypeError):
        raise refuse("The drawing must be a list of [x, y] points.") from None
    if tensor.ndim != 2 or tensor.shape[1] != 2:
        raise refuse("The drawing must be a list of [x, y] points.")
    return check_points(tensor, "The drawing")


def points_from_upload(path: str | Path | None) -> Tensor:
    """The points of an uploaded CSV file (``x,y`` rows), checked."""
    if not path:
        raise refuse("Upload a CSV file of x,y points first.")
    path = Path(path)
    if path.stat().st_size > MAX_UPLOAD_BYTES:
        raise refuse(
            f"{path.name} is over {MAX_UPLOAD_BYTES // 1024} KB; the lab takes at most "
            f"{MAX_POINTS} points."
        )
    try:
        points = parse_points(path.read_text(encoding="utf-8", errors="replace"), path.name)
    except ValueError as err:
        raise refuse(f"Cannot use {err}") from None
    return check_points(points, path.name)


def check_points(points: Tensor, what: str) -> Tensor:
    if len(points) < 1:
        raise refuse(f"{what} has no points: draw or upload some first.")
    if len(points) > MAX_POINTS:
        raise refuse(f"{what} has {len(points)} points; the lab takes at most {MAX_POINTS}.")
    if not torch.isfinite(points).all() or points.abs().max() > PLANE:
        raise refuse(f"{what}: every coordinate must be a number from {-PLANE:g} to {PLANE:g}.")
    return points


def _rounded(tensor: Tensor, digits: int = 3) -> list:
    return torch.round(tensor.float(), decimals=digits).tolist()


class History:
    """Curves over iterations, at most :data:`HISTORY` points each (every other point is
    dropped when full, so the whole run stays in view)."""

    KEYS = ("step", "d_loss", "g_loss", "modes", "js")

    def __init__(self) -> None:
        self.curves: dict[str, list[float | None]] = {key: [] for key in self.KEYS}

    def add(self, record: dict[str, Any]) -> None:
        for key in self.KEYS:
            value = record.get(key)
            self.curves[key].append(None if value is None else round(float(value), 4))
        if len(self.curves["step"]) > HISTORY:
            self.curves = {key: values[::2] for key, values in self.curves.items()}


class LabRun:
    """One setup on a target: the CLI's Trainer for ``config`` (``--task gan --net mlp``),
    stepped by the lab, with its own random-number state."""

    def __init__(self, name: str, config: GANConfig) -> None:
        self.name = name
        with _exclusive(None) as rng:  # the Trainer seeds the weights itself
            self.trainer = Trainer(config)
        self.rng = rng["state"]
        self.batches = self.trainer.batches()
        self.g_updates = 0
        self.history = History()
        self.error = ""
        self._record()

    @property
    def task(self) -> Any:
        return self.trainer.task

    @property
    def done(self) -> bool:
        return bool(self.error) or self.trainer.step >= self.trainer.end_step

    def advance(self, what: str = "iteration", count: int = 1, seconds: float | None = None) -> int:
        """``count`` steps (or as many as fit in ``seconds``) of ``what``: "iteration" (the
        Trainer's: a D update and, on the generator's turn, a G update), "discriminator" or
        "generator" (one update of that network alone). Returns the steps taken."""
        step = {
            "iteration": self.trainer.iteration,
            "discriminator": self.task.discriminator_step,
            "generator": self.task.generator_step,
        }[what]
        taken = 0
        start = time.perf_counter()
        with _exclusive(self.rng) as rng:
            try:
                while taken < count and not self.done:
                    logs = step(next(self.batches))
                    if what != "iteration":
                        self.trainer.log.add(logs)
                    self.g_updates += int("g_loss" in logs)
                    taken += 1
                    if seconds is not None and time.perf_counter() - start > seconds:
                        break
            except TrainingDiverged:
                self.error = (
                    f"training diverged at iteration {self.trainer.step + 1} (a NaN or huge "
                    "loss): lower the learning rates or choose a regularised objective, then "
                    "reset"
                )
        self.rng = rng["state"]
        if taken:
            self._record()
        return taken

    def _record(self) -> None:
        """One point of the curves: the losses since the last point and the monitor's
        metrics (modes covered, JS divergence), also appended to the run's losses.jsonl."""
        with _exclusive(None):
            metrics, self.warnings = self.task.monitor()
        record = self.trainer.log.flush(step=self.trainer.step, **metrics)
        self.history.add(record)
        self.metrics = metrics

    def views(self, bounds: tuple[float, float, float, float]) -> dict[str, Any]:
        """What the tab draws for this run (see :meth:`LabSession.views`): its counts, the
        generated points (fixed latents) with their arrows, D's verdict on a grid over
        ``bounds``, the generator's map of a latent grid and the curves."""
        task, adversary = self.task, self.task.adversary
        with _exclusive(None):  # nothing here may move the run's stream
            fake = task.fixed_samples()[:SHOWN].float().cpu()
            arrows = None
            if adversary.unroll_ready:  # an unrolled loss needs D's last batch
                arrows = generator_pull(adversary, fake.to(task.device)).cpu() * len(fake)
            xs = torch.linspace(bounds[0], bounds[1], HEAT_SIDE)
            ys = torch.linspace(bounds[2], bounds[3], HEAT_SIDE)
            grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
            cells = torch.stack([grid_x.flatten(), grid_y.flatten()], 1).to(task.device)
            heat = realness(adversary, adversary.scores(cells).cpu())
            manifold = latent_grid(task.generator, GRID_SIDE)
        return {
            "name": self.name,
            "title": describe(self.trainer.config),
            "step": self.trainer.step,
            "d_updates": adversary.updates,
            "g_updates": self.g_updates,
            "modes": self.metrics.get("modes"),
            "total_modes": len(task.mixture.modes),
            "fake": _rounded(fake),
            "arrows": None if arrows is None else _rounded(arrows, 4),
            "heat": {
                "side": HEAT_SIDE,
                "values": _rounded(heat),
                "probability": adversary.objective.probabilities,
            },
            "manifold": {"side": GRID_SIDE, "points": _rounded(manifold)},
            "history": self.history.curves,
        }

    def export(self, folder: Path) -> Path:
        """A run directory at this iteration (see :meth:`Trainer.export`) that trains on to
        its last epoch (the lab's cap is the lab's, not the run's); a custom target's points
        go beside it as ``target.csv``, which the saved config names."""
        data = self.trainer.config.data
        changes: dict[str, Any] = {"max_steps": 0}
        if not data.startswith(TOY_PREFIX):
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(data, folder / "target.csv")
            changes["data"] = "target.csv"
        with _exclusive(self.rng):  # the saved RNG state is the run's
            self.trainer.export(folder, **changes)
        return folder


def realness(adversary: Any, scores: Tensor) -> Tensor:
    """D's raw outputs as "how real": probabilities for cross-entropy objectives, minus the
    energy for energy objectives (low energy = real), the score itself otherwise."""
    if adversary.objective.probabilities:
        return scores.sigmoid()
    return -scores if adversary.objective.energy else scores


def describe(config: GANConfig) -> str:
    """A setup in a few words: objective, k, K and what differs from nothing."""
    parts = [config.objective, f"k={config.d_steps}", f"K={config.unroll}", config.optimizer]
    parts.append(f"lr {config.lr:g}" + (f"/{config.d_lr:g}" if config.d_lr else ""))
    parts += [f"gp {config.gp_weight:g}"] * bool(config.gp_weight)
    parts += [f"R1 {config.r1_gamma:g}"] * bool(config.r1_gamma)
    parts += ["spectral norm"] * config.spectral_norm
    parts.append(f"{config.mlp_layers}x{config.hidden}, z {config.z_dim}")
    return ", ".join(parts)


class LabSession:
    """A visitor's lab: the target, the seed and one or two :class:`LabRun`, in a folder of
    its own under ``root`` (removed by :meth:`close`)."""

    def __init__(self, root: str | Path) -> None:
        Path(root).mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(dir=root, prefix="lab-"))
        self.runs: list[LabRun] = []
        self.target = MIXTURE_TARGETS[0]
        self.data = self.target
        self.resets = 0

    def reset(
        self,
        target: str,
        setups: list[dict[str, Any]],
        seed: Any = 0,
        points: Tensor | None = None,
    ) -> None:
        """Start afresh: ``setups`` (one or two, see :func:`check_setup`) on ``target`` (a
        mixture, or :data:`DRAWN` / :data:`UPLOADED` with ``points``) with ``seed``."""
        target = one_of(target, TARGETS, "target")
        seed = whole_number(seed, "The seed", 0, MAX_SEED)
        if not 1 <= len(setups) <= 2:
            raise refuse("The lab compares at most two setups.")
        checked = [check_setup(s, f"setup {name}") for s, name in zip(setups, "AB", strict=False)]
        self.close_runs()
        self.resets += 1
        data = target
        if target not in MIXTURE_TARGETS:
            if points is None:
                raise refuse("Draw some points or upload a CSV file for this target first.")
            data = str(self.folder / f"target-{self.resets}.csv")
            write_points(data, points)
        self.target, self.data = target, data
        runs = []
        for name, setup in zip("AB", checked, strict=False):
            values = {**setup, "data": data, "net": "mlp", "seed": seed, "device": "cpu"}
            out = self.folder / f"run-{self.resets}-{name}"
            try:
                config = merge(GANConfig, values, {"out": str(out), "max_steps": MAX_STEPS})
                runs.append(LabRun(name, config))
            except ValueError as err:
                raise refuse(f"Setup {name}: {err}") from None
        self.runs = runs

    def step(self, what: str, count: int = 1) -> None:
        """``count`` steps of ``what`` (see :meth:`LabRun.advance`) on every run."""
        what = one_of(what, ("iteration", "discriminator", "generator"), "step")
        self._require_runs()
        if what == "generator" and not all(r.task.adversary.unroll_ready for r in self.runs):
            raise refuse(
                "Take a D step or an iteration first: the unrolled discriminator trains on "
                "the batch of its last update."
            )
        for run in self.runs:
            run.advance(what, count)

    def play(self, seconds: float = BUDGET_SECONDS) -> bool:
        """Iterations on every run for about ``seconds`` in all; False once every run is
        done (capped or failed)."""
        self._require_runs()
        active = [run for run in self.runs if not run.done]
        for run in active:
            run.advance("iteration", MAX_PER_TICK, seconds / len(active))
        return any(not run.done for run in self.runs)

    def bounds(self) -> tuple[float, float, float, float]:
        """The square of the plane the views show: the target's modes with a margin."""
        modes = get_mixture(self.data).modes
        center = (modes.max(0).values + modes.min(0).values) / 2
        half = float((modes.max(0).values - modes.min(0).values).max()) / 2 + 1.0
        return (
            float(center[0]) - half, float(center[0]) + half,
            float(center[1]) - half, float(center[1]) + half,
        )  # fmt: skip

    def views(self) -> dict[str, Any]:
        """Everything the tab draws: the plane's bounds, real points (a fixed draw of the
        target) and each run's views."""
        if not self.runs:
            return {"runs": []}
        real = get_mixture(self.data).sample(SHOWN, make_generator(0, 3))[0]
        bounds = self.bounds()
        return {
            "bounds": list(bounds),
            "real": _rounded(real),
            "runs": [run.views(bounds) for run in self.runs],
        }

    def status(self) -> str:
        """One line per run: its counts, modes covered and JS divergence, and problems."""
        if not self.runs:
            return "Press Play or Reset to start."
        lines = []
        for run in self.runs:
            line = (
                f"**{run.name}** ({describe(run.trainer.config)}): iteration "
                f"{run.trainer.step}, D updates {run.task.adversary.updates}, G updates "
                f"{run.g_updates}; modes covered {run.metrics.get('modes', 0):.0f}/"
                f"{len(run.task.mixture.modes)}, JS {run.metrics.get('js', 0):.3f}"
            )
            if run.error:
                line += f". Stopped: {run.error}"
            elif run.done:
                line += (
                    f". Reached the lab's limit of {run.trainer.end_step} iterations: export "
                    "it to go on"
                )
            if run.warnings:
                line += ". " + "; ".join(run.warnings.values())
            lines.append(line)
        return "\n\n".join(lines)

    def export(self, folder: Path) -> tuple[Path, str]:
        """A zip of every run's directory (``gan-lab-A/``, ``gan-lab-B/``) in ``folder``,
        and how to continue them."""
        self._require_runs()
        folder.mkdir(parents=True, exist_ok=True)
        archive = folder / "gan-lab.zip"
        commands = []
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for run in self.runs:
                name = f"gan-lab-{run.name}"
                run.export(folder / name)
                for file in sorted((folder / name).rglob("*")):
                    zipped.write(file, file.relative_to(folder))
                data = (
                    ""
                    if run.trainer.config.data.startswith(TOY_PREFIX)
                    else f" --data {name}/target.csv"
                )
                commands.append(
                    f"`img2img train --resume {name}{data}` continues {run.name} from "
                    f"iteration {run.trainer.step} to its last epoch (`--epochs` for more); "
                    f"`img2img sample --model {name}` draws from it"
                )
        return archive, "Exported " + ". ".join(commands) + "."

    def _require_runs(self) -> None:
        if not self.runs:
            raise refuse("Reset the lab first (choose a target and a setup).")

    def close_runs(self) -> None:
        for run in self.runs:
            shutil.rmtree(run.trainer.out, ignore_errors=True)
        self.runs = []

    def close(self) -> None:
        """Remove the session's files (the visitor has left)."""
        self.runs = []
        shutil.rmtree(self.folder, ignore_errors=True)


class LabSessions:
    """The visitors' sessions under ``root``, by key (the page's Gradio session). A session
    nobody has used for ``idle`` seconds is closed at the next request, and beyond
    ``limit`` sessions the least recently used one is, so a public demo keeps a bounded
    number on disk; the rest go with the demo's output folder at exit."""

    def __init__(self, root: str | Path, idle: float = IDLE_SECONDS, limit: int = MAX_SESSIONS):
        self.root = Path(root)
        self.idle, self.limit = idle, limit
        self._sessions: dict[str, tuple[LabSession, float]] = {}
        self._lock = threading.Lock()

    def __call__(self, key: str) -> LabSession:
        """The session of ``key``, a new one if it has none (or had one that was closed)."""
        with self._lock:
            now = time.monotonic()
            for other, (_, used) in list(self._sessions.items()):
                if other != key and now - used > self.idle:
                    self._close(other)
            if key not in self._sessions:
                while len(self._sessions) >= self.limit:
                    oldest = min(self._sessions, key=lambda k: self._sessions[k][1])
                    self._close(oldest)
                self._sessions[key] = (LabSession(self.root), now)
            session = self._sessions[key][0]
            self._sessions[key] = (session, now)
            return session

    def __len__(self) -> int:
        return len(self._sessions)

    def _close(self, key: str) -> None:
        self._sessions.pop(key)[0].close()
