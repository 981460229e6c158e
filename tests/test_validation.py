"""--val-every logs the task's metric and keeps the best model; --snapshot-every keeps K."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import tiny_pix2pix

from img2img.metrics.evaluate import evaluate
from img2img.train import Trainer
from img2img.validation import deciding_value


def val_records(run: Path) -> list[dict]:
    lines = (run / "losses.jsonl").read_text().splitlines()
    return [record for record in map(json.loads, lines) if "val_psnr" in record]


def test_best_holds_the_model_of_the_best_logged_value(
    paired_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMG2IMG_CACHE", str(tmp_path / "cache"))
    config = tiny_pix2pix(
        paired_dataset, tmp_path / "run", max_steps=6, val_every=1, snapshot_every=1,
        lr=2e-3, sample_every=100,
    )  # fmt: skip
    run = Trainer(config).fit()
    # Six validations exported no graph: the ONNX cache holds no model per step.
    assert not list((tmp_path / "cache").glob("onnx/*"))
    records = val_records(run)
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert len({round(r["val_psnr"], 6) for r in records}) > 1  # the metric moves
    best = max(records, key=lambda r: r["val_psnr"])
    kept = json.loads((run / "best" / "val.json").read_text())
    assert kept["step"] == best["step"] and kept["metric"] == "psnr"
    assert kept["value"] == pytest.approx(best["val_psnr"])
    snapshot = run / "snapshots" / f"step_{best['step']:07d}" / "generator.safetensors"
    assert (run / "best" / "generator.safetensors").read_bytes() == snapshot.read_bytes()
    measured = evaluate(run / "best", paired_dataset, ["psnr"], device="cpu", progress=False,
                        engine="torch")  # fmt: skip
    assert measured.summary["metrics"]["psnr"] == pytest.approx(best["val_psnr"], abs=1e-9)


def test_best_is_not_simply_the_latest(
    paired_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured values that rise, fall and rise less: best/ is step 2's model, and a lower
    value is better for FID."""
    from img2img.metrics import evaluate as evaluation_module
    from img2img.metrics.reports import Evaluation

    values = iter([10.0, 14.0, 12.0, 13.0])
    fake = lambda *args, **kwargs: Evaluation({"metrics": {"psnr": next(values)}})  # noqa: E731
    monkeypatch.setattr(evaluation_module, "evaluate", fake)
    config = tiny_pix2pix(
        paired_dataset, tmp_path / "run", max_steps=4, val_every=1, snapshot_every=1
    )
    run = Trainer(config).fit()
    assert [r["val_psnr"] for r in val_records(run)] == [10.0, 14.0, 12.0, 13.0]
    assert json.loads((run / "best" / "val.json").read_text())["step"] == 2
    snapshot = run / "snapshots" / "step_0000002" / "generator.safetensors"
    assert (run / "best" / "generator.safetensors").read_bytes() == snapshot.read_bytes()
    assert not (run / ".val-model").exists()


def test_validation_leaves_training_unchanged(paired_dataset: Path, tmp_path: Path) -> None:
    """Validation restores every RNG: the losses are those of a run without it."""
    common = {"max_steps": 3, "log_every": 1, "sample_every": 100}
    plain = Trainer(tiny_pix2pix(paired_dataset, tmp_path / "plain", **common)).fit()
    measured = Trainer(tiny_pix2pix(paired_dataset, tmp_path / "val", val_every=1, **common))
    measured = measured.fit()

    def losses(run: Path) -> list[dict]:
        lines = (run / "losses.jsonl").read_text().splitlines()
        return [
            {k: v for k, v in r.items() if k != "time"}
            for r in map(json.loads, lines)
            if "g_l1" in r
        ]

    assert losses(plain) == losses(measured)


def test_snapshots_keep_the_newest(paired_dataset: Path, tmp_path: Path) -> None:
    config = tiny_pix2pix(
        paired_dataset, tmp_path / "run", max_steps=4, snapshot_every=1, keep_snapshots=2
    )
    run = Trainer(config).fit()
    kept = sorted(p.name for p in (run / "snapshots").iterdir())
    assert kept == ["step_0000003", "step_0000004"]
    assert (run / "snapshots" / "step_0000004" / "config.json").is_file()


def test_val_every_needs_a_test_split(paired_dataset: Path, tmp_path: Path) -> None:
    (paired_dataset / "test").rename(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="--val-every measures the test split"):
        Trainer(tiny_pix2pix(paired_dataset, tmp_path / "run", val_every=1))


def test_the_deciding_value() -> None:
    assert deciding_value({"psnr": 20.0, "ssim": 0.5}, "psnr") == 20.0
    assert deciding_value({"psnr_y": 30.0, "psnr_rgb": 28.0}, "psnr_y") == 30.0
    assert deciding_value({"fid_AtoB": 10.0, "fid_BtoA": 20.0}, "fid") == 15.0
    assert deciding_value({"kid": 0.1}, "fid") is None


def test_several_sr_folders_validate_on_the_one_with_a_test_split(tmp_path: Path) -> None:
    """...and SR trained on given LR images is scored on the LR folder of that one."""
    from img2img.tasks.srgan import SRGANConfig
    from img2img.validation import held_out_folders

    for name in ("T91", "DIV2K/test"):
        (tmp_path / name).mkdir(parents=True)
    data = f"{tmp_path / 'T91'},{tmp_path / 'DIV2K'}"
    assert held_out_folders(SRGANConfig(data=data)) == (str(tmp_path / "DIV2K"), None)
    single = str(tmp_path / "T91")
    assert held_out_folders(SRGANConfig(data=single)) == (single, None)
    given = SRGANConfig(data=data, lr_data="T91_LR, DIV2K_LR/X4")
    assert held_out_folders(given) == (str(tmp_path / "DIV2K"), "DIV2K_LR/X4")


def test_val_every_refuses_2d_points(tmp_path: Path) -> None:
    from img2img.config import merge
    from img2img.tasks.gan import GAN

    values = {"data": "toy:ring8", "out": str(tmp_path / "run"), "val_every": 5}
    with pytest.raises(ValueError, match="FID/KID, which need images"):
        Trainer(merge(GAN.Config, {**values, "device": "cpu", "num_workers": 0}))


def test_val_every_for_a_task_without_a_protocol_is_refused_before_anything_is_written(
    paired_dataset: Path, tmp_path: Path, monkeypatch
) -> None:
    from img2img.tasks.pix2pix import Pix2Pix

    monkeypatch.setattr(Pix2Pix, "evaluation", "")
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="--val-every: --task pix2pix has no evaluation protocol"):
        Trainer(tiny_pix2pix(paired_dataset, run, val_every=1))
    assert not run.exists()
