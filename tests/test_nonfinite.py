"""A NaN or infinite loss never reaches the weights, and NaN weights never reach the disk."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import tiny_pix2pix
from safetensors.torch import load_file

from img2img.checkpoint import GENERATOR_FILE, load_training_state, nonfinite_tensors
from img2img.optim import Stepper, make_optimizer
from img2img.reporting import read_loss_log
from img2img.tasks.pix2pix import Pix2Pix
from img2img.train import Trainer
from img2img.watch import TrainingDiverged, check_losses

POISONED_ITERATION = 3


def one_weight_stepper(skip: bool) -> tuple[torch.nn.Parameter, Stepper]:
    weight = torch.nn.Parameter(torch.tensor([1.0]))
    stepper = Stepper(make_optimizer([weight], "sgd", lr=0.5))
    stepper.name, stepper.skip_nonfinite = "generator", skip
    return weight, stepper


def test_a_nonfinite_loss_stops_with_the_steppers_name_and_value() -> None:
    weight, stepper = one_weight_stepper(skip=False)
    with pytest.raises(TrainingDiverged, match=r"the generator loss is nan.*--skip-nonfinite"):
        stepper.step(weight.sum() * float("nan"))
    assert weight.item() == 1.0 and weight.grad is None


def test_by_default_a_stepper_stops_on_a_nonfinite_loss() -> None:
    weight = torch.nn.Parameter(torch.ones(1))
    stepper = Stepper(make_optimizer([weight], "sgd", lr=0.5))
    with pytest.raises(TrainingDiverged):
        stepper.step(weight.sum() * float("nan"))


def test_skipping_leaves_the_weights_and_counts_the_update() -> None:
    weight, stepper = one_weight_stepper(skip=True)
    stepper.step(weight.sum() * float("inf"))  # non-finite loss
    stepper.step(weight.sqrt().sum() * 0.0 + (weight - 1).sqrt().sum())  # finite, inf gradient
    assert weight.item() == 1.0 and stepper.skipped == 2
    stepper.step(2 * weight.sum())  # a good loss still updates: 1 - 0.5 * 2 = 0
    assert weight.item() == 0.0
    stepper.step(weight.sum() * float("nan"))
    assert stepper.skipped == 3  # counted, not reset, by a non-finite loss
    restored = one_weight_stepper(skip=True)[1]
    restored.load_state_dict(stepper.state_dict())
    assert restored.skipped == 3


def test_a_stepper_reads_a_state_without_a_skip_count_or_with_a_scaler_it_does_not_use() -> None:
    """Checkpoints from before the skip count, and an fp16 run resumed in another precision."""
    state = one_weight_stepper(skip=True)[1].state_dict()
    del state["skipped"]
    fp16 = one_weight_stepper(skip=True)[1]
    fp16.use_grad_scaler("cpu")
    state["scaler"] = fp16.scaler.state_dict()
    restored = one_weight_stepper(skip=True)[1]
    restored.skipped = 5
    restored.load_state_dict(state)
    assert restored.skipped == 0 and restored.scaler is None


@pytest.fixture
def poisoned(monkeypatch: pytest.MonkeyPatch) -> None:
    """pix2pix's target batch is all NaN at one iteration (a corrupt sample, say)."""
    step, iterations = Pix2Pix.step, []

    def poisoned_step(self, batch):
        iterations.append(1)
        if len(iterations) == POISONED_ITERATION:
            batch = {**batch, "target": torch.full_like(batch["target"], float("nan"))}
        return step(self, batch)

    monkeypatch.setattr(Pix2Pix, "step", poisoned_step)


def test_training_stops_at_the_bad_iteration_and_keeps_the_last_good_checkpoint(
    paired_dataset: Path, tmp_path: Path, poisoned: None
) -> None:
    run = tmp_path / "run"
    config = tiny_pix2pix(paired_dataset, run, max_steps=6, save_every=2, num_samples=1)
    with pytest.raises(
        TrainingDiverged, match=r"iteration 3: the discriminator loss is nan"
    ) as info:
        Trainer(config).fit()
    assert "last checkpoint" in str(info.value)
    assert load_training_state(run)["step"] == 2


def test_skip_nonfinite_drops_the_update_counts_it_and_keeps_the_count_on_resume(
    paired_dataset: Path, tmp_path: Path, poisoned: None
) -> None:
    run = tmp_path / "run"
    options = {"skip_nonfinite": True, "log_every": 1, "num_samples": 1}
    Trainer(tiny_pix2pix(paired_dataset, run, max_steps=4, **options)).fit()
    records = read_loss_log(run / "losses.jsonl")
    # Both networks' updates of iteration 3 were dropped: D's loss saw the NaN target, and
    # so did G's L1 term.
    assert [r["skipped_updates"] for r in records] == [0, 0, 2, 2]
    assert all(math.isfinite(v) for r in records for v in r.values() if isinstance(v, float))
    state = load_training_state(run)["task"]
    d_optimizer = state["adversary"]["_extra_state"]["stepper"]["optimizer"]
    for optimizer in (state["g_stepper"]["optimizer"], d_optimizer):
        assert {float(s["step"]) for s in optimizer["state"].values()} == {3.0}  # 4 - 1 skipped
    assert not nonfinite_tensors(load_file(run / GENERATOR_FILE))

    Trainer(tiny_pix2pix(paired_dataset, run, max_steps=5, **options), resume=True).fit()
    assert read_loss_log(run / "losses.jsonl")[-1]["skipped_updates"] == 2


def test_a_checkpoint_with_nan_weights_is_never_written(
    paired_dataset: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    trainer = Trainer(tiny_pix2pix(paired_dataset, run, max_steps=1, num_samples=1))
    trainer.fit()
    saved = (run / GENERATOR_FILE).read_bytes(), (run / "trainer_state.pt").read_bytes()
    name, weight = next(iter(trainer.task.generator.named_parameters()))
    with torch.no_grad():
        weight.view(-1)[0] = float("nan")
    trainer.step += 1
    with pytest.raises(TrainingDiverged, match=rf"not saving iteration 2: .*{name}"):
        trainer.save()
    assert ((run / GENERATOR_FILE).read_bytes(), (run / "trainer_state.pt").read_bytes()) == saved


def test_nonfinite_tensors_names_the_bad_entries() -> None:
    state = {"a": torch.ones(2), "b": [torch.tensor([1.0, math.inf])], "c": {"d": torch.nan}}
    state["c"]["e"] = torch.tensor([0, 1])  # integers cannot be NaN
    state["c"]["f"] = torch.tensor(float("nan"))
    assert nonfinite_tensors(state) == ["b.0", "c.f"]


def test_check_losses_leaves_nonfinite_values_to_the_stepper_when_skipping() -> None:
    check_losses({"d_loss": math.nan, "g_loss": math.inf}, skip_nonfinite=True)
    with pytest.raises(TrainingDiverged, match=r"d_loss=nan"):
        check_losses({"d_loss": math.nan})
    with pytest.raises(TrainingDiverged, match=r"g_loss=2e\+06"):
        check_losses({"d_loss": math.nan, "g_loss": 2e6}, skip_nonfinite=True)
