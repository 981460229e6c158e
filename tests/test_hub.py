"""Models on the Hugging Face Hub: names, download into the cache, revisions, offline use,
and push. The Hub is :class:`fake_hub.FakeHub` on 127.0.0.1 (no test needs the internet);
pushes go to :class:`fake_hub.RecordingHfApi`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_GAN, TINY_PIX2PIX, save_untrained_model
from fake_hub import FakeHub, RecordingHfApi, use_hub
from huggingface_hub import ModelCard

import img2img
from img2img.catalog import describe_model
from img2img.hub_models import HubModelUnavailable, HubName, parse_hub_name
from img2img.images import tensor_to_pil
from img2img.saved_models import resolve_model

pytestmark = pytest.mark.usefixtures("one_thread")
X = torch.linspace(-1, 1, 3 * 32 * 32).reshape(1, 3, 32, 32)


@pytest.fixture
def hub(monkeypatch, tmp_path: Path):
    """A FakeHub this process's huggingface_hub talks to, with its cache in tmp_path."""
    server = FakeHub()
    use_hub(monkeypatch, server, tmp_path / "hf-cache")
    yield server
    server.close()


def model_files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


def run(model: str | Path) -> torch.Tensor:
    return img2img.load(model, device="cpu", precision="fp32", engine="torch").translate_tensor(X)


def test_hub_names_are_parsed_with_their_revision():
    assert parse_hub_name("hf://org/name") == HubName("org/name")
    assert parse_hub_name("hf://org/name@v1.0") == HubName("org/name", "v1.0")
    assert parse_hub_name("org/name@main", bare=True) == HubName("org/name", "main")
    assert parse_hub_name("org/name") is None  # bare names only where local ones were tried
    assert parse_hub_name("runs/x/y", bare=True) is None
    assert str(HubName("org/name", "v1")) == "hf://org/name@v1"
    with pytest.raises(ValueError, match="hf://ORG/NAME"):
        parse_hub_name("hf://just-a-name")


def test_local_models_never_import_huggingface_hub():
    """``import img2img`` stays light: the Hub's client is imported for Hub models only."""
    code = (
        "import sys, img2img\n"
        "from img2img.saved_models import read_model\n"
        "read_model('facades-label2photo')\n"
        "assert 'huggingface_hub' not in sys.modules, 'imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(img2img.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_hub_model_is_downloaded_once_then_read_from_the_cache_even_offline(
    hub: FakeHub, tmp_path: Path, monkeypatch
):
    model = save_untrained_model(tmp_path / "tiny", "pix2pix", **TINY_PIX2PIX)
    hub.commit("me/tiny", {**model_files(model), "trainer_state.pt": b"not for loading"})
    expected = run(model)

    torch.testing.assert_close(run("me/tiny"), expected, rtol=0, atol=0)
    downloaded = sorted(path.rsplit("/", 1)[1] for path in hub.downloads())
    assert downloaded == ["config.json", "generator.safetensors"]  # never the training state
    assert (tmp_path / "hf-cache" / "models--me--tiny").is_dir()

    hub.requests.clear()
    torch.testing.assert_close(run("hf://me/tiny"), expected, rtol=0, atol=0)
    assert hub.downloads() == []  # the cache's copy, after asking which commit main is

    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.requests.clear()
    torch.testing.assert_close(run("me/tiny"), expected, rtol=0, atol=0)
    assert hub.requests == []  # HF_HUB_OFFLINE=1: the Hub is not asked at all


def test_offline_and_not_cached_is_a_clear_error(hub: FakeHub, tmp_path: Path, monkeypatch):
    from huggingface_hub import constants

    hub.commit(
        "me/tiny", model_files(save_untrained_model(tmp_path / "m", "pix2pix", **TINY_PIX2PIX))
    )
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubModelUnavailable, match="HF_HUB_OFFLINE=1 forbids downloading") as err:
        resolve_model("hf://me/tiny")
    assert str(tmp_path / "hf-cache") in str(err.value) and hub.requests == []


def test_a_revision_pins_a_branch_a_tag_or_a_commit(hub: FakeHub, tmp_path: Path):
    first = save_untrained_model(tmp_path / "a", "pix2pix", **TINY_PIX2PIX)
    commit = hub.commit("me/tiny", model_files(first))
    hub.tag("me/tiny", "v1", commit)
    hub.commit("me/tiny", model_files(_perturbed(first, tmp_path / "b")))  # main moves on

    old, new = run(first), run(tmp_path / "b")
    assert not torch.equal(old, new)
    torch.testing.assert_close(run("hf://me/tiny"), new, rtol=0, atol=0)  # main
    for pinned in ("hf://me/tiny@v1", f"hf://me/tiny@{commit}", "me/tiny@v1"):
        torch.testing.assert_close(run(pinned), old, rtol=0, atol=0)
    with pytest.raises(HubModelUnavailable, match="has no revision 'v9'"):
        resolve_model("hf://me/tiny@v9")


def _perturbed(model: Path, out: Path) -> Path:
    """A copy of ``model`` whose generator weights are all shifted, so it translates
    differently."""
    from safetensors.torch import load_file, save_file

    out.mkdir()
    (out / "config.json").write_bytes((model / "config.json").read_bytes())
    weights = load_file(model / "generator.safetensors")
    save_file({k: v + 0.05 if v.is_floating_point() else v for k, v in weights.items()},
              out / "generator.safetensors")  # fmt: skip
    return out


def test_unknown_repositories_and_non_models_are_named_with_the_problem(hub: FakeHub):
    hub.commit("me/notes", {"README.md": b"# not a model"})
    with pytest.raises(HubModelUnavailable, match="no model repository me/missing on http://127"):
        resolve_model("hf://me/missing")
    with pytest.raises(
        HubModelUnavailable, match=r"not an img2img model.*config.json or generator"
    ):
        resolve_model("hf://me/notes")
    # A bare name that is nothing local says so before the Hub's answer.
    with pytest.raises(FileNotFoundError, match="me/missing: no such local or shipped model"):
        img2img.load("me/missing", device="cpu")


def test_local_paths_and_shipped_names_win_over_hub_names(
    hub: FakeHub, tmp_path: Path, monkeypatch
):
    hub.commit(
        "me/tiny", model_files(save_untrained_model(tmp_path / "m", "pix2pix", **TINY_PIX2PIX))
    )
    monkeypatch.chdir(tmp_path)
    local = save_untrained_model(Path("me") / "tiny", "pix2pix", **TINY_PIX2PIX)
    assert resolve_model("me/tiny") == local
    assert resolve_model("facades-label2photo").name == "facades-label2photo"
    (tmp_path / "runs").mkdir()
    with pytest.raises(FileNotFoundError, match="runs/typo: not a model directory"):
        resolve_model("runs/typo")  # runs/ is a folder here: a mistyped run, not a Hub name
    with pytest.raises(FileNotFoundError, match=r"\./other/name: not a model directory"):
        resolve_model("./other/name")
    assert hub.requests == []


def test_sample_eval_and_demo_take_hub_names(
    hub: FakeHub, tmp_path: Path, monkeypatch, paired_dataset: Path, capsys
):
    from img2img.cli import main
    from img2img.demo import build_demo

    gan = save_untrained_model(tmp_path / "gan", "gan", **TINY_GAN)
    pix2pix = save_untrained_model(tmp_path / "p2p", "pix2pix", **TINY_PIX2PIX)
    hub.commit("me/gan", model_files(gan))
    hub.commit("me/p2p", model_files(pix2pix))
    monkeypatch.chdir(tmp_path)

    main(["sample", "--model", "hf://me/gan@main", "-n", "4", "--interpolations", "0",
          "-o", "grid.png", "--device", "cpu", "--engine", "torch"])  # fmt: skip
    assert (tmp_path / "grid.png").is_file()

    main(["eval", "--model", "hf://me/p2p", "--data", str(paired_dataset), "--metrics",
          "psnr,ssim", "--device", "cpu", "--engine", "torch"])  # fmt: skip
    report = tmp_path / "runs" / "eval" / "me--p2p" / "eval-pairs.json"
    assert json.loads(report.read_text())["metrics"]["psnr"] > 0  # not in the Hub's cache

    info = describe_model("hf://me/p2p")
    assert info.name == "hf://me/p2p" and info.task == "pix2pix"
    demo = build_demo(["hf://me/p2p"], device="cpu", engine="torch")
    assert list(demo.backend.models) == ["hf://me/p2p"]
    demo.close()


def translate_to(command: list[str], output: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([*command, "-o", str(output)], env=env, capture_output=True, text=True)


def test_the_command_line_honours_hf_endpoint_and_hf_hub_offline(hub: FakeHub, tmp_path: Path):
    """As a user sets them: environment variables read when huggingface_hub is imported."""
    model = save_untrained_model(tmp_path / "m", "pix2pix", **TINY_PIX2PIX)
    hub.commit("me/tiny", model_files(model))
    image = tmp_path / "in.png"
    tensor_to_pil(X[0]).save(image)
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(Path(img2img.__file__).parents[1]),
    }
    env.pop("HF_HUB_CACHE", None)
    command = [sys.executable, "-m", "img2img", "translate", "--model", "me/tiny", str(image),
               "--device", "cpu", "--engine", "torch", "--no-progress"]  # fmt: skip

    online = translate_to(command, tmp_path / "a.png", env)
    assert online.returncode == 0, online.stderr
    hub.requests.clear()
    env["HF_HUB_OFFLINE"] = "1"
    offline = translate_to(command, tmp_path / "b.png", env)
    assert offline.returncode == 0, offline.stderr
    assert hub.requests == []
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()

    env["HF_HOME"] = str(tmp_path / "empty-home")
    missing = translate_to(command, tmp_path / "c.png", env)
    assert missing.returncode == 1 and "HF_HUB_OFFLINE=1 forbids downloading" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.fixture
def trained_run(paired_dataset: Path, tmp_path: Path) -> Path:
    """A run directory after one iteration: model, EMA weights, training state."""
    from conftest import tiny_pix2pix

    from img2img.train import Trainer

    return Trainer(tiny_pix2pix(paired_dataset, tmp_path / "run", ema=0.9, max_steps=1)).fit()


def test_push_uploads_the_model_and_its_card_in_one_commit_never_the_training_state(
    trained_run: Path,
):
    from img2img.push import push_model

    report = {"metrics": {"psnr": 12.5, "ssim": 0.25, "kid": {"mean": 0.1, "std": 0.01}}}
    (trained_run / "eval-pairs.json").write_text(json.dumps({**report, "images": 2}))
    api = RecordingHfApi()
    pushed = push_model(trained_run, "me/run", private=True, revision="v1", api=api)

    assert [name for name, _ in api.calls] == ["create_repo", "create_branch", "create_commit"]
    assert api.calls[0][1] | {"private": True, "exist_ok": True} == api.calls[0][1]
    assert api.calls[1][1]["branch"] == api.calls[2][1]["revision"] == pushed.revision == "v1"
    files = api.uploads
    assert sorted(files) == sorted(pushed.files) == [
        "README.md", "config.json", "generator.safetensors", "generator_ema.safetensors",
        "model_card.json",
    ]  # fmt: skip
    for name in ("config.json", "generator.safetensors", "generator_ema.safetensors"):
        assert files[name] == (trained_run / name).read_bytes()
    record = json.loads(files["model_card.json"])
    assert (record["name"], record["task"], record["data"]) == ("run", "pix2pix", "pairs")

    card = ModelCard(files["README.md"].decode())
    metadata = card.data.to_dict()
    assert metadata["library_name"] == "img2img" and metadata["pipeline_tag"] == "image-to-image"
    assert {"img2img", "pix2pix"} <= set(metadata["tags"])
    measured = {
        (r.metric_name, r.metric_value, r.dataset_name, r.dataset_split, r.task_type)
        for r in card.data.eval_results
    }
    assert measured == {
        ("psnr", 12.5, "pairs", "test", "image-to-image"),
        ("ssim", 0.25, "pairs", "test", "image-to-image"),
        ("kid", 0.1, "pairs", "test", "image-to-image"),
    }
    assert 'img2img.load("me/run")' in card.text


def test_push_sends_the_training_state_only_when_asked_and_refuses_runs_without_a_model(
    trained_run: Path, tmp_path: Path
):
    from img2img.push import PushRefused, push_model

    api = RecordingHfApi()
    push_model(trained_run, "me/run", with_state=True, api=api)
    assert api.uploads["trainer_state.pt"] == (trained_run / "trainer_state.pt").read_bytes()

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "config.yaml").write_text("task: pix2pix\n")
    with pytest.raises(PushRefused, match="no saved model here"):
        push_model(fresh, "me/fresh", api=RecordingHfApi())
    with pytest.raises(PushRefused, match="no training state"):
        push_model("facades-label2photo", "me/facades", with_state=True, api=RecordingHfApi())
    with pytest.raises(PushRefused, match="ORG/NAME"):
        push_model(trained_run, "me/run@v1", api=RecordingHfApi())


def test_a_shipped_model_pushes_with_its_card_and_measured_metrics():
    from img2img.push import push_model
    from img2img.saved_models import WEIGHTS_DIR

    api = RecordingHfApi()
    push_model("facades-label2photo", "me/facades", api=api)
    folder = WEIGHTS_DIR / "facades-label2photo"
    assert api.uploads["model_card.json"] == (folder / "model_card.json").read_bytes()
    card = ModelCard(api.uploads["README.md"].decode())
    figures = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert figures == {"fid": 140.47, "kid": 0.0744, "psnr_rgb_db": 12.65, "ssim_rgb": 0.2343}
    assert {r.dataset_type for r in card.data.eval_results} == {"cmp-facades"}
    assert card.data.license == "other" and "img2img translate --model me/facades" in card.text


def test_what_push_uploads_loads_back_from_the_hub(
    trained_run: Path, hub: FakeHub, monkeypatch, capsys
):
    import huggingface_hub

    from img2img.cli import main

    api = RecordingHfApi(hub=hub)
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: api)
    main(["push", str(trained_run), "me/run"])
    assert "me/run (main): config.json" in capsys.readouterr().out
    torch.testing.assert_close(run("hf://me/run"), run(trained_run), rtol=0, atol=0)  # EMA

    with pytest.raises(SystemExit, match="no saved model here"):
        main(["push", str(trained_run / "samples"), "me/run"])
