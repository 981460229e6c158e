"""Mixed precision does what it says: under ``--precision bf16`` / ``fp16`` the networks compute
in that dtype during training, training still learns, and a resumed run equals an
uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import tiny_pix2pix
from torch import nn

from img2img.checkpoint import load_model_files, load_training_state
from img2img.infer import load
from img2img.optim import Stepper, make_optimizer
from img2img.precision import cpu_supports_bf16, setup_task_precision
from img2img.tasks.pix2pix import Pix2Pix
from img2img.train import Trainer

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
STEPS = 40


def config(data: Path, out: Path, precision: str, max_steps: int):
    return tiny_pix2pix(
        data,
        out,
        precision=precision,
        max_steps=max_steps,
        lr=1e-3,
        epochs=100,
        decay_epochs=0,
        log_every=10,
        save_every=1000,
        sample_every=1000,
        num_samples=1,
    )


def record_conv_dtypes(trainer: Trainer) -> list[torch.dtype]:
    """The output dtype of every convolution of the generator and the discriminator, recorded
    inside ``task.step`` only (sample grids run outside autocast, in fp32, by design)."""
    seen: list[torch.dtype] = []
    recording = [False]

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if recording[0]:
            seen.append(output.dtype)

    task = trainer.task
    for network in (task.generator, task.adversary.discriminator):
        for module in network.modules():
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
                module.register_forward_hook(hook)
    step = task.step

    def recorded_step(batch):
        recording[0] = True
        try:
            return step(batch)
        finally:
            recording[0] = False

    task.step = recorded_step
    return seen


def train_l1(run: Path) -> float:
    """Mean L1 of the saved generator on the training pairs (in fp32), in [0, 2] units."""
    translator = load(run, device="cpu")
    dataset = Pix2Pix.dataset(translator.config, "train", augment=False)
    inputs = torch.stack([dataset[i]["input"] for i in range(len(dataset))])
    targets = torch.stack([dataset[i]["target"] for i in range(len(dataset))])
    return float((translator.translate_tensor(inputs) - targets).abs().mean())


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_networks_compute_in_the_chosen_dtype_learn_and_resume_exactly(
    paired_dataset: Path, tmp_path: Path, precision: str, one_thread
) -> None:
    start, straight, resumed = tmp_path / "start", tmp_path / "straight", tmp_path / "resumed"
    Trainer(config(paired_dataset, start, precision, max_steps=1)).fit()

    trainer = Trainer(config(paired_dataset, straight, precision, max_steps=STEPS))
    dtypes = record_conv_dtypes(trainer)
    trainer.fit()
    # Every conv of both networks, forward in every iteration, ran in the low precision.
    assert len(dtypes) >= 3 * STEPS
    assert set(dtypes) == {DTYPES[precision]}, set(dtypes)

    l1_start, l1_trained = train_l1(start), train_l1(straight)
    assert l1_trained < 0.6 * l1_start, (l1_start, l1_trained)

    Trainer(config(paired_dataset, resumed, precision, max_steps=STEPS // 2)).fit()
    Trainer(config(paired_dataset, resumed, precision, max_steps=STEPS), resume=True).fit()
    _, expected = load_model_files(straight)
    _, actual = load_model_files(resumed)
    for name, tensor in expected.items():
        torch.testing.assert_close(actual[name], tensor, rtol=0, atol=1e-6, msg=name)
    state = load_training_state(resumed)["task"]
    assert ("scaler" in state["g_stepper"]) == (precision == "fp16")


def test_setup_resolves_auto_for_the_device_and_gives_only_fp16_steppers_a_scaler() -> None:
    class Task:
        def __init__(self) -> None:
            weight = nn.Parameter(torch.ones(1))
            self.steppers = {
                "g": Stepper(make_optimizer([weight])),
                "d": Stepper(make_optimizer([weight])),
            }

    cpu = torch.device("cpu")
    task = Task()
    expected = torch.bfloat16 if cpu_supports_bf16() else None  # bf16 where the CPU has it
    assert setup_task_precision(task, "auto", cpu) is expected
    assert setup_task_precision(task, "bf16", cpu) is torch.bfloat16
    assert all(stepper.scaler is None for stepper in task.steppers.values())
    assert setup_task_precision(task, "fp16", cpu) is torch.float16
    assert all(stepper.scaler is not None for stepper in task.steppers.values())
