"""2-D point sets as data (``--data points.csv``) and the JS divergence estimate."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from img2img.cli import main
from img2img.data.toy import (
    Mixture,
    get_mixture,
    is_toy,
    js_divergence,
    parse_points,
    read_points,
    write_points,
)


def test_a_csv_of_points_is_a_mixture_around_them(tmp_path: Path) -> None:
    path = tmp_path / "shape.csv"
    path.write_text("x,y\n0,0\n\n1.5, -2\n")  # a header, a blank line, spaces
    assert is_toy(str(path)) and is_toy("toy:ring8") and not is_toy(str(tmp_path))
    mixture = get_mixture(str(path))
    assert mixture.modes.tolist() == [[0.0, 0.0], [1.5, -2.0]] and mixture.std == 0.05
    write_points(tmp_path / "again.csv", mixture.modes)
    assert torch.equal(read_points(tmp_path / "again.csv"), mixture.modes)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x,y\n1,2\n3,oops\n", r"line 3: expected two numbers x,y, got '3,oops'"),
        ("1,2,3\n", r"line 1: expected two numbers"),
        ("1,2\nnan,0\n", r"line 2: the coordinates must be finite"),
        ("x,y\n", r"no points"),
    ],
)
def test_bad_points_are_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_points(text, "shape.csv")


def test_a_missing_points_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"gone\.csv: cannot read the points file"):
        get_mixture(str(tmp_path / "gone.csv"))


def test_the_gan_trains_on_a_csv_and_samples_without_it(tmp_path: Path) -> None:
    points = tmp_path / "points.csv"
    write_points(points, torch.tensor([[0.0, 1.0], [1.0, 0.0], [-1.0, -1.0]]))
    out = tmp_path / "run"
    main(["train", "--task", "gan", "--data", str(points), "--max-steps", "2", "--out", str(out),
          "--device", "cpu", "--hidden", "8"])  # fmt: skip
    points.unlink()  # the samples need the generator only
    main(["sample", "--model", str(out), "-n", "20", "-o", str(tmp_path / "samples.png")])
    assert (tmp_path / "samples.png").stat().st_size > 0


def test_js_divergence_of_hand_counted_histograms() -> None:
    """One mode with a tiny std, in the middle of an odd grid (31 bins over [-1, 1]): every
    reference point falls in the bin of (0, 0). Samples
    there score 0, samples outside the grid 1, and half of each: p = (1/2 in the bin, 1/2
    outside), q = (1 in the bin), m = (3/4, 1/4): KL(p||m) = 1/2 log2(2/3) + 1/2 log2(2),
    KL(q||m) = log2(4/3), JS = (KL(p||m) + KL(q||m)) / 2 = 0.311278."""
    mixture = Mixture("dot", torch.tensor([[0.0, 0.0]]), 1e-4)
    inside, outside = torch.zeros(100, 2), torch.full((100, 2), 50.0)
    assert js_divergence(inside, mixture, bins=31) == 0.0
    assert js_divergence(outside, mixture, bins=31) == pytest.approx(1.0)
    half = torch.cat([inside, outside])
    expected = (0.5 * math.log2(2 / 3) + 0.5 + math.log2(4 / 3)) / 2
    assert js_divergence(half, mixture, bins=31) == pytest.approx(expected, abs=1e-9)
    ring = get_mixture("toy:ring8")
    assert js_divergence(ring.sample(1000)[0], ring) < 0.05  # the mixture's own samples
