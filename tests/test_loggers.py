"""TensorBoard receives what losses.jsonl holds, plus learning rates, grids and warnings."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from conftest import tiny_pix2pix

from img2img.config import merge
from img2img.loggers import RunLoggers, parse_loggers
from img2img.tasks.pix2pix import Pix2PixConfig
from img2img.train import Trainer


def events(run: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def test_tensorboard_holds_the_logged_scalars_and_grids(paired_dataset: Path, tmp_path: Path):
    config = tiny_pix2pix(
        paired_dataset, tmp_path / "run", max_steps=4, log_every=2, sample_every=2,
        logger="tensorboard",
    )  # fmt: skip
    run = Trainer(config).fit()
    records = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    board = events(run)
    for name in ("g_l1", "g_gan", "d_loss", "lr/generator", "lr/discriminator"):
        assert name in board.Tags()["scalars"], name
    logged = board.Scalars("g_l1")
    assert [event.step for event in logged] == [r["step"] for r in records] == [2, 4]
    assert [event.value for event in logged] == pytest.approx([r["g_l1"] for r in records])
    assert [event.step for event in board.Scalars("lr/generator")] == [2, 4]
    grids = board.Images("samples")
    assert [grid.step for grid in grids] == [2, 4, 4]  # every 2 steps, and at the end
    assert grids[0].width > 0 and grids[0].height > 0


def test_warnings_and_validation_reach_tensorboard(tmp_path: Path) -> None:
    loggers = RunLoggers(["tensorboard"], tmp_path, {"task": "x"})
    loggers.scalars({"val/psnr": 21.5, "flag": True, "name": "x"}, step=3)
    loggers.text("warnings/mode_collapse", "samples look alike", step=3)
    loggers.close()
    board = events(tmp_path)
    assert [(e.step, e.value) for e in board.Scalars("val/psnr")] == [(3, 21.5)]
    assert board.Tags()["scalars"] == ["val/psnr"]  # no bools or strings
    assert "warnings/mode_collapse/text_summary" in board.Tags()["tensors"]


def test_resume_purges_the_repeated_steps(paired_dataset: Path, tmp_path: Path) -> None:
    options = {"log_every": 1, "sample_every": 100, "logger": "tensorboard"}
    run = tmp_path / "run"
    Trainer(tiny_pix2pix(paired_dataset, run, max_steps=2, save_every=1, **options)).fit()
    Trainer(tiny_pix2pix(paired_dataset, run, max_steps=3, **options), resume=True).fit()
    assert [event.step for event in events(run).Scalars("g_l1")] == [1, 2, 3]


def test_logger_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_loggers("jsonl,tensorboard,tensorboard") == ["tensorboard"]
    with pytest.raises(ValueError, match="--logger mlflow: choose from jsonl, tensorboard, wandb"):
        parse_loggers("tensorboard,mlflow")
    with pytest.raises(ValueError, match="logger='tb' is not valid"):
        merge(Pix2PixConfig, {"logger": "tb"})
    assert merge(Pix2PixConfig, {"logger": ["jsonl", "wandb"]}).logger == "jsonl,wandb"


def test_the_flag_repeats(paired_dataset: Path, tmp_path: Path) -> None:
    import argparse

    from img2img.config import add_config_arguments

    parser = argparse.ArgumentParser()
    add_config_arguments(parser, Pix2PixConfig)
    args = parser.parse_args(["--logger", "tensorboard", "--logger", "wandb"])
    assert args.logger == "tensorboard,wandb"


def test_wandb_gets_the_same_records(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """W&B is optional and not installed here: a stand-in module records the calls."""
    calls: list[tuple] = []

    class FakeRun:
        id = "abc123"

        def log(self, values, step):
            calls.append(("log", values, step))

        def finish(self):
            calls.append(("finish",))

    def init(**options):
        calls.append(("init", options))
        return FakeRun()

    fake = types.SimpleNamespace(init=init, Image=lambda pixels: pixels.shape, Html=str)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    loggers = RunLoggers(["wandb"], tmp_path, {"task": "pix2pix"})
    loggers.scalars({"g_l1": 0.5}, step=2)
    loggers.close()
    assert calls[0][1]["config"] == {"task": "pix2pix"} and calls[0][1]["name"] == tmp_path.name
    assert calls[1:] == [("log", {"g_l1": 0.5}, 2), ("finish",)]
    assert (tmp_path / "wandb-id.txt").read_text() == "abc123"
    resumed = RunLoggers(["wandb"], tmp_path, {}, start_step=2)
    assert calls[-1][1]["id"] == "abc123" and calls[-1][1]["resume"] == "allow"
    resumed.close()


def test_missing_wandb_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ImportError, match="pip install wandb"):
        RunLoggers(["wandb"], tmp_path, {})
