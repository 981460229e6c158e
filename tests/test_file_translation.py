"""``img2img translate`` on folders and globs: names, formats and layout kept, equal sizes
batched (without changing any result), unreadable files skipped and counted, inputs never
overwritten."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_PIX2PIX, save_untrained_model
from PIL import Image

from img2img.cli import main
from img2img.file_translation import Job, plan_jobs, translate_jobs
from img2img.infer import load


def picture(path: Path, size: tuple[int, int], seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return save_untrained_model(tmp_path / "model", "pix2pix", **TINY_PIX2PIX)


def test_a_folder_keeps_names_formats_and_layout_and_skips_broken_files(
    model: Path, tmp_path: Path, capsys
) -> None:
    source = tmp_path / "in"
    a = picture(source / "a.png", (32, 32), 1)
    picture(source / "b.jpg", (32, 32), 2)
    picture(source / "sub" / "c.png", (40, 24), 3)
    (source / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    argv = ["translate", "--model", str(model), str(source), "-o", f"{out}/", "--engine", "torch"]
    with pytest.raises(SystemExit) as exit:
        main([*argv, "--batch-size", "2", "--no-progress"])
    assert exit.value.code == 1
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == [
        "a.png",
        "b.jpg",
        "sub/c.png",
    ]
    assert Image.open(out / "b.jpg").format == "JPEG"
    assert Image.open(out / "sub" / "c.png").size == (40, 24)
    error = capsys.readouterr().err
    assert error.count("broken.png") == 1 and "1 file failed and was skipped" in error
    # a.png ran in a batch with b.jpg: the same result as on its own.
    alone = np.array(load(model, "cpu", engine="torch")(a))
    np.testing.assert_array_equal(np.array(Image.open(out / "a.png")), alone)


def test_globs_suffix_and_extension(model: Path, tmp_path: Path) -> None:
    picture(tmp_path / "in" / "x.png", (32, 32))
    picture(tmp_path / "in" / "y.png", (32, 32))
    picture(tmp_path / "in" / "z.bmp", (32, 32))
    out = tmp_path / "out"
    pattern = str(tmp_path / "in" / "*.png")
    options = ["--suffix", "_t", "--ext", "jpg", "--engine", "torch", "--no-progress"]
    main(["translate", "--model", str(model), pattern, "-o", str(out), *options])
    assert sorted(p.name for p in out.iterdir()) == ["x_t.jpg", "y_t.jpg"]


def test_equal_sizes_are_batched_and_waiting_images_are_bounded(tmp_path: Path) -> None:
    sizes = [(32, 32), (40, 24), (32, 32), (32, 32), (40, 24)]
    jobs = [
        Job(picture(tmp_path / f"{i}.png", size, i), tmp_path / "out" / f"{i}.png")
        for i, size in enumerate(sizes)
    ]

    class Identity:
        batches: list[int] = []  # noqa: RUF012

        def translate_tensor(self, x: torch.Tensor) -> torch.Tensor:
            self.batches.append(len(x))
            return x

    assert translate_jobs(Identity(), jobs, batch_size=2, progress=False) == []
    assert Identity.batches == [2, 2, 1]  # each pair as it fills up, then the last 32x32
    for job in jobs:
        assert np.array_equal(np.array(Image.open(job.target)), np.array(Image.open(job.source)))


def test_inputs_are_never_overwritten_nor_written_twice(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    a = picture(folder / "a.png", (8, 8))
    picture(folder / "a.jpg", (8, 8))
    with pytest.raises(ValueError, match=r"a\.png: its output .* is an input file"):
        plan_jobs([str(a)], str(a))
    with pytest.raises(ValueError, match="is an input file"):
        plan_jobs([str(folder)], str(folder))
    with pytest.raises(ValueError, match="would both be written to"):
        plan_jobs([str(folder)], str(tmp_path / "out"), ext="png")
    assert [job.target.name for job in plan_jobs([str(folder)], str(folder), "_t")] == [
        "a_t.jpg",
        "a_t.png",
    ]
    with pytest.raises(FileNotFoundError, match="no file matches"):
        plan_jobs([str(tmp_path / "*.gif")], str(tmp_path / "out"))
    with pytest.raises(ValueError, match=r"--ext \.xyz"):
        plan_jobs([str(a)], str(tmp_path / "out"), ext="xyz")


def test_one_file_to_one_file(tmp_path: Path) -> None:
    a = picture(tmp_path / "a.png", (8, 8))
    assert plan_jobs([str(a)], str(tmp_path / "b.jpg")) == [Job(a, tmp_path / "b.jpg")]
    assert plan_jobs([str(a)], f"{tmp_path / 'out'}/") == [Job(a, tmp_path / "out" / "a.png")]
