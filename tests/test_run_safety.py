"""A second run never silently writes over a first one, and model files are shareable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import TINY_PIX2PIX, cli_flags, tiny_pix2pix

from img2img.checkpoint import RunDirectoryNotEmpty, atomic_write
from img2img.cli import main
from img2img.train import Trainer


def test_a_new_run_into_a_used_directory_is_refused(paired_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(tiny_pix2pix(paired_dataset, run, max_steps=1, log_every=1)).fit()
    log = (run / "losses.jsonl").read_text()
    weights = (run / "generator.safetensors").read_bytes()
    with pytest.raises(RunDirectoryNotEmpty, match=f"--resume {run}.*--overwrite"):
        Trainer(tiny_pix2pix(paired_dataset, run, max_steps=1, seed=5))
    assert (run / "losses.jsonl").read_text() == log
    assert (run / "generator.safetensors").read_bytes() == weights


def test_overwrite_moves_the_old_run_aside(paired_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(tiny_pix2pix(paired_dataset, run, max_steps=1, log_every=1)).fit()
    weights = (run / "generator.safetensors").read_bytes()
    Trainer(tiny_pix2pix(paired_dataset, run, max_steps=1, seed=5), overwrite=True).fit()
    (aside,) = tmp_path.glob("run.old-*")
    assert (aside / "generator.safetensors").read_bytes() == weights
    assert (run / "generator.safetensors").read_bytes() != weights
    assert len((run / "losses.jsonl").read_text().splitlines()) == 1  # no second "step 1"


def test_the_cli_refuses_with_both_ways_out(
    paired_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    flags = ["train", "--data", str(paired_dataset), "--out", str(run), "--max-steps", "1"]
    flags += cli_flags({**TINY_PIX2PIX, "batch_size": 2})
    main(flags)
    with pytest.raises(SystemExit) as exit_code:
        main(flags)
    assert exit_code.value.code == 2
    message = capsys.readouterr().err
    assert "--resume" in message and "--overwrite" in message and str(run) in message
    main([*flags, "--overwrite"])
    assert len(list(tmp_path.glob("run.old-*"))) == 1


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_files_get_the_users_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        path = tmp_path / "model.bin"
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(b"x"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_a_trained_model_is_readable_by_others(paired_dataset: Path, tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        run = Trainer(tiny_pix2pix(paired_dataset, tmp_path / "run", max_steps=1)).fit()
    finally:
        os.umask(previous)
    for name in ("generator.safetensors", "config.json", "trainer_state.pt"):
        assert stat.S_IMODE((run / name).stat().st_mode) == 0o644, name


def _fails_while_starting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The task's constructor fails, as a bad option found there would make it."""

    def refuse(*args, **kwargs):
        raise ValueError("refused while starting")

    monkeypatch.setattr("img2img.tasks.pix2pix.Pix2Pix.__init__", refuse)


def test_a_run_that_fails_while_starting_leaves_no_directory(
    paired_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fails_while_starting(monkeypatch)
    with pytest.raises(ValueError, match="refused while starting"):
        Trainer(tiny_pix2pix(paired_dataset, tmp_path / "new" / "run", max_steps=1))
    assert not (tmp_path / "new" / "run").exists()
    (tmp_path / "empty").mkdir()  # a directory the user made stays, empty
    with pytest.raises(ValueError, match="refused while starting"):
        Trainer(tiny_pix2pix(paired_dataset, tmp_path / "empty", max_steps=1))
    assert list((tmp_path / "empty").iterdir()) == []


def test_a_failed_overwrite_puts_the_old_run_back(
    paired_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    Trainer(tiny_pix2pix(paired_dataset, run, max_steps=1, log_every=1)).fit()
    files = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    _fails_while_starting(monkeypatch)
    with pytest.raises(ValueError, match="refused while starting"):
        Trainer(tiny_pix2pix(paired_dataset, run, max_steps=1, seed=5), overwrite=True)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == files
    assert not list(tmp_path.glob("run.old-*"))


def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing(
    paired_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = Trainer(tiny_pix2pix(paired_dataset, tmp_path / "run", max_steps=4, save_every=2))
    calls = []

    def step(batch):
        calls.append(1)
        raise RuntimeError("the first step broke")

    monkeypatch.setattr(trainer.task, "step", step)
    with pytest.raises(RuntimeError, match="the first step broke"):
        trainer.fit()
    assert calls and not (tmp_path / "run").exists()


def test_a_run_that_fails_after_a_checkpoint_or_on_resume_keeps_its_files(
    paired_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    trainer = Trainer(tiny_pix2pix(paired_dataset, run, max_steps=4, save_every=1))
    step = trainer.task.step
    monkeypatch.setattr(
        trainer.task, "step", lambda batch: step(batch) if trainer.step < 2 else 1 / 0
    )
    with pytest.raises(ZeroDivisionError):
        trainer.fit()
    assert (run / "generator.safetensors").is_file()
    files = sorted(p.name for p in run.iterdir())
    _fails_while_starting(monkeypatch)
    with pytest.raises(ValueError, match="refused while starting"):
        Trainer(tiny_pix2pix(paired_dataset, run, max_steps=4), resume=True)
    assert sorted(p.name for p in run.iterdir()) == files
