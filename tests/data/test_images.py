"""img2img.images: each input kind comes back as itself; bad files give clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from img2img.images import (
    IMAGE_EXTENSIONS,
    ImageError,
    ImageTooLarge,
    is_image_file,
    load_image,
    pil_to_tensor,
    tensor_to_pil,
    to_tensor,
)


@pytest.fixture
def rgb() -> np.ndarray:
    """A 5x7 image holding every uint8 level somewhere, so rounding errors show up."""
    levels = np.arange(5 * 7 * 3, dtype=np.int64) * 3 % 256
    return levels.astype(np.uint8).reshape(5, 7, 3)


def assert_is_batch(tensor: torch.Tensor, height: int, width: int) -> None:
    assert tensor.shape == (1, 3, height, width)
    assert tensor.dtype == torch.float32
    assert tensor.min() >= -1.0 and tensor.max() <= 1.0


def test_extensions_are_case_insensitive():
    assert {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"} == IMAGE_EXTENSIONS
    assert is_image_file("a/B.JPG") and is_image_file("x.Tiff")
    assert not is_image_file("notes.txt") and not is_image_file("png")


def test_uint8_levels_survive_the_float_round_trip():
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    image = Image.fromarray(np.stack([levels] * 3, axis=-1))
    tensor = pil_to_tensor(image)
    assert tensor.min() == -1.0 and tensor.max() == 1.0
    assert np.array_equal(np.asarray(tensor_to_pil(tensor)), np.asarray(image))


def test_tensor_to_pil_rounds_and_clamps():
    tensor = torch.tensor([-3.0, -1.0, 0.0, 1.0, 5.0]).view(1, 1, 5).expand(3, 1, 5)
    assert np.asarray(tensor_to_pil(tensor))[0, :, 0].tolist() == [0, 0, 128, 255, 255]
    assert tensor_to_pil(torch.zeros(1, 1, 2, 2)).mode == "L"


def test_path_round_trip(tmp_path, rgb):
    path = tmp_path / "im.png"
    Image.fromarray(rgb).save(path)
    for given in (path, str(path)):
        tensor, back = to_tensor(given)
        assert_is_batch(tensor, 5, 7)
        result = back(tensor)
        assert isinstance(result, Image.Image)
        assert np.array_equal(np.asarray(result), rgb)


def test_pil_round_trip(rgb):
    tensor, back = to_tensor(Image.fromarray(rgb))
    assert_is_batch(tensor, 5, 7)
    result = back(tensor)
    assert isinstance(result, Image.Image) and result.mode == "RGB"
    assert np.array_equal(np.asarray(result), rgb)


def test_numpy_rgb_round_trip(rgb):
    tensor, back = to_tensor(rgb)
    assert_is_batch(tensor, 5, 7)
    result = back(tensor)
    assert isinstance(result, np.ndarray) and result.dtype == np.uint8
    assert np.array_equal(result, rgb)


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1)])
def test_numpy_grayscale_round_trip(shape):
    gray = (np.arange(35, dtype=np.int64) * 7 % 256).astype(np.uint8).reshape(shape)
    tensor, back = to_tensor(gray)
    assert_is_batch(tensor, 5, 7)
    assert torch.equal(tensor[:, 0], tensor[:, 1]) and torch.equal(tensor[:, 0], tensor[:, 2])
    result = back(tensor)
    assert result.shape == shape and result.dtype == np.uint8
    assert np.array_equal(result, gray)


def test_numpy_rgba_is_composited_over_white():
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)
    tensor, back = to_tensor(rgba)
    result = back(tensor)
    assert result.shape == (2, 2, 3)
    assert result[0, 0].tolist() == [10, 20, 30]
    assert result[1, 1].tolist() == [255, 255, 255]


def test_back_follows_the_output_size_not_the_input_size(rgb):
    """A super-resolution output is larger than its input; back() must not assume otherwise."""
    _, back = to_tensor(rgb[:, :, 0])
    assert back(torch.zeros(1, 3, 20, 28)).shape == (20, 28)


def test_float_tensor_round_trip_keeps_rank_dtype_and_values():
    batch = torch.rand(2, 3, 4, 5, dtype=torch.float64) * 2 - 1
    tensor, back = to_tensor(batch)
    assert tensor.shape == (2, 3, 4, 5) and tensor.dtype == torch.float32
    result = back(tensor)
    assert result.shape == batch.shape and result.dtype == torch.float64
    assert torch.allclose(result, batch, atol=1e-6)

    single = batch[0].half()
    tensor, back = to_tensor(single)
    assert tensor.shape == (1, 3, 4, 5)
    result = back(tensor)
    assert result.shape == (3, 4, 5) and result.dtype == torch.float16
    assert torch.equal(result, single)


def test_float_tensor_output_is_not_clamped():
    _, back = to_tensor(torch.zeros(3, 2, 2))
    assert back(torch.full((1, 3, 2, 2), 1.5)).max() == 1.5


@pytest.mark.parametrize("shape", [(3, 5, 7), (1, 3, 5, 7)])
def test_uint8_tensor_round_trip_is_exact(shape, rgb):
    image = torch.from_numpy(rgb).permute(2, 0, 1).reshape(shape)
    tensor, back = to_tensor(image)
    assert_is_batch(tensor, 5, 7)
    result = back(tensor)
    assert result.dtype == torch.uint8 and result.shape == shape
    assert torch.equal(result, image)


def test_grayscale_tensor_comes_back_grayscale():
    gray = torch.linspace(-1, 1, 12).view(1, 1, 3, 4)
    tensor, back = to_tensor(gray)
    assert tensor.shape == (1, 3, 3, 4)
    assert torch.allclose(back(tensor), gray, atol=1e-6)


@pytest.mark.parametrize(
    ("image", "error", "hint"),
    [
        (np.zeros((4, 4, 3), dtype=np.float32), TypeError, "astype(np.uint8)"),
        (np.zeros((3, 5, 6), dtype=np.uint8), ValueError, "transpose(1, 2, 0)"),
        (torch.zeros(4, 4, 3), ValueError, "permute(2, 0, 1)"),
        (torch.zeros(3, 4, 4, dtype=torch.int64), TypeError, "int64"),
        ([[0, 1]], TypeError, "list"),
    ],
)
def test_unsupported_inputs_name_the_fix(image, error, hint):
    with pytest.raises(error) as info:
        to_tensor(image)
    assert hint in str(info.value)


def save_png(array: np.ndarray, path, **kwargs) -> None:
    Image.fromarray(array).save(path, **kwargs)


def test_load_grayscale(tmp_path):
    save_png(np.array([[0, 77, 255]], dtype=np.uint8), tmp_path / "gray.png")
    image = load_image(tmp_path / "gray.png")
    assert image.mode == "RGB"
    assert np.asarray(image)[0].tolist() == [[0, 0, 0], [77, 77, 77], [255, 255, 255]]


def test_load_grayscale_with_alpha_goes_over_white(tmp_path):
    la = np.array([[[0, 255], [0, 0], [0, 128]]], dtype=np.uint8)
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    assert np.asarray(load_image(tmp_path / "la.png"))[0, :, 0].tolist() == [0, 255, 127]


def test_load_rgba_goes_over_white(tmp_path):
    rgba = np.array([[[200, 0, 0, 255], [200, 0, 0, 0], [0, 0, 0, 128]]], dtype=np.uint8)
    save_png(rgba, tmp_path / "rgba.png")
    pixels = np.asarray(load_image(tmp_path / "rgba.png"))[0].tolist()
    assert pixels == [[200, 0, 0], [255, 255, 255], [127, 127, 127]]


def test_load_palette_with_and_without_transparency(tmp_path):
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "p.png")
    assert np.asarray(load_image(tmp_path / "p.png"))[0].tolist() == [[255, 0, 0], [0, 0, 255]]
    palette.save(tmp_path / "p_transparent.png", transparency=1)
    pixels = np.asarray(load_image(tmp_path / "p_transparent.png"))[0].tolist()
    assert pixels == [[255, 0, 0], [255, 255, 255]]


def test_load_sixteen_bit_png_scales_to_eight_bits(tmp_path):
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    save_png(values, tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as raw:
        assert raw.mode.startswith("I")  # the file really is 16-bit
    image = load_image(tmp_path / "deep.png")
    assert image.mode == "RGB"
    assert np.asarray(image)[0, :, 0].tolist() == [0, 1, 128, 255]


def test_load_cmyk(tmp_path):
    Image.new("CMYK", (4, 4), (0, 0, 0, 0)).save(tmp_path / "cmyk.jpg")
    image = load_image(tmp_path / "cmyk.jpg")
    assert image.mode == "RGB"
    assert np.asarray(image).min() >= 250  # no ink is white


def test_load_applies_exif_orientation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    Image.new("RGB", (8, 2), (0, 128, 0)).save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").size == (2, 8)


def test_truncated_jpeg_names_file_and_reason(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = tmp_path / "17.jpg"
    Image.fromarray(noise).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as info:
        load_image(path)
    message = str(info.value)
    assert message.startswith(f"{path}: cannot decode image")
    assert "truncated" in message
    assert info.value.path == path and isinstance(info.value, ValueError)


def test_text_file_with_image_extension(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n")
    with pytest.raises(ImageError, match=r"notes\.png: not an image in a format img2img reads"):
        load_image(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match=r"nope\.jpg: no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)


def test_float_image_is_refused_with_a_fix(tmp_path):
    Image.fromarray(np.zeros((2, 2), dtype=np.float32)).save(tmp_path / "depth.tif")
    with pytest.raises(
        ImageError, match=r"depth\.tif: 32-bit float image.*save it as 8- or 16-bit"
    ):
        load_image(tmp_path / "depth.tif")


def _png_header_only(path, width: int, height: int) -> None:
    """A PNG whose header claims ``width`` x ``height`` but holds no pixel data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))


def test_huge_images_are_refused_before_decoding(tmp_path) -> None:
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 100_000, 100_000)
    with pytest.raises(ImageTooLarge, match=r"bomb\.png: .*over the limit") as caught:
        load_image(bomb)
    assert str(caught.value).count(str(bomb)) == 1  # named once, not wrapped twice
    assert caught.value.reason.startswith("100000x100000 pixels is over the limit")
    assert (caught.value.width, caught.value.height) == (100_000, 100_000)
    small = tmp_path / "small.png"
    Image.new("RGB", (20, 20)).save(small)
    with pytest.raises(ImageError, match=r"20x20 pixels is over the limit of 100 pixels"):
        load_image(small, max_pixels=100)
    assert load_image(small).size == (20, 20)


def test_reduce_to_decodes_a_large_jpeg_at_a_reduced_scale(tmp_path) -> None:
    photo, drawing = tmp_path / "photo.jpg", tmp_path / "drawing.png"
    Image.new("RGB", (400, 300), (200, 30, 30)).save(photo)
    Image.new("RGB", (400, 300)).save(drawing)
    # The smallest of 1/2, 1/4, 1/8 holding the pixels asked for: 1/8 (50 x 38) holds 1,000,
    # 1/4 (100 x 75) is needed for 7,500.
    assert load_image(photo, reduce_to=1_000).size == (50, 38)
    assert load_image(photo, max_pixels=10_000, reduce_to=7_500).size == (100, 75)
    assert load_image(photo, reduce_to=200_000).size == (400, 300)
    assert load_image(drawing, reduce_to=1_000).size == (400, 300)  # PNG: no reduced decode
    with pytest.raises(ImageTooLarge, match="400x300 pixels is over the limit of 7,499"):
        load_image(photo, max_pixels=7_499, reduce_to=7_500)  # names the file's own size
