"""The GAN Lab's sessions (img2img.demo.lab), without a browser: its training is the CLI's,
its arrows are the generator's pull, its exports resume, its limits hold."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch

pytest.importorskip("gradio")

from img2img.checkpoint import load_model_files, load_training_state
from img2img.cli import main
from img2img.demo import lab
from img2img.demo.lab import DRAWN, LabSession, check_setup
from img2img.saved_models import read_config

pytestmark = pytest.mark.usefixtures("one_thread")  # the lab steps on one thread too


def cli_run(out: Path, steps: int, *flags: str) -> tuple[dict, dict]:
    """``img2img train --task gan --net mlp`` for ``steps`` iterations: (generator weights,
    the training state's task part)."""
    command = ["train", "--task", "gan", "--net", "mlp", "--device", "cpu", "--out", str(out)]
    main([*command, "--max-steps", str(steps), *flags])
    _, weights = load_model_files(out)
    return weights, load_training_state(out)["task"]


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("setup", "flags"),
    [
        ({}, []),
        (
            {"objective": "wgan-gp", "unroll": 2, "d_steps": 2},
            ["--objective", "wgan-gp", "--unroll", "2", "--d-steps", "2"],
        ),
    ],
)
def test_a_lab_session_trains_exactly_as_the_cli(tmp_path: Path, setup: dict, flags: list) -> None:
    """N iterations of the lab (two identical setups side by side, stepping in turn) give
    the weights of N iterations of `img2img train` with the same options and seed: the
    lab runs the CLI's Trainer, and each setup draws from its own random stream."""
    steps = 6
    weights, task_state = cli_run(tmp_path / "cli", steps, "--data", "toy:ring8", "--seed", "3",
                                  *flags)  # fmt: skip
    session = LabSession(tmp_path / "lab")
    session.reset("toy:ring8", [setup, setup], seed=3)
    for _ in range(steps // 2):  # stepping in turn: A, B, A, B, ...
        session.step("iteration")
    session.play(seconds=0.0)  # one iteration each, as Play does
    session.step("iteration", steps - steps // 2 - 1)
    for run in session.runs:
        assert run.trainer.step == steps
        assert same_tensors(run.task.generator.state_dict(), weights)
        discriminator = run.task.adversary.state_dict()
        del discriminator["_extra_state"]
        saved = {k: v for k, v in task_state["adversary"].items() if k != "_extra_state"}
        assert same_tensors(discriminator, saved)
    # Another seed gives other weights: the comparison above can fail.
    session.reset("toy:ring8", [setup], seed=4)
    session.step("iteration", steps)
    assert not same_tensors(session.runs[0].task.generator.state_dict(), weights)
    session.close()
    assert not session.folder.exists()


def test_the_arrows_are_the_generators_pull_on_the_shown_points(tmp_path: Path) -> None:
    """Each arrow is minus the gradient of the generator's loss with respect to that point
    (times the number of points): for the non-saturating loss, mean softplus(-D(x)),
    arrow_i = sigmoid(-D(x_i)) * grad D(x_i), checked here against autograd on D alone."""
    session = LabSession(tmp_path)
    session.reset("toy:ring8", [{"hidden": 8, "mlp_layers": 1}], seed=0)
    session.step("iteration", 3)
    run = session.runs[0]
    view = session.views()["runs"][0]
    fake = run.task.fixed_samples()[: len(view["fake"])]
    assert torch.allclose(torch.tensor(view["fake"]), fake, atol=5e-4)  # rounded for the page
    x = fake.clone().requires_grad_(True)
    logits = run.task.adversary.discriminator(x)
    (grad_d,) = torch.autograd.grad(logits.sum(), x)
    expected = torch.sigmoid(-logits.detach())[:, None] * grad_d
    assert torch.allclose(torch.tensor(view["arrows"]), expected, atol=2e-4)
    session.close()


def test_an_export_resumes_with_the_cli_where_the_cli_would_be(tmp_path: Path) -> None:
    """An exported run continued by `img2img train --resume` ends where a straight CLI run
    of as many iterations ends, and `img2img sample` draws from it."""
    session = LabSession(tmp_path / "lab")
    session.reset("toy:ring8", [{"unroll": 1}], seed=5)
    session.step("iteration", 4)
    archive, message = session.export(tmp_path / "export")
    assert "img2img train --resume gan-lab-A" in message and "iteration 4" in message
    session.close()
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(tmp_path / "unzipped")
    run = tmp_path / "unzipped" / "gan-lab-A"
    main(["train", "--resume", str(run), "--max-steps", "7"])
    straight, _ = cli_run(tmp_path / "straight", 7, "--data", "toy:ring8", "--seed", "5",
                          "--unroll", "1")  # fmt: skip
    _, resumed = load_model_files(run)
    assert same_tensors(resumed, straight)
    records = [json.loads(line) for line in (run / "losses.jsonl").open()]
    assert records[0]["step"] == 0 and records[-1]["step"] == 7  # the lab's log, continued
    main(["sample", "--model", str(run), "-n", "50", "-o", str(tmp_path / "samples.png")])
    assert (tmp_path / "samples.png").stat().st_size > 0


def test_a_drawn_target_is_a_csv_data_set_that_travels_with_the_export(tmp_path: Path) -> None:
    points = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-1.0, 0.5]])
    session = LabSession(tmp_path / "lab")
    session.reset(DRAWN, [{}], seed=0, points=lab.points_from_drawing(json.dumps(points.tolist())))
    session.step("iteration", 2)
    assert session.views()["runs"][0]["total_modes"] == 3
    archive, message = session.export(tmp_path / "export")
    assert "--data gan-lab-A/target.csv" in message
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(tmp_path / "unzipped")
    run = tmp_path / "unzipped" / "gan-lab-A"
    assert read_config(run)["data"] == "target.csv"
    main(["train", "--resume", str(run), "--data", str(run / "target.csv"), "--max-steps", "3"])
    assert load_training_state(run)["step"] == 3
    session.close()


def test_single_steps_move_one_network_and_count_apart_from_iterations(tmp_path: Path) -> None:
    session = LabSession(tmp_path)
    session.reset("toy:ring8", [{"unroll": 2}], seed=0)
    run = session.runs[0]
    with pytest.raises(Exception, match="Take a D step or an iteration first"):
        session.step("generator")  # an unrolled loss needs D's last batch
    g_before = {k: v.clone() for k, v in run.task.generator.state_dict().items()}
    session.step("discriminator")
    assert same_tensors(run.task.generator.state_dict(), g_before)
    d_before = {k: v.clone() for k, v in run.task.adversary.discriminator.state_dict().items()}
    session.step("generator")
    assert same_tensors(run.task.adversary.discriminator.state_dict(), d_before)
    assert not same_tensors(run.task.generator.state_dict(), g_before)
    view = session.views()["runs"][0]
    assert (view["step"], view["d_updates"], view["g_updates"]) == (0, 1, 1)
    session.close()


def test_the_lab_stops_at_its_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab, "MAX_STEPS", 3)
    session = LabSession(tmp_path)
    session.reset("toy:ring8", [{}], seed=0)
    while session.play(seconds=10.0):
        pass
    assert session.runs[0].trainer.step == 3
    assert "limit of 3 iterations" in session.status()
    session.close()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"unroll": 11}, "unroll must be a whole number from 0 to 10"),
        ({"lr": 5.0}, "lr must be a number from 1e-05 to 1"),
        ({"objective": "best"}, "Unknown objective"),
        ({"hidden": 2.5}, "hidden must be a whole number"),
        ({"batch_size": 4}, "Unknown setup option"),
        ({"spectral_norm": "yes"}, "spectral_norm must be true or false"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_a_setup_out_of_bounds_is_refused_naming_the_option(values, message) -> None:
    with pytest.raises(Exception, match=message):
        check_setup(values)


def test_custom_points_are_checked(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="at most"):
        lab.points_from_drawing([[0.0, 0.0]] * (lab.MAX_POINTS + 1))
    with pytest.raises(Exception, match="from -6 to 6"):
        lab.points_from_drawing([[0.0, 7.0]])
    with pytest.raises(Exception, match="list of"):
        lab.points_from_drawing("[[1, 2, 3]]")
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n3,oops\n")
    with pytest.raises(Exception, match=r"bad\.csv, line 3"):
        lab.points_from_upload(str(bad))
    session = LabSession(tmp_path / "lab")
    with pytest.raises(Exception, match="Draw some points"):
        session.reset(DRAWN, [{}], seed=0)
    with pytest.raises(Exception, match="at most two"):
        session.reset("toy:ring8", [{}, {}, {}], seed=0)
    with pytest.raises(Exception, match="Setup A: the wgan-gp objective needs a Lipschitz"):
        session.reset("toy:ring8", [{"objective": "wgan-gp", "gp_weight": 0.0}], seed=0)
    session.close()


def test_sessions_are_one_per_page_and_bounded(tmp_path: Path, monkeypatch) -> None:
    """A page's session is found again by its key; one idle too long, or the least recently
    used beyond the limit, is closed with its files."""
    clock = [0.0]
    monkeypatch.setattr(lab.time, "monotonic", lambda: clock[0])
    sessions = lab.LabSessions(tmp_path, idle=60, limit=2)
    first = sessions("page-1")
    assert sessions("page-1") is first
    clock[0] = 30.0
    second = sessions("page-2")
    clock[0] = 40.0
    sessions("page-1")  # used again: page-2 is now the least recently used
    sessions("page-3")
    assert not second.folder.exists() and first.folder.exists() and len(sessions) == 2
    clock[0] = 200.0  # page-1 and page-3 idle for over a minute
    sessions("page-4")
    assert not first.folder.exists() and len(sessions) == 1
