"""Fuzz the image loader: a folder of a few hundred damaged or odd files next to good ones.

Every file either loads as an RGB image or raises :class:`img2img.images.ImageError` naming
it; training skips the unusable ones, counts each once per epoch, keeps the count across a
resume and never crashes; ``translate`` on a bad file raises that one exception type.
The files are generated (seeded), so the test needs no data and takes seconds.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_pix2pix
from PIL import Image

from img2img import images, translate
from img2img.config import merge
from img2img.data.folders import split_aligned
from img2img.images import ImageError, load_image
from img2img.reporting import read_loss_log
from img2img.tasks.cyclegan import CycleGAN, CycleGANConfig
from img2img.train import Trainer

HALF = 16  # each good file is an A|B pair of HALF x HALF halves
# The file kinds, (name, outcome): "ok" must load, "bad" must raise ImageError, and
# "either" (random byte flips) may do either, but nothing else.
OK, BAD, EITHER = "ok", "bad", "either"


def pair_array(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (HALF, 2 * HALF, 3), dtype=np.uint8)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels and holds no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


FORMATS = (("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp"), ("TIFF", ".tif"), ("BMP", ".bmp"))


def odd_files(rng: np.random.Generator) -> dict[str, Callable[[], tuple[bytes, str]]]:
    """Makers of one file per kind: name -> () -> (bytes, outcome)."""

    def good_pair() -> Image.Image:
        return Image.fromarray(pair_array(rng))

    def truncated() -> tuple[bytes, str]:
        fmt, _ = FORMATS[rng.integers(len(FORMATS))]
        data = encode(good_pair(), fmt)
        return data[: int(len(data) * rng.uniform(0.05, 0.8))], BAD

    def flipped() -> tuple[bytes, str]:
        fmt, _ = FORMATS[rng.integers(len(FORMATS))]
        data = bytearray(encode(good_pair(), fmt))
        for position in rng.integers(0, len(data), rng.integers(1, 12)):
            data[position] = rng.integers(256)
        return bytes(data), EITHER

    def sixteen_bit() -> tuple[bytes, str]:
        gray = rng.integers(0, 65536, (HALF, 2 * HALF), dtype=np.uint16)
        return encode(Image.fromarray(gray), "PNG"), OK

    def exif_rotated() -> tuple[bytes, str]:
        exif = Image.Exif()
        exif[0x0112] = 6  # stored portrait, shown as the landscape A|B pair
        return encode(good_pair().transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif), OK

    def animated(fmt: str) -> Callable[[], tuple[bytes, str]]:
        def make() -> tuple[bytes, str]:
            frames = [good_pair() for _ in range(3)]
            return encode(frames[0], fmt, save_all=True, append_images=frames[1:]), OK

        return make

    return {
        "truncated": truncated,
        "flipped": flipped,
        "random.png": lambda: (bytes(rng.integers(0, 256, rng.integers(1, 3000), np.uint8)), BAD),
        "zero.jpg": lambda: (b"", BAD),
        "text.png": lambda: (b"<html><body>404 Not Found</body></html>\n", BAD),
        "postscript.png": lambda: (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\n", BAD),
        "bomb.png": lambda: (png_header_only(100_000, 100_000), BAD),
        "odd_width.png": lambda: (encode(Image.new("RGB", (2 * HALF + 1, HALF)), "PNG"), BAD),
        "float.tif": lambda: (encode(Image.new("F", (2 * HALF, HALF)), "TIFF"), BAD),
        "png_named.jpg": lambda: (encode(good_pair(), "PNG"), OK),
        "sixteen.png": sixteen_bit,
        "palette.png": lambda: (encode(good_pair().convert("P"), "PNG", transparency=3), OK),
        "cmyk.jpg": lambda: (encode(good_pair().convert("CMYK"), "JPEG"), OK),
        "bilevel.tif": lambda: (encode(good_pair().convert("1"), "TIFF"), OK),
        "exif.jpg": exif_rotated,
        "animated.png": animated("PNG"),
        "animated.webp": animated("WEBP"),
        "animated.gif": animated("GIF"),  # not a training extension: found by translate only
    }


# How many files of each kind: 24 good + 296 odd, 296 of them with training extensions.
COUNTS = {"truncated": 60, "flipped": 80, "random.png": 40, "zero.jpg": 10, "text.png": 10}
DEFAULT_COUNT = 6
BATCH = 37  # divides the 296 training files, so one epoch visits each exactly once


def write_fuzz_folder(root: Path, seed: int = 0, good: int = 24) -> dict[Path, str]:
    """``good`` plain A|B PNGs and the odd files; returns each path's expected outcome."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    expected: dict[Path, str] = {}
    for i in range(good):
        Image.fromarray(pair_array(rng)).save(root / f"good_{i:03d}.png")
        expected[root / f"good_{i:03d}.png"] = OK
    for kind, make in odd_files(rng).items():
        for i in range(COUNTS.get(kind, DEFAULT_COUNT)):
            data, outcome = make()
            suffix = Path(kind).suffix or FORMATS[i % len(FORMATS)][1]
            path = root / f"{Path(kind).stem}_{i:03d}{suffix}"
            path.write_bytes(data)
            expected[path] = outcome
    return expected


def usable_pair(path: Path) -> bool:
    try:
        split_aligned(load_image(path), path)
    except ImageError:
        return False
    return True


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[Path, str]]:
    root = tmp_path_factory.mktemp("fuzz")
    return root, write_fuzz_folder(root / "data" / "train")


def test_every_file_loads_or_raises_image_error_naming_it(fuzz) -> None:
    _, expected = fuzz
    assert len(expected) >= 300
    outcomes = {OK: 0, BAD: 0}
    for path, outcome in expected.items():
        try:
            image = load_image(path)
            split_aligned(image, path)  # what makes an A|B pair usable
        except ImageError as error:
            assert outcome != OK, f"{path.name} should load: {error}"
            assert error.path == path and str(error).startswith(f"{path}: ")
            outcomes[BAD] += 1
            continue
        assert outcome != BAD, f"{path.name} should have been refused"
        assert image.mode == "RGB"
        assert outcome == EITHER or image.size == (2 * HALF, HALF), path.name
        outcomes[OK] += 1
    assert outcomes[OK] >= 24 + 10 * DEFAULT_COUNT and outcomes[BAD] >= 150


def test_the_pixel_limit_is_checked_from_the_header_and_is_the_only_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(100_000, 100_000))
    with pytest.raises(ImageError, match=r"bomb\.png: 100000x100000 pixels is over the limit"):
        load_image(bomb)
    # PIL's own check (an error above twice its 89 Mpx) no longer decides: a limit raised
    # to 10^8 still refuses 14000 x 14000 = 196 Mpx with img2img's message, and the
    # default 89 Mpx limit refuses 10000 x 10000 without PIL's DecompressionBombWarning.
    bomb.write_bytes(png_header_only(14_000, 14_000))
    monkeypatch.setattr(images, "MAX_PIXELS", 10**8)
    with pytest.raises(ImageError, match=r"14000x14000 pixels is over the limit of 100,000,000"):
        load_image(bomb)
    monkeypatch.undo()
    bomb.write_bytes(png_header_only(10_000, 10_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError, match=r"10000x10000 pixels is over the limit of 89,"):
            load_image(bomb)
    assert Image.MAX_IMAGE_PIXELS == images.MAX_PIXELS  # PIL's setting is restored


def test_unreadable_and_empty_files_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.png: the file is empty \(0 bytes\)"):
        load_image(empty)

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)  # chmod 000 does not stop root
    with pytest.raises(ImageError, match=r"empty\.png: cannot read the file \(Permission denied"):
        load_image(empty)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_training_skips_bad_files_counts_each_once_per_epoch_and_resumes_the_count(
    fuzz, tmp_path: Path, one_thread: None
) -> None:
    root, expected = fuzz
    train = [p for p in expected if p.suffix != ".gif"]  # what find_images sees
    unusable = sum(not usable_pair(path) for path in train)
    assert len(train) % BATCH == 0
    steps = len(train) // BATCH  # exactly one epoch: every file visited once
    options = {"batch_size": BATCH, "num_samples": 1, "log_every": 1, "save_every": 2}
    options |= {"image_size": HALF, "load_size": HALF + 2, "d_layers": 1}  # small: fast
    run = tmp_path / "run"
    Trainer(tiny_pix2pix(root / "data", run, max_steps=steps // 2, **options)).fit()
    Trainer(tiny_pix2pix(root / "data", run, max_steps=steps, **options), resume=True).fit()
    records = read_loss_log(run / "losses.jsonl")
    assert [r["step"] for r in records] == list(range(1, steps + 1))
    assert records[-1]["skipped_images"] == unusable
    assert 150 <= unusable < len(train) - 24

    with pytest.raises(ImageError) as info:
        translate(next(p for p, o in expected.items() if o == BAD), run, device="cpu")
    assert str(info.value).startswith(str(info.value.path) + ": ")
    gif = next(p for p in expected if p.suffix == ".gif")
    assert translate(gif, run, device="cpu").size == (2 * HALF, HALF)  # first frame


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_unpaired_training_skips_bad_files_too(fuzz, tmp_path: Path, one_thread: None) -> None:
    """CycleGAN's folders: the fuzz files as domain A, good images as domain B. An epoch
    of the dataset counts each unreadable A file once; two training steps run."""
    root, expected = fuzz
    data = tmp_path / "unpaired"
    (data / "trainB").mkdir(parents=True)
    (data / "trainA").symlink_to(root / "data" / "train", target_is_directory=True)
    for path in [p for p, outcome in expected.items() if outcome == OK][:8]:
        (data / "trainB" / path.name).write_bytes(path.read_bytes())
    values = {"data": str(data), "out": str(tmp_path / "run"), "image_size": HALF}
    values |= {"load_size": HALF + 2, "ngf": 4, "ndf": 4, "resnet_blocks": 1, "d_layers": 1}
    values |= {"batch_size": 2, "max_steps": 2, "num_workers": 0, "device": "cpu"}
    config = merge(CycleGANConfig, values)
    dataset = CycleGAN.dataset(config, "train")
    unreadable = sum(not readable(path) for path in dataset.files["A"])
    assert sum(dataset[i]["skipped"] for i in range(len(dataset))) == unreadable > 100
    Trainer(config).fit()
    assert read_loss_log(tmp_path / "run" / "losses.jsonl")[-1]["step"] == 2


def readable(path: Path) -> bool:
    try:
        load_image(path)
    except ImageError:
        return False
    return True
