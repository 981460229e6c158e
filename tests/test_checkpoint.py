"""Checkpoints are atomic and never need to unpickle code."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from img2img.checkpoint import (
    atomic_write,
    capture_rng_state,
    load_model_files,
    load_training_state,
    restore_rng_state,
    save_model,
    save_training_state,
)


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "state.bin"
    atomic_write(target, lambda tmp: Path(tmp).write_bytes(b"good"))

    def crash(tmp: str) -> None:
        Path(tmp).write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, crash)
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["state.bin"], "no temp files left behind"


def test_model_round_trip(tmp_path: Path) -> None:
    net = torch.nn.Conv2d(3, 4, 3)
    save_model(tmp_path, {"task": "pix2pix", "ngf": 8}, net)
    config, weights = load_model_files(tmp_path)
    assert config == {"task": "pix2pix", "ngf": 8}
    torch.testing.assert_close(weights["weight"], net.weight.detach())


def test_missing_model_file_says_what_a_model_is(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        load_model_files(tmp_path)


def test_rng_state_survives_weights_only_loading(tmp_path: Path) -> None:
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    save_training_state(tmp_path, {"rng": capture_rng_state(), "step": 3})
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(2), np.random.seed(2), random.seed(2)
    state = load_training_state(tmp_path)  # weights_only=True inside
    restore_rng_state(state["rng"])
    actual = (torch.rand(3), np.random.rand(3), random.random())
    torch.testing.assert_close(actual[0], expected[0])
    np.testing.assert_array_equal(actual[1], expected[1])
    assert actual[2] == expected[2] and state["step"] == 3


def test_keeps_the_last_states_and_falls_back_from_a_corrupt_one(tmp_path: Path) -> None:
    for step in (1, 2, 3):
        save_training_state(tmp_path, {"step": step}, keep=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["trainer_state.1.pt", "trainer_state.pt"]
    assert load_training_state(tmp_path)["step"] == 3
    latest = tmp_path / "trainer_state.pt"
    latest.write_bytes(latest.read_bytes()[:40])  # truncated by a crash or a bad disk
    with pytest.warns(UserWarning, match=r"trainer_state\.pt: cannot be read"):
        assert load_training_state(tmp_path)["step"] == 2
