"""The Trainer's data loading: persistent workers that still see every epoch's augmentation."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from conftest import tiny_pix2pix

from img2img.config import add_config_arguments
from img2img.data import PairedImageFolder, ResumableSampler
from img2img.tasks.pix2pix import Pix2Pix, Pix2PixConfig
from img2img.train import Trainer, data_loader


def test_an_epoch_in_the_key_equals_set_epoch(paired_dataset: Path) -> None:
    data = PairedImageFolder(paired_dataset / "train", load_size=36, crop_size=32)
    data.set_epoch(3)
    by_attribute = data[5]["input"]
    data.set_epoch(0)
    assert torch.equal(data[(3, 5)]["input"], by_attribute)
    assert not torch.equal(data[5]["input"], by_attribute)  # epoch 0 crops differently

    sampler = ResumableSampler(8, seed=0, start_epoch=2, start_index=6, with_epoch=True)
    plain = ResumableSampler(8, seed=0, start_epoch=2, start_index=6)
    assert list(sampler) == [(2, index) for index in plain]


SEEN: list[tuple[list[str], torch.Tensor]] = []


def recording_step(step):
    """pix2pix's ``step`` recording what each iteration was given."""

    def record(self, batch):
        SEEN.append((list(batch["path"]), batch["input"].clone()))
        return step(self, batch)

    return record


def batches_seen(data: Path, out: Path, workers: int) -> list[tuple[list[str], torch.Tensor]]:
    SEEN.clear()
    config = tiny_pix2pix(
        data, out, max_steps=5, batch_size=4, num_workers=workers, num_samples=1, save_every=5
    )
    Trainer(config).fit()
    return list(SEEN)


def test_persistent_workers_give_the_batches_of_no_workers_epoch_after_epoch(
    paired_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread: None
) -> None:
    monkeypatch.setattr(Pix2Pix, "step", recording_step(Pix2Pix.step))
    config = tiny_pix2pix(paired_dataset, tmp_path / "x", num_workers=2)
    loader, _ = data_loader(Pix2Pix.dataset(config, "train"), config, torch.device("cpu"))
    assert loader.persistent_workers

    # 8 pairs at batch 4: 5 iterations cover epochs 0, 1 and half of 2.
    with_workers = batches_seen(paired_dataset, tmp_path / "workers", workers=2)
    without = batches_seen(paired_dataset, tmp_path / "main", workers=0)
    assert len(with_workers) == len(without) == 5
    for (paths, inputs), (paths0, inputs0) in zip(with_workers, without, strict=True):
        assert paths == paths0 and torch.equal(inputs, inputs0)
    # The workers saw the epoch change: a file's crop in epoch 1 is not its crop in epoch 0.
    crops = {
        (step // 2, path): x
        for step, (paths, xs) in enumerate(without)
        for path, x in zip(paths, xs, strict=True)
    }
    assert any(not torch.equal(crops[0, path], crops[1, path]) for (e, path) in crops if e == 0)


def test_workers_is_an_alias_of_num_workers() -> None:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, Pix2PixConfig)
    assert parser.parse_args(["--workers", "3"]).num_workers == 3
    assert parser.parse_args(["--num-workers", "1"]).num_workers == 1
