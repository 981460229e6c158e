"""The style generator's training-time parts (img2img.tasks.style): style mixing's cutoff,
the path-length schedule and the weight of its term, each against hand-stated values."""

from __future__ import annotations

import torch

from img2img.losses.path_length import path_length_penalty
from img2img.nets.stylegan import StyleGenerator
from img2img.tasks.style import PathLength, style_mixed_ws


def tiny_generator() -> StyleGenerator:
    """An eval-mode generator: its noise inputs are the fixed buffers, so the random draws
    a test replays are only the ones the code under test makes."""
    torch.manual_seed(0)
    generator = StyleGenerator(z_dim=8, w_dim=8, image_size=16, channels=1, ngf=4, mapping_layers=2)
    return generator.eval()


def first_mixed_layer(ws: torch.Tensor, w: torch.Tensor) -> int:
    """The first layer whose w is not ``w`` (len(ws[0]) when none)."""
    same = torch.isclose(ws[0], w[0].expand_as(ws[0])).all(dim=1).tolist()
    return same.index(False) if False in same else len(same)


def test_style_mixing_keeps_the_first_layer_and_mixes_from_every_later_cutoff() -> None:
    # The reference draws the cutoff uniformly in [1, num_ws): the first layer always keeps
    # the main latent's w, every later layer can start the mixing latent's.
    generator = tiny_generator()
    z, z_mix = torch.randn(2, 1, 8)
    w = generator.map(z)
    with torch.no_grad():
        cutoffs = {
            first_mixed_layer(style_mixed_ws(generator, z, z_mix, probability=1.0), w)
            for _ in range(200)
        }
        unmixed = style_mixed_ws(generator, z, z_mix, probability=0.0)
    assert cutoffs == set(range(1, generator.num_ws))  # num_ws = 6 at 16 px: cutoffs 1-5
    assert first_mixed_layer(unmixed, w) == generator.num_ws


def test_path_length_is_due_on_the_first_and_every_interval_th_generator_step() -> None:
    penalty = PathLength(weight=2.0, interval=4, device=torch.device("cpu"))
    due = [penalty.due(step) for step in range(1, 10)]
    assert due == [True, False, False, False, True, False, False, False, True]


def test_the_path_length_term_is_weight_times_interval_times_half_a_batch_penalty() -> None:
    # Replays the term's random draws by hand: latents for n // 2 = 3 samples, the mixing
    # cutoff and coin (no mixing by default), then the penalty's own projection noise.
    generator = tiny_generator()
    penalty = PathLength(weight=2.0, interval=4, device=torch.device("cpu"))
    logs: dict[str, float] = {}
    torch.manual_seed(1)
    term = penalty.term(generator, n=6, logs=logs)

    torch.manual_seed(1)
    z, _ = torch.randn(2, 3, 8)
    torch.randint(1, generator.num_ws, ()), torch.rand(())
    ws = generator.broadcast(generator.map(z))
    expected, _ = path_length_penalty(generator.synthesis(ws), ws, torch.zeros(()))
    torch.testing.assert_close(torch.tensor(logs["path_length"]), expected.detach())
    torch.testing.assert_close(term.detach(), 2.0 * 4 * expected.detach())
    assert term.requires_grad  # it trains the generator
