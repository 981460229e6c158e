"""EBGAN: the margin loss and the pulling-away term against hand-computed values, the
auto-encoder discriminators' energies, and the Adversary's auxiliary losses."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from img2img.config import merge
from img2img.losses import Adversary, get_objective
from img2img.losses.energy import (
    energy_g_loss,
    margin_d_loss,
    pulling_away_loss,
    pulling_away_term,
)
from img2img.nets.autoencoder import AutoEncoderDiscriminator
from img2img.nets.mlp import MLPAutoEncoder
from img2img.nets.outputs import DiscriminatorOutput
from img2img.tasks.cyclegan import CycleGANConfig
from img2img.tasks.gan import GANConfig


def test_margin_loss_is_per_sample_hinge_on_fake_energies() -> None:
    real = torch.tensor([1.0, 3.0])
    fake = torch.tensor([2.0, 12.0, 9.5, 0.0])
    # E D(x) = 2; [10 - e]+ per fake: 8, 0 (above the margin), 0.5, 10 -> mean 4.625
    assert margin_d_loss(real, fake, margin=10.0).item() == pytest.approx(2.0 + 4.625)
    # A batch-mean hinge would give [10 - 5.875]+ = 4.125 instead: the reduction matters.
    assert energy_g_loss(fake).item() == pytest.approx(23.5 / 4)


def test_ebgan_objective_takes_the_task_margin() -> None:
    ebgan = get_objective("ebgan")
    assert ebgan.energy and ebgan.margin == 10.0 and not ebgan.probabilities
    real, fake = torch.tensor([0.5]), torch.tensor([3.0])
    assert ebgan.d_loss(real, fake).item() == pytest.approx(0.5 + 7.0)
    wide = ebgan.with_margin(20.0)
    assert wide.margin == 20.0 and wide.d_loss(real, fake).item() == pytest.approx(0.5 + 17.0)
    assert ebgan.d_loss(real, fake).item() == pytest.approx(7.5)  # the registry is untouched
    with pytest.raises(ValueError, match="no margin"):
        get_objective("hinge").with_margin(1.0)
    with pytest.raises(ValueError, match="no margin"):  # a margin its d_loss cannot take
        dataclasses.replace(get_objective("hinge"), margin=1.0).with_margin(2.0)
    with pytest.raises(ValueError, match="positive"):
        ebgan.with_margin(0.0)


def test_pulling_away_term_by_hand() -> None:
    # Codes (1, 0), (1, 1), (0, 2): cosines 1/sqrt2, 0, 1/sqrt2 -> squares 1/2, 0, 1/2,
    # each pair counted twice over i != j: (2 * 1/2 + 0 + ... ) / (3 * 2) = 2 / 6.
    codes = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    assert pulling_away_term(codes).item() == pytest.approx(1 / 3)
    assert pulling_away_term(torch.eye(4)).item() == pytest.approx(0.0)
    same = torch.tensor([[1.0, 2.0], [2.0, 4.0], [-3.0, -6.0]])
    assert pulling_away_term(same).item() == pytest.approx(1.0)  # sign and scale ignored
    maps = codes.reshape(3, 2, 1, 1)  # convolutional codes are flattened per sample
    assert pulling_away_term(maps).item() == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="at least 2"):
        pulling_away_term(codes[:1])
    with pytest.raises(ValueError, match="codes"):
        pulling_away_loss({})


@pytest.mark.parametrize(
    "net, x",
    [
        (AutoEncoderDiscriminator(image_size=32, channels=1, ndf=4), torch.randn(3, 1, 32, 32)),
        (AutoEncoderDiscriminator(image_size=28, channels=3, ndf=4), torch.randn(3, 3, 28, 28)),
        (MLPAutoEncoder(hidden=16, layers=2, code_dim=5), torch.randn(3, 2)),
    ],
)
def test_autoencoder_energy_is_the_summed_squared_error(net: nn.Module, x: torch.Tensor) -> None:
    out = net(x)
    assert isinstance(out, DiscriminatorOutput)
    recon = out.aux["reconstruction"]
    assert recon.shape == x.shape and out.logits.shape == (3,)
    expected = ((recon - x) ** 2).reshape(3, -1).sum(dim=1)
    torch.testing.assert_close(out.logits, expected)
    assert len(out.aux["codes"]) == 3
    if x.dim() == 4:  # the code is the base x base map of the DCGAN layout
        expected_code = (16, 4, 4) if x.shape[-1] == 32 else (8, 7, 7)
        assert out.aux["codes"].shape[1:] == expected_code


class _Energies(nn.Module):
    """Energy = squared norm of the input, codes = the input: a discriminator whose
    verdicts are easy to compute by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> DiscriminatorOutput:
        return DiscriminatorOutput(logits=self.scale * x.pow(2).sum(1), aux={"codes": x})


def test_adversary_adds_aux_losses_from_the_fake_verdict() -> None:
    adversary = Adversary(
        _Energies(),
        objective=get_objective("ebgan").with_margin(4.0),
        aux_losses={"pt": (0.1, pulling_away_loss)},
    )
    real = torch.tensor([[1.0, 0.0]])
    fake = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]], requires_grad=True)
    # D loss: E D(x) = 1; fake energies 1, 2, 4 -> [4 - e]+ = 3, 2, 0 -> mean 5/3.
    loss, logs = adversary.d_loss(real, fake)
    assert loss.item() == pytest.approx(1 + 5 / 3) and logs["d_fake"] == pytest.approx(7 / 3)
    # G loss: mean energy 7/3 + 0.1 * PT (1/3, as above).
    g_loss = adversary.loss(fake)
    assert g_loss.item() == pytest.approx(7 / 3 + 0.1 / 3)
    assert adversary.g_logs == {"pt": pytest.approx(1 / 3)}
    g_loss.backward()
    assert fake.grad is not None and adversary.discriminator.scale.grad is None
    assert adversary.scores(real).tolist() == [1.0]  # probes see the energies


def test_energy_objectives_only_where_an_autoencoder_is_built() -> None:
    assert merge(GANConfig, {"objective": "ebgan"}).pt_weight == 0.1
    assert merge(GANConfig, {}).pt_weight == 0.0
    assert merge(GANConfig, {"data": "toy:ring8", "objective": "ebgan"}).margin == 0.5
    with pytest.raises(ValueError, match="ebgan"):
        merge(CycleGANConfig, {"objective": "ebgan"})


def test_the_pulling_away_term_of_two_codes_is_their_squared_cosine() -> None:
    codes = torch.tensor([[1.0, 0.0], [0.5, 3**0.5 / 2]])  # unit vectors 60 degrees apart
    assert pulling_away_term(codes * torch.tensor([[3.0], [0.5]])).item() == pytest.approx(0.25)
