"""The learning-rate schedule of pix2pix/CycleGAN: constant, then linear decay to zero, applied
by the Trainer to every optimizer, and resumed exactly inside the decay window."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from conftest import assert_resumed_like_straight, tiny_pix2pix

from img2img.optim import Stepper, cosine_factor, linear_decay_factor, make_optimizer
from img2img.train import Trainer

# 8 training pairs at batch 2: 4 iterations per epoch; 4 epochs, the last 2 decaying.
EPOCHS, DECAY_EPOCHS, PER_EPOCH = 4, 2, 4
TOTAL, DECAY = EPOCHS * PER_EPOCH, DECAY_EPOCHS * PER_EPOCH
BASE_LR = 2e-4


def hand_factor(step: int) -> float:
    """The papers' rule: lr constant for the first TOTAL - DECAY iterations, then
    1 - (step - start) / DECAY, reaching 0 at TOTAL."""
    start = TOTAL - DECAY
    return 1.0 if step <= start else 1.0 - (step - start) / DECAY


def test_linear_decay_factor_at_its_boundaries() -> None:
    # total 200, decay 100 (pix2pix's epochs): 1 up to step 100, 0.5 at 150, 0.01 at 199.
    assert linear_decay_factor(0, 200, 100) == 1.0
    assert linear_decay_factor(99, 200, 100) == 1.0
    assert linear_decay_factor(100, 200, 100) == 1.0
    assert linear_decay_factor(101, 200, 100) == pytest.approx(0.99)
    assert linear_decay_factor(150, 200, 100) == pytest.approx(0.5)
    assert linear_decay_factor(199, 200, 100) == pytest.approx(0.01)
    assert linear_decay_factor(200, 200, 100) == 0.0
    assert linear_decay_factor(250, 200, 100) == 0.0  # never negative
    assert linear_decay_factor(150, 200, 0) == 1.0  # no decay window: constant
    assert (linear_decay_factor(9, 10, 1), linear_decay_factor(10, 10, 1)) == (1.0, 0.0)


def test_make_optimizer_builds_the_named_optimizer_with_the_given_settings() -> None:
    weight = torch.nn.Parameter(torch.zeros(1))
    kinds = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD}
    for kind, cls in kinds.items():
        optimizer = make_optimizer([weight], kind, lr=0.03, weight_decay=0.001)
        group = optimizer.param_groups[0]
        assert type(optimizer) is cls and (group["lr"], group["weight_decay"]) == (0.03, 0.001)
        stepper = Stepper.build([weight], kind, 0.03, (0.0, 0.99), total_steps=10, decay_steps=0)
        assert type(stepper.optimizer) is cls


def config(data: Path, out: Path, max_steps: int):
    return tiny_pix2pix(
        data,
        out,
        epochs=EPOCHS,
        decay_epochs=DECAY_EPOCHS,
        max_steps=max_steps,
        log_every=1,
        save_every=100,
        sample_every=1000,
        num_samples=1,
    )


def logged_lr(run: Path) -> dict[int, float]:
    return {r["step"]: r["lr"] for r in map(json.loads, (run / "losses.jsonl").open())}


def test_trainer_decays_every_optimizer_and_resumes_inside_the_decay_window(
    paired_dataset: Path, tmp_path: Path, one_thread
) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    trainer = Trainer(config(paired_dataset, straight, max_steps=11))
    assert trainer.total_steps == TOTAL
    trainer.fit()
    # The log records the LR after each iteration's schedule tick: 1 up to step 8, then
    # 7/8, 6/8, 5/8 of the base rate.
    lrs = logged_lr(straight)
    assert sorted(lrs) == list(range(1, 12))
    for step, lr in lrs.items():
        assert lr == pytest.approx(BASE_LR * hand_factor(step), rel=1e-9), step
    assert lrs[11] == pytest.approx(BASE_LR * 5 / 8)
    for name, stepper in trainer.task.steppers.items():  # the discriminator's too
        assert stepper.lr == pytest.approx(BASE_LR * 5 / 8), name

    Trainer(config(paired_dataset, resumed, max_steps=9)).fit()  # stops inside the decay
    Trainer(config(paired_dataset, resumed, max_steps=11), resume=True).fit()
    assert logged_lr(resumed) == pytest.approx(lrs)
    assert_resumed_like_straight(straight, resumed)


def test_cosine_factor_anneals_from_the_first_iteration_to_the_floor() -> None:
    # DDGAN's CosineAnnealingLR(T_max=100, eta_min=floor): lr_t = floor + (1 - floor) *
    # (1 + cos(pi t / 100)) / 2, as a ratio of the base rate.
    assert cosine_factor(0, 100, 0.1) == 1.0
    assert cosine_factor(25, 100, 0.0) == pytest.approx((1 + math.cos(math.pi / 4)) / 2)
    assert cosine_factor(50, 100, 0.1) == pytest.approx(0.55)
    assert cosine_factor(100, 100, 0.1) == pytest.approx(0.1)
    assert cosine_factor(130, 100, 0.1) == pytest.approx(0.1)  # held at the floor after
    assert linear_decay_factor(150, 200, 100, 0.2) == pytest.approx(0.6)
    assert linear_decay_factor(250, 200, 100, 0.2) == pytest.approx(0.2)


def test_trainer_anneals_every_stepper_by_cosine_to_an_absolute_floor(
    paired_dataset: Path, tmp_path: Path, one_thread
) -> None:
    cosine = {"lr_schedule": "cosine", "lr_floor": 1e-5, "decay_epochs": 0}
    trainer = Trainer(
        dataclasses.replace(config(paired_dataset, tmp_path / "run", max_steps=8), **cosine)
    )
    trainer.fit()
    lrs = logged_lr(tmp_path / "run")
    floor = 1e-5
    for step, lr in lrs.items():
        assert lr == pytest.approx(floor + (BASE_LR - floor) * cosine_factor(step, TOTAL), rel=1e-9)
    assert lrs[8] == pytest.approx((BASE_LR + floor) / 2)
    for name, stepper in trainer.task.steppers.items():
        assert stepper.lr == pytest.approx((BASE_LR + floor) / 2), name
    with pytest.raises(ValueError, match="--decay-epochs 2 belongs to the linear schedule"):
        other = config(paired_dataset, tmp_path / "other", max_steps=8)
        Trainer(dataclasses.replace(other, lr_schedule="cosine"))


def test_set_schedule_holds_then_decays_linearly_or_anneals_to_the_absolute_floor() -> None:
    """Stepper.set_schedule (the Trainer's --lr-schedule, --lr-floor) at base rate 0.1; the
    floor is a rate, not a ratio."""

    def rates(*schedule) -> list[float]:
        stepper = Stepper(make_optimizer([torch.nn.Parameter(torch.zeros(1))], "sgd", lr=0.1))
        stepper.set_schedule(*schedule)
        seen = []
        for _ in range(11):
            seen.append(stepper.lr)
            stepper.schedule_step()
        return seen

    held = [0.1] * 7  # 10 - 4 steps at the base rate, and the step where the decay starts
    decayed = [0.1 - (0.1 - 0.01) * k / 4 for k in (1, 2, 3, 4)]
    assert rates("linear", 10, 4, 0.01) == pytest.approx(held + decayed)
    assert rates("linear", 10) == pytest.approx([0.1] * 11)  # no decay steps: constant
    assert rates("cosine", 4)[4:] == pytest.approx([0.0] * 7)  # the floor defaults to 0
    assert cosine_factor(5, 0) == 1.0 and cosine_factor(1, 1) == 0.0
