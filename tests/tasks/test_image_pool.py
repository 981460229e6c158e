"""ImagePool: the reference behaviour, deterministic from torch's RNG, and resumable."""

from __future__ import annotations

import io

import pytest
import torch

from img2img.tasks.image_pool import ImagePool


def images(count: int, start: int = 0) -> torch.Tensor:
    """``count`` 3x2x2 images, image i filled with the value start + i (so each is traceable)."""
    values = torch.arange(start, start + count, dtype=torch.float32)
    return values[:, None, None, None].expand(count, 3, 2, 2).clone()


def ids(batch: torch.Tensor) -> list[int]:
    return [int(image[0, 0, 0]) for image in batch]


def test_size_zero_passes_images_through() -> None:
    pool = ImagePool(0)
    batch = images(4).requires_grad_(True)
    out = pool.query(batch)
    assert torch.equal(out, batch) and not out.requires_grad and len(pool) == 0


def test_empty_until_it_has_seen_images_then_filled_with_what_it_returned() -> None:
    pool = ImagePool(5)
    assert len(pool) == 0
    assert ids(pool.query(images(3))) == [0, 1, 2]
    assert len(pool) == 3
    # Filling up: the first two images of this batch are stored and returned as they are.
    out = ids(pool.query(images(2, start=3)))
    assert out == [3, 4] and len(pool) == 5


def test_once_full_returns_the_new_image_or_swaps_out_a_stored_one_with_probability_half() -> None:
    torch.manual_seed(0)
    pool = ImagePool(10)
    pool.query(images(10))
    swaps, queries = 0, 4000
    for i in range(queries):
        new = 100 + i
        before = set(ids(torch.stack(pool.images)))
        (out,) = ids(pool.query(images(1, start=new)))
        stored = ids(torch.stack(pool.images))
        assert len(stored) == 10, "never more than its size"
        if out == new:
            assert set(stored) == before, "a returned new image is not stored"
        else:
            swaps += 1
            assert out in before and new in stored and out not in stored
    assert abs(swaps / queries - 0.5) < 0.03, swaps / queries


def test_draws_come_from_the_global_torch_rng() -> None:
    def run() -> list[int]:
        torch.manual_seed(7)
        pool = ImagePool(4)
        return [id_ for i in range(10) for id_ in ids(pool.query(images(2, start=2 * i)))]

    assert run() == run()


def test_state_round_trip_continues_identically() -> None:
    torch.manual_seed(1)
    pool = ImagePool(4)
    for i in range(5):
        pool.query(images(2, start=2 * i))
    buffer = io.BytesIO()
    torch.save(pool.state_dict(), buffer)  # as in trainer_state.pt
    buffer.seek(0)
    restored = ImagePool(4)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    rng = torch.get_rng_state()
    expected = [ids(pool.query(images(2, start=20 + 2 * i))) for i in range(6)]
    torch.set_rng_state(rng)
    actual = [ids(restored.query(images(2, start=20 + 2 * i))) for i in range(6)]
    assert actual == expected
    assert ids(torch.stack(restored.images)) == ids(torch.stack(pool.images))


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        ImagePool(-1)
    with pytest.raises(ValueError, match="--pool-size"):
        ImagePool(3).load_state_dict(ImagePool(5).state_dict())


def test_a_nonfinite_image_is_returned_but_never_stored() -> None:
    pool = ImagePool(5)
    batch = images(3)
    batch[1, 0, 0, 0] = float("nan")
    out = pool.query(batch)
    assert ids(out[[0, 2]]) == [0, 2] and torch.isnan(out[1]).any()
    assert len(pool) == 2 and all(torch.isfinite(image).all() for image in pool.images)
