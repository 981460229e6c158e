"""The Trainer: the one training loop every task runs in.

A task supplies the maths of one iteration (``step``); the Trainer supplies everything
around it: device, deterministic and resumable data order, the LR schedule tick, the
progress bar, loss logs, sample grids, checkpoints and a clean stop on Ctrl-C.

Resumption is exact: the data order and augmentation are pure functions of (seed, epoch,
index), and the checkpoint holds every RNG state, so ``--resume`` continues with the
very batches and random draws the uninterrupted run would have used.

Under torchrun the same loop runs in every process (see :mod:`img2img.distributed`): each
takes its share of every step's samples, DDP averages the gradients, logged losses are
averaged over the processes, and only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from img2img.checkpoint import (
    FORMAT_VERSION,
    RunDirectoryClaim,
    RunDirectoryNotEmpty,
    capture_rng_state,
    check_format,
    claim_run_directory,
    has_training_state,
    load_training_state,
    nonfinite_tensors,
    remove_stale_temp_files,
    restore_rng_state,
    save_model,
    save_training_state,
)
from img2img.config import TrainConfig, format_config, typed_options, upgrade_saved
from img2img.data import ResumableSampler
from img2img.devices import resolve_device
from img2img.distributed import Replicas, World
from img2img.ema import EMA
from img2img.loggers import RunLoggers, parse_loggers
from img2img.precision import autocast, setup_task_precision
from img2img.reporting import LOSS_LOG, LOSS_PLOT, LossLog, plot_losses, save_grid
from img2img.speedups import compile_networks, use_channels_last
from img2img.tasks import Task, get_task, task_modules
from img2img.validation import Validator, save_snapshot, validation_protocol
from img2img.watch import BufferGuard, TrainingDiverged


def check_writable(directory: Path) -> None:
    """Fail at start, not at the first checkpoint an hour later, if ``directory`` is unusable."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OSError(
            f"{directory}: cannot write the run directory ({err.strerror}); choose another --out"
        ) from None


def ignore_sigint(worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C to the main process: a terminal sends SIGINT to the
    whole process group, and a worker that died of it would crash the graceful stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class StopRequest:
    """First Ctrl-C asks the loop to stop after the current iteration (so the checkpoint
    it writes is consistent); a second Ctrl-C, at least a second later, aborts at once.
    (Repeats within a second are one request: ``timeout -s INT`` and some shells deliver
    the signal twice.)"""

    def __init__(self) -> None:
        self.requested_at: float | None = None
        self._previous = None

    @property
    def requested(self) -> bool:
        return self.requested_at is not None

    def __enter__(self) -> StopRequest:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._previous = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        now = time.monotonic()
        if self.requested_at is not None:
            if now - self.requested_at > 1.0:
                raise KeyboardInterrupt
            return
        self.requested_at = now
        tqdm.write("Stopping after this iteration and saving a checkpoint (Ctrl-C again to abort).")

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def data_loader(
    dataset: Dataset, config: TrainConfig, device: torch.device, world: World | None = None
) -> tuple[DataLoader, ResumableSampler]:
    """The training DataLoader and its sampler: ``sampler.set_epoch(epoch, start_index)``
    before iterating the loader for an epoch.

    ``--num-workers`` worker processes persist for the whole run: a dataset whose items
    depend on the epoch (it has ``set_epoch``) receives ``(epoch, index)`` keys from the
    sampler, so workers need no per-epoch message and the order and augmentation stay a
    pure function of (seed, epoch, index), exactly resumable. Batches are pinned on CUDA.
    Under torchrun (``world``) each process takes its share of every epoch (see
    :class:`ResumableSampler`).
    """
    sampler = ResumableSampler(
        len(dataset),
        seed=config.seed,
        with_epoch=hasattr(dataset, "set_epoch"),
        num_replicas=world.size if world else 1,
        rank=world.rank if world else 0,
    )
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        # A private generator: a loader iterator would otherwise draw its worker seed from
        # the global RNG, and a resumed run creates one at a different step.
        generator=torch.Generator().manual_seed(config.seed),
        worker_init_fn=ignore_sigint,
        num_workers=config.num_workers,
        persistent_workers=config.num_workers > 0,
        drop_last=True,
        pin_memory=device.type == "cuda",
    )
    return loader, sampler


class Trainer:
    """Runs ``config.task``'s recipe on ``config.data`` and writes everything to ``config.out``.

    Args:
        config: the task's resolved config dataclass.
        resume: continue from ``config.out/trainer_state.pt`` when it exists.
        overwrite: a new run into a non-empty ``config.out`` moves the old run aside
            (``OUT.old-<time>``); without it (or ``resume``) such a directory is refused
            with :class:`~img2img.checkpoint.RunDirectoryNotEmpty`.
    """

    def __init__(self, config: TrainConfig, resume: bool = False, overwrite: bool = False) -> None:
        self.config = config
        self.out = Path(config.out)
        self.world = World.from_environment(resolve_device(config.device))
        self.device = self.world.device
        if config.val_every:  # refused before anything is written
            validation_protocol(config)
        self.claim = self._claim_run_directory(resume, overwrite)
        self.saved = False  # a checkpoint of this run is on disk
        try:
            self._set_up(resume)
        except BaseException:
            self._give_back_directory()
            raise

    def _set_up(self, resume: bool) -> None:
        config = self.config
        if self.world.is_main:
            check_writable(self.out)
            remove_stale_temp_files(self.out)
        task_cls = get_task(config.task)

        self.dataset: Dataset = task_cls.dataset(config, "train")
        # One step takes batch_size samples in each process.
        self.samples_per_step = config.batch_size * self.world.size
        self.steps_per_epoch = len(self.dataset) // self.samples_per_step
        if self.steps_per_epoch == 0:
            processes = f" x {self.world.size} processes" if self.world.distributed else ""
            raise ValueError(
                f"{config.data}: {len(self.dataset)} training images is fewer than "
                f"batch_size={config.batch_size}{processes}; lower --batch-size"
            )
        self.total_steps = config.epochs * self.steps_per_epoch
        self.end_step = min(self.total_steps, config.max_steps or self.total_steps)

        torch.manual_seed(config.seed)  # identical initial weights for identical configs
        self.task: Task = task_cls(
            config,
            total_steps=self.total_steps,
            decay_steps=config.decay_epochs * self.steps_per_epoch,
            device=self.device,
        )
        self.world.seed(config.seed)  # per-process noise; the weights above are identical
        self.replicas = Replicas(self.task, self.world, sync_bn=config.sync_bn)
        self.dtype = setup_task_precision(self.task, config.precision, self.device)
        for name, stepper in self.task.steppers.items():
            stepper.name, stepper.skip_nonfinite = name, config.skip_nonfinite
        self.buffers = BufferGuard(task_modules(self.task)) if config.skip_nonfinite else None
        if config.channels_last:
            use_channels_last(self.task)
        self._set_lr_schedules()
        self.ema = EMA(self.task.generator, config.ema, config.ema_rampup) if config.ema else None
        if config.compile:  # after the EMA's copy: a copy of a compiled module runs eagerly
            compile_networks(self.task)
        self.step = 0
        self.skipped_images = 0  # this process's; saved as the sum over processes
        self._data: tuple[DataLoader, ResumableSampler] | None = None  # see batches()
        self.log = LossLog(self.out / LOSS_LOG if self.world.is_main else None)
        if resume and has_training_state(self.out):
            self._load()
        self.sample_batch = self._fixed_sample_batch(task_cls)
        self.validator = self._validator()
        self.loggers = RunLoggers(
            parse_loggers(config.logger),
            self.out,
            config.to_dict(),
            start_step=self.step,
            enabled=self.world.is_main,
        )

    def _set_lr_schedules(self) -> None:
        """``--lr-schedule`` / ``--lr-floor`` for every Stepper of the task (the linear decay
        to 0 each Stepper starts with needs nothing)."""
        cfg = self.config
        if cfg.lr_schedule == "linear" and not cfg.lr_floor:
            return
        if cfg.lr_schedule == "cosine" and cfg.decay_epochs:
            raise ValueError(
                f"--lr-schedule cosine anneals over all {cfg.epochs} epochs; --decay-epochs "
                f"{cfg.decay_epochs} belongs to the linear schedule: drop one"
            )
        decay_steps = cfg.decay_epochs * self.steps_per_epoch
        for stepper in self.task.steppers.values():
            stepper.set_schedule(cfg.lr_schedule, self.total_steps, decay_steps, cfg.lr_floor)

    def _validator(self) -> Validator | None:
        """Rank 0's :class:`Validator` when ``--val-every`` asks for one, its data checked
        now rather than at the first validation."""
        if not self.config.val_every or not self.world.is_main:
            return None
        return Validator(self.config, self.out)

    def _claim_run_directory(self, resume: bool, overwrite: bool) -> RunDirectoryClaim | None:
        """Rank 0 checks (and with ``overwrite`` moves aside) ``--out``; every process
        stops if it refused, so none waits for the others. Rank 0's claim (None on the
        others) is given back if the run fails before its first checkpoint."""
        refusal: RunDirectoryNotEmpty | None = None
        claim = None
        if self.world.is_main:
            try:
                claim = claim_run_directory(self.out, resume, overwrite)
            except RunDirectoryNotEmpty as err:
                refusal = err
            else:
                if claim.aside is not None:
                    self._print(f"Moved the previous run in {self.out} to {claim.aside}.")
        if self.world.any(refusal is not None):
            raise refusal or RunDirectoryNotEmpty(f"{self.out}: refused by rank 0")
        return claim

    def _give_back_directory(self) -> None:
        """A new run that failed before its first checkpoint leaves ``--out`` as it found
        it (:meth:`RunDirectoryClaim.undo`): no half-written run stands in the way of the
        next one, and a run moved aside by ``--overwrite`` is back."""
        if self.claim is None or self.saved:
            return
        loggers = getattr(self, "loggers", None)
        if loggers is not None:
            loggers.close()  # TensorBoard/W&B let go of their files first
        self.claim.undo()
        if self.claim.aside is not None:
            self._print(f"Moved the previous run back from {self.claim.aside} to {self.out}.")

    def _load(self) -> None:
        state = load_training_state(self.out)
        check_format(state, self.out)
        # Under today's option names and types, with the options added since, so a renamed
        # or added option (or a number a YAML file gave as text) compares with its old value.
        saved = typed_options(type(self.config), upgrade_saved(type(self.config), state["config"]))
        current = self.config.to_dict()
        changed = {k: (saved[k], v) for k, v in current.items() if k in saved and saved[k] != v}
        described = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
        if "task" in changed:
            raise ValueError(
                f"{self.out} holds a {saved['task']!r} run; "
                f"it cannot resume as {self.config.task!r}"
            )
        try:
            self.task.load_state_dict(state["task"])
        except (RuntimeError, KeyError) as err:
            raise ValueError(
                f"{self.out}: its checkpoint does not fit the network these options build "
                f"({described or 'no option differs'}); resume with the run's own options or "
                f"start a new --out. Detail: {str(err).splitlines()[0]}"
            ) from None
        if changed:
            self._print(f"Resuming with changed options: {described}")
        if self.ema is not None and "ema" in state:
            self.ema.load_state_dict(state["ema"])
        self.step = int(state["step"])
        # The saved count is every process's: rank 0 carries it on, the others restart at 0.
        self.skipped_images = int(state.get("skipped_images", 0)) if self.world.is_main else 0
        self._restore_rng(state)
        self.log.truncate_after(self.step)
        self._print(f"Resumed {self.out} at iteration {self.step}.")

    def _restore_rng(self, state: dict[str, Any]) -> None:
        """This process's RNG state: its own from a data-parallel run's ``process_rng``,
        else the single one (a process the saved run did not have keeps its fresh seed)."""
        saved_size = int(state.get("world_size", 1))
        if saved_size != self.world.size:
            self._print(
                f"Resuming a run of {saved_size} process(es) with {self.world.size}: an "
                "iteration now takes a different number of samples, so the data order and "
                "random draws differ from those of an uninterrupted run."
            )
        per_process = state.get("process_rng", [state["rng"]])
        if self.world.rank < len(per_process):
            restore_rng_state(per_process[self.world.rank])

    def _print(self, message: str) -> None:
        if self.world.is_main:
            tqdm.write(message)

    def _fixed_sample_batch(self, task_cls: type[Task]) -> dict[str, Any]:
        """The same evaluation images in every grid, so grids show progress, not new inputs."""
        dataset = task_cls.dataset(self.config, "test") or task_cls.dataset(
            self.config, "train", augment=False
        )
        count = min(self.config.num_samples, len(dataset))
        items = [dataset[i] for i in range(count)]
        return torch.utils.data.default_collate(items)

    def save(self) -> None:
        """Model files first, then the training state: a state file always has its model.
        Nothing is written if any weight or optimizer value is NaN or infinite, so the
        checkpoint on disk stays the last good one. Every process must call it (each hands
        rank 0 its RNG state and skipped-image count); rank 0 writes."""
        self._write_checkpoint(self.out, self.config)
        self.saved = True

    def export(self, folder: str | Path, **changes: Any) -> Path:
        """A resumable copy of the run at this iteration in ``folder`` (the model files and
        the training state, as :meth:`save` writes them, ``config.yaml`` and the loss log
        so far), its config
        changed by ``changes`` (say, a data path that makes sense beside the copy) and its
        ``out`` set to ``folder``: ``img2img train --resume FOLDER`` continues it and
        ``img2img sample --model FOLDER`` draws from it. Single process only."""
        folder = Path(folder)
        config = dataclasses.replace(self.config, **changes, out=str(folder))
        self._write_checkpoint(folder, config)
        (folder / "config.yaml").write_text(_to_yaml(config.to_dict()))
        if (self.out / LOSS_LOG).is_file():
            shutil.copy(self.out / LOSS_LOG, folder / LOSS_LOG)
        return folder

    def _write_checkpoint(self, out: Path, config: TrainConfig) -> None:
        rng = self.world.gather(capture_rng_state())
        skipped_images = self.world.sum(self.skipped_images)
        if not self.world.is_main:
            return
        ema = None if self.ema is None else self.ema.module
        state = {
            "format": FORMAT_VERSION,
            "step": self.step,
            "config": config.to_dict(),
            "task": self.task.state_dict(),
            "rng": rng[0],
            "skipped_images": skipped_images,
        }
        if self.world.distributed:
            state.update(world_size=self.world.size, process_rng=rng)
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        bad = nonfinite_tensors({"generator": self.task.generator.state_dict(), **state})
        if bad:
            raise TrainingDiverged(
                f"{out}: not saving iteration {self.step}: NaN or infinite values in "
                f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}; the checkpoint on "
                "disk is the last good one"
            )
        save_model(out, config, self.task.generator, ema=ema)
        save_training_state(out, state, keep=self.config.keep_checkpoints)

    def write_samples(self) -> None:
        """The task's own ``write_samples(batch, path, step)`` when it has one (plots for 2-D
        data, say), else a grid of ``task.sample(batch)`` columns; then the loss plot. With
        ``--ema`` the generator holds the averaged weights meanwhile, so the grids show the
        model that is saved and served. Rank 0 only (sampling runs the task's plain modules,
        no collective calls)."""
        if not self.world.is_main:
            return
        path = self.out / "samples" / f"step_{self.step:07d}.png"
        writer = getattr(self.task, "write_samples", None)
        with self._served_weights():
            if writer is not None:
                writer(self.sample_batch, path, self.step)
            else:
                save_grid(self.task.sample(self.sample_batch), path)
        self.loggers.image_file("samples", path, self.step)
        plot_losses(self.out / LOSS_LOG, self.out / LOSS_PLOT)

    def _served_weights(self) -> contextlib.AbstractContextManager[Any]:
        """The EMA's weights in the task's generator for the duration, where there is one."""
        if self.ema is None:
            return contextlib.nullcontext()
        return self.ema.applied_to(self.task.generator)

    def validate(self) -> None:
        """Measure the model (rank 0; see :mod:`img2img.validation`), log the values and
        keep ``best/``."""
        if self.validator is None:
            return
        ema = None if self.ema is None else self.ema.module
        values, warning = self.validator(self.step, self.task.generator, ema)
        self.log.write({"step": self.step, **{f"val_{k}": v for k, v in values.items()}})
        self.loggers.scalars({f"val/{k}": v for k, v in values.items()}, self.step)
        if warning:
            self._print(f"warning (validation) at iteration {self.step}: {warning}")
            self.loggers.text("warnings/validation", warning, self.step)
        shown = ", ".join(f"{k} {v:.4g}" for k, v in values.items())
        best = "" if self.validator.best is None else f" (best {self.validator.best:.4g})"
        self._print(f"validation at iteration {self.step}: {shown}{best}")

    def snapshot(self) -> None:
        if self.world.is_main:
            ema = None if self.ema is None else self.ema.module
            keep = self.config.keep_snapshots
            save_snapshot(self.out, self.config, self.step, self.task.generator, ema, keep)

    def skipped_updates(self) -> int:
        """Updates dropped for a non-finite loss or gradient (``--skip-nonfinite``), so far."""
        return sum(stepper.skipped for stepper in self.task.steppers.values())

    def _flush_log(self, bar: tqdm, epoch: int, start: float) -> None:
        """Log the window's mean losses, plus what the task's optional ``monitor() ->
        (metrics, warnings)`` reports; warnings are printed and shown in the bar. Under
        torchrun the losses are averaged over the processes (so they are those of the whole
        batch), skipped images and updates summed, and the monitor runs on rank 0."""
        means = self.world.mean(self.log.means())
        skipped = self.world.sum(self.skipped_images)
        monitor = getattr(self.task, "monitor", None)
        metrics, warnings = monitor() if monitor and self.world.is_main else ({}, {})
        if self.config.skip_nonfinite:
            metrics = {**metrics, "skipped_updates": self.world.sum(self.skipped_updates())}
        postfix = {k: f"{v:.3g}" for k, v in {**means, **metrics}.items()}
        if warnings:
            postfix["warn"] = ",".join(warnings)
            for name, message in warnings.items():
                tqdm.write(f"warning ({name}) at iteration {self.step}: {message}")
        bar.set_postfix(postfix)
        record = self.log.flush(
            means,
            step=self.step,
            epoch=epoch,
            lr=next(iter(self.task.steppers.values())).lr,
            skipped_images=skipped,
            time=round(time.time() - start, 2),
            **metrics,
            **({"warnings": sorted(warnings)} if warnings else {}),
        )
        rates = {f"lr/{name}": stepper.lr for name, stepper in self.task.steppers.items()}
        numbers = {k: v for k, v in record.items() if k not in ("step", "epoch", "lr")}
        self.loggers.scalars({**numbers, **rates}, self.step)
        for name, message in warnings.items():
            self.loggers.text(f"warnings/{name}", message, self.step)
        self.loggers.flush()

    def fit(self) -> Path:
        """Train until ``end_step`` or Ctrl-C; returns the run directory. A new run that
        fails before its first checkpoint leaves ``--out`` as it found it."""
        try:
            return self._train()
        except BaseException:
            self._give_back_directory()
            raise
        finally:
            self.loggers.close()  # even on a crash: what was logged reaches the files

    def batches(self) -> Iterator[dict[str, Any]]:
        """The training batches from iteration ``self.step`` on, until ``end_step``: the data
        order is a function of (seed, epoch, index), so a resumed run gets the very batches
        the uninterrupted run would have. Each batch is meant for one :meth:`iteration`."""
        loader, sampler = self._loader()
        while self.step < self.end_step:
            epoch, offset = divmod(self.step, self.steps_per_epoch)
            sampler.set_epoch(epoch, offset * self.samples_per_step)
            for batch in loader:
                yield batch
                if self.step >= self.end_step:
                    return

    def _loader(self) -> tuple[DataLoader, ResumableSampler]:
        """The training loader and its sampler, made once (its workers persist)."""
        if self._data is None:
            self._data = data_loader(self.dataset, self.config, self.device, self.world)
        return self._data

    def iteration(self, batch: dict[str, Any]) -> dict[str, float]:
        """One training iteration on ``batch``: the task's ``step`` under the run's precision
        and data parallelism, then the EMA, the LR schedules' tick and the iteration count;
        returns the step's logs (also added to the loss log). Nothing is written to disk: the
        loop (:meth:`fit`) flushes logs and saves at its intervals."""
        self.skipped_images += int(batch.pop("skipped", torch.zeros(1)).sum())
        if self.buffers is not None:
            self.buffers.snapshot()
        try:
            with autocast(self.device, self.dtype), self.replicas.active():
                logs = self.task.step(batch)
        except TrainingDiverged as err:
            kept = (
                f"The last checkpoint in {self.out} (saved every "
                f"{self.config.save_every} iterations) is kept as the last good one."
                if self.saved or self.claim is None or self.claim.resume
                else f"No checkpoint was written: {self.out} is left as it was."
            )
            raise TrainingDiverged(
                f"{self.out}: training stopped at iteration {self.step + 1}: {err}. {kept}"
            ) from None
        if self.buffers is not None:  # a skipped update's NaN must not linger
            self.buffers.repair()
            logs = {k: v for k, v in logs.items() if math.isfinite(v)}
        if self.ema is not None:
            self.ema.update(self.task.generator, self.step)
        for stepper in self.task.steppers.values():
            stepper.schedule_step()
        self.step += 1
        self.log.add(logs)
        return logs

    def write_config(self) -> None:
        """``config.yaml`` in the run directory (rank 0): the resolved options, for people."""
        if self.world.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.yaml").write_text(_to_yaml(self.config.to_dict()))

    def _train(self) -> Path:
        cfg = self.config
        self.write_config()
        processes = f" x {self.world.size} processes" if self.world.distributed else ""
        self._print(
            f"img2img train --task {cfg.task}: {len(self.dataset)} images, "
            f"{self.steps_per_epoch} iterations/epoch, iterations {self.step}->{self.end_step}, "
            f"device {self.device}{processes}\n{format_config(cfg)}"
        )
        start = time.time()
        bar = tqdm(
            total=self.end_step,
            initial=self.step,
            dynamic_ncols=True,
            unit="it",
            disable=not self.world.is_main,
        )
        epoch = self.step // self.steps_per_epoch
        with StopRequest() as stop:
            for batch in self.batches():
                epoch = self.step // self.steps_per_epoch
                try:
                    self.iteration(batch)
                except TrainingDiverged:
                    bar.close()
                    raise
                bar.update(1)
                if self.step % cfg.log_every == 0:
                    self._flush_log(bar, epoch, start)
                if self.step % cfg.save_every == 0:
                    self.save()
                if self.step % cfg.sample_every == 0:
                    self.write_samples()
                if cfg.val_every and self.step % cfg.val_every == 0:
                    self.validate()
                if cfg.snapshot_every and self.step % cfg.snapshot_every == 0:
                    self.snapshot()
                if self.world.any(stop.requested):
                    break
            # Still inside StopRequest: a second Ctrl-C must not cut the final save short.
            # Save before the last partial log window: a task's monitor() may draw random
            # numbers, and the saved RNG state must be the one the next iteration would see.
            self.save()
            if self.log.pending:
                self._flush_log(bar, epoch, start)
            bar.close()
            self.write_samples()
        skipped_images = self.world.sum(self.skipped_images)
        skipped_updates = self.world.sum(self.skipped_updates())
        if skipped_images:
            self._print(f"Skipped {skipped_images} unreadable image(s) in this run so far.")
        if skipped_updates:
            self._print(f"Skipped {skipped_updates} update(s) with a NaN/inf loss.")
        self._print(f"Saved {self.out} at iteration {self.step}.")
        self.world.barrier()  # every process returns once rank 0 has written the last files
        return self.out


def _to_yaml(values: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(values, sort_keys=False)
