"""Options that apply to every task: mixed precision, the generator EMA, the objective."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import tiny_pix2pix
from safetensors.torch import load_file

from img2img.checkpoint import EMA_FILE, GENERATOR_FILE, load_training_state
from img2img.config import config_from_dict, merge
from img2img.ema import EMA, ema_beta
from img2img.infer import load
from img2img.losses import OBJECTIVES, Adversary
from img2img.precision import autocast_dtype
from img2img.tasks import TASKS, task_members
from img2img.tasks.pix2pix import Pix2PixConfig
from img2img.train import Trainer


def tiny(data: Path, out: Path, **overrides) -> Pix2PixConfig:
    return tiny_pix2pix(data, out, **{"num_samples": 1, **overrides})


def test_ema_is_the_running_average_of_the_weights() -> None:
    net = torch.nn.Linear(1, 1, bias=False)
    net.weight.data.fill_(0.0)
    ema = EMA(net, decay=0.5)
    for value in (1.0, 3.0):
        net.weight.data.fill_(value)
        ema.update(net)
    # 0 -> 0.5 * 0 + 0.5 * 1 = 0.5 -> 0.5 * 0.5 + 0.5 * 3 = 1.75
    assert ema.module.weight.item() == pytest.approx(1.75)
    assert not ema.module.weight.requires_grad
    with pytest.raises(ValueError, match="decay"):
        EMA(net, decay=1.5)


def test_ema_rampup_is_stylegan2s() -> None:
    # decay 0.99: a half-life of log 0.5 / log 0.99 = 68.97 iterations, capped at 0.05 * step.
    assert ema_beta(0.99, 0.0, 0) == 0.99  # no ramp-up: the decay
    assert ema_beta(0.99, 0.05, 0) == 0.0  # the average starts as a copy
    assert ema_beta(0.99, 0.05, 100) == pytest.approx(0.5 ** (1 / 5))  # half-life 5
    assert ema_beta(0.99, 0.05, 2000) == pytest.approx(0.99)  # 68.97 < 100: the decay
    net = torch.nn.Linear(1, 1, bias=False)
    net.weight.data.fill_(0.0)
    ema = EMA(net, decay=0.5, rampup=0.05)
    net.weight.data.fill_(3.0)
    ema.update(net, step=0)
    assert ema.module.weight.item() == 3.0
    with pytest.raises(ValueError, match="ramp-up"):
        EMA(net, decay=0.5, rampup=-1)


def test_ema_applied_to_lends_the_average_and_restores_the_weights() -> None:
    net = torch.nn.Linear(2, 2)
    ema = EMA(net, decay=0.5)
    own = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        ema.module.weight.fill_(7.0)
    with ema.applied_to(net):
        assert torch.equal(net.weight, torch.full((2, 2), 7.0))
    assert all(torch.equal(net.state_dict()[k], own[k]) for k in own)


def test_ema_weights_are_saved_resumed_and_used_by_default(
    paired_dataset: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    Trainer(tiny(paired_dataset, run, max_steps=3, ema=0.9)).fit()
    raw, averaged = load_file(run / GENERATOR_FILE), load_file(run / EMA_FILE)
    name = next(k for k in raw if k.endswith("weight"))
    assert not torch.equal(raw[name], averaged[name])
    assert "ema" in load_training_state(run)
    Trainer(tiny(paired_dataset, run, max_steps=4, ema=0.9), resume=True).fit()

    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with_ema = load(run, device="cpu").translate_tensor(x)
    without = load(run, device="cpu", use_ema=False).translate_tensor(x)
    assert not torch.allclose(with_ema, without)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_and_resumes_on_cpu(
    paired_dataset: Path, tmp_path: Path, precision: str
) -> None:
    run = tmp_path / precision
    Trainer(tiny(paired_dataset, run, max_steps=2, precision=precision)).fit()
    state = load_training_state(run)["task"]
    assert ("scaler" in state["g_stepper"]) == (precision == "fp16")
    Trainer(tiny(paired_dataset, run, max_steps=3, precision=precision), resume=True).fit()
    weights = load_file(run / GENERATOR_FILE)
    assert all(torch.isfinite(t.float()).all() for t in weights.values())


def test_auto_precision_is_fp32_on_a_cpu_without_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    import img2img.precision as precision

    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    assert autocast_dtype("auto", torch.device("cpu")) is None
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    assert autocast_dtype("auto", torch.device("cpu")) == torch.bfloat16
    assert autocast_dtype("fp16", torch.device("cpu")) == torch.float16
    with pytest.raises(ValueError, match="precision"):
        autocast_dtype("int8", torch.device("cpu"))


def test_an_unwritable_run_directory_fails_at_start(paired_dataset: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the run directory should go")
    with pytest.raises(OSError, match="choose another --out"):
        Trainer(tiny(paired_dataset, blocker / "run", max_steps=1))


def test_resume_with_a_different_network_or_task_says_what_differs(
    paired_dataset: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    Trainer(tiny(paired_dataset, run, max_steps=1)).fit()
    with pytest.raises(ValueError, match=r"ngf: 8 -> 16"):
        Trainer(tiny(paired_dataset, run, max_steps=2, ngf=16), resume=True)
    from img2img.data import split_unpaired
    from img2img.tasks.cyclegan import CycleGANConfig

    split_unpaired(paired_dataset, tmp_path / "unpaired")
    values = {"data": str(tmp_path / "unpaired"), "out": str(run), "device": "cpu"}
    other = merge(CycleGANConfig, values)
    with pytest.raises(ValueError, match="holds a 'pix2pix' run"):
        Trainer(other, resume=True)


def test_a_newer_checkpoint_format_is_refused_clearly(paired_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(tiny(paired_dataset, run, max_steps=1)).fit()
    state = load_training_state(run)
    state["format"] = 99
    torch.save(state, run / "trainer_state.pt")
    with pytest.raises(ValueError, match="format 99 is newer"):
        Trainer(tiny(paired_dataset, run, max_steps=2), resume=True)


def test_every_task_takes_objective_and_reads_the_old_name_gan_mode() -> None:
    """One option name and vocabulary for all tasks; configs saved as gan_mode still load."""
    for task in TASKS.values():
        field = {f.name: f for f in dataclasses.fields(task.Config)}["objective"]
        # Energy objectives (EBGAN) only where the task builds an auto-encoder discriminator.
        logits = tuple(name for name, o in OBJECTIVES.items() if not o.energy)
        assert field.metadata["choices"] in (logits, tuple(OBJECTIVES))
        assert config_from_dict(task.Config, {"gan_mode": "hinge"}).objective == "hinge"
    # Layers rename before they merge: a later layer's old name overrides an earlier new one.
    layered = merge(TASKS["pix2pix"].Config, {"objective": "lsgan"}, {"gan_mode": "wgan-gp"})
    assert layered.objective == "wgan-gp"
    with pytest.raises(ValueError, match="old name of objective"):
        config_from_dict(TASKS["pix2pix"].Config, {"gan_mode": "lsgan", "objective": "hinge"})


def test_resuming_a_run_saved_as_gan_mode_compares_it_with_objective(
    paired_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint written before the rename: its gan_mode is the objective it ran with."""
    from img2img.checkpoint import save_training_state

    run = tmp_path / "run"
    Trainer(tiny(paired_dataset, run, max_steps=1)).fit()
    state = load_training_state(run)
    state["config"]["gan_mode"] = state["config"].pop("objective")
    save_training_state(run, state, keep=1)
    Trainer(tiny(paired_dataset, run, max_steps=2, objective="lsgan"), resume=True)
    assert "objective: 'vanilla' -> 'lsgan'" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(TASKS))
def test_a_wasserstein_objective_brings_its_critic_constraint_in_every_task(name: str) -> None:
    """--objective wgan clips at 0.01 and wgan-gp penalises at 10 unless told otherwise, the
    values reach the task's Adversaries, and an unconstrained critic is refused."""
    config_class = TASKS[name].Config
    small = {
        "srgan": {"ngf": 8, "ndf": 8, "blocks": 1, "phase": "psnr"},
        "progan": {"fmap_base": 32, "fmap_max": 8, "z_dim": 8, "image_size": 8},
        "vqgan": {"preset": "small"},
    }.get(name, {"ngf": 4, "ndf": 4})
    base = {"device": "cpu", **small}
    plain = merge(config_class, {**base, "objective": "lsgan"})
    assert (plain.clip, plain.gp_weight) == (0.0, 0.0)
    assert merge(config_class, {**base, "objective": "wgan"}).clip == 0.01
    penalised = merge(config_class, {**base, "objective": "wgan-gp"})
    assert penalised.gp_weight == 10.0
    assert merge(config_class, {**base, "objective": "wgan-gp", "gp_weight": 1.0}).gp_weight == 1.0
    task = TASKS[name](penalised, total_steps=1, decay_steps=0, device=torch.device("cpu"))
    adversaries = task_members(task, Adversary)
    assert adversaries and all(a.gp_weight == 10.0 for a in adversaries)
    clipped = merge(config_class, {**base, "objective": "wgan"})
    task = TASKS[name](clipped, total_steps=1, decay_steps=0, device=torch.device("cpu"))
    assert all(a.clip == 0.01 for a in task_members(task, Adversary))
    # R1 constrains a critic too (DDGAN's default): switch it off where a task has it.
    no_r1 = {"r1_gamma": 0.0} if "r1_gamma" in config_class.__dataclass_fields__ else {}
    unconstrained = merge(config_class, {**base, "objective": "wgan", "clip": 0.0, **no_r1})
    with pytest.raises(ValueError, match="needs a Lipschitz critic"):
        TASKS[name](unconstrained, total_steps=1, decay_steps=0, device=torch.device("cpu"))


@pytest.mark.parametrize(
    ("norm", "batch_size", "expected"),
    [("batch", 1, True), ("batch", 2, False), ("instance", 1, False), ("none", 1, False)],
)
@pytest.mark.parametrize("name", ["pix2pix", "cyclegan"])
def test_per_image_statistics_only_for_batch_one_batch_norm(
    name: str, norm: str, batch_size: int, expected: bool
) -> None:
    """Batch norm trained on one image at a time normalised by that image's statistics, so
    inference does the same (nets/batchnorm.py); otherwise the running averages serve."""
    config = merge(TASKS[name].Config, {"norm": norm, "batch_size": batch_size})
    assert TASKS[name].per_image_statistics(config) is expected
