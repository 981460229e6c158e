"""Tests for img2img.nets: paper parameter counts, shapes, receptive fields, registries,
normalisation, initialisation, spectral norm and dropout."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from img2img.nets import (
    DISCRIMINATORS,
    GENERATORS,
    NORMS,
    PatchGAN,
    ResNetGenerator,
    UNet,
    apply_spectral_norm,
    build_discriminator,
    build_generator,
    init_weights,
    norm_layer,
    receptive_field,
    unet_depth_for,
)

# Small but complete configurations of every registry entry, for tests where the
# behaviour, not the size, is the point. A new registry entry fails until it is added.
SMALL_GENERATORS = {
    "unet": {"ngf": 4, "num_downs": 5},
    "resnet": {"ngf": 4, "n_blocks": 2},
}
SMALL_DISCRIMINATORS = {"patchgan": {"in_channels": 3, "ndf": 4, "n_layers": 3}}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# Paper configurations. The counts were checked against the independent reference
# networks in /work/shared/bench/refnets.py (UNet256, PatchGAN, ResNetGen): equal.
@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: UNet(in_channels=3, out_channels=3, ngf=64, num_downs=8), 54_414_531),
        (lambda: PatchGAN(in_channels=6, ndf=64, n_layers=3, norm="batch"), 2_768_705),
        (lambda: ResNetGenerator(ngf=64, n_blocks=9, norm="instance"), 11_378_179),
    ],
    ids=["unet256", "patchgan70", "resnet9"],
)
def test_paper_parameter_counts(make, expected):
    with torch.device("meta"):  # shapes only: no memory, no init cost
        assert n_params(make()) == expected


@pytest.mark.parametrize("size", [128, 256])
@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_preserves_shape(name, size):
    kwargs = {"ngf": 8, "num_downs": unet_depth_for(size)} if name == "unet" else {"ngf": 8}
    net = build_generator(name, in_channels=3, out_channels=3, **kwargs).eval()
    x = torch.rand(1, 3, size, size) * 2 - 1
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape
    assert y.abs().max() <= 1  # Tanh output


def test_unet_with_other_channel_counts():
    net = UNet(in_channels=1, out_channels=2, ngf=4, num_downs=4).eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 1, 32, 48)).shape == (2, 2, 32, 48)


@pytest.mark.parametrize("size, depth", [(256, 8), (128, 7), (64, 6), (2, 1)])
def test_unet_depth_for(size, depth):
    assert unet_depth_for(size) == depth


@pytest.mark.parametrize("size", [0, 1, 200, 255])
def test_unet_depth_for_rejects_non_powers_of_two(size):
    with pytest.raises(ValueError, match="power of two"):
        unet_depth_for(size)


def test_size_multiple():
    assert UNet(ngf=4, num_downs=5).size_multiple == 32
    assert ResNetGenerator(ngf=4, n_blocks=1).size_multiple == 4


@pytest.mark.parametrize(
    "net, size",
    [(UNet(ngf=4, num_downs=5), 48), (ResNetGenerator(ngf=4, n_blocks=1), 30)],
    ids=["unet", "resnet"],
)
def test_generators_reject_sizes_they_cannot_preserve(net, size):
    with pytest.raises(ValueError, match="multiples of"):
        net(torch.zeros(1, 3, size, size))


def test_patchgan_paper_output_size():
    with torch.no_grad():
        logits = PatchGAN(ndf=4).eval()(torch.zeros(2, 6, 256, 256))
    assert logits.shape == (2, 1, 30, 30)


def measured_receptive_field(n_layers: int, size: int = 256) -> int:
    """Side of the input region that one central output logit depends on, found by
    backpropagating from that logit with all-positive weights (so no cancellation)."""
    net = PatchGAN(in_channels=1, ndf=2, n_layers=n_layers, norm="none").eval()
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.05)
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    out = net(x)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    grad = x.grad[0, 0].abs()
    extents = []
    for profile in (grad.sum(dim=1), grad.sum(dim=0)):  # over rows, over columns
        hit = profile.nonzero().flatten()
        first, last = hit.min().item(), hit.max().item()
        # The window must lie inside the image, or zero padding would truncate it.
        assert 0 < first and last < size - 1
        extents.append(last - first + 1)
    assert extents[0] == extents[1]
    return extents[0]


def test_patchgan_receptive_field_is_70():
    assert receptive_field(3) == 70
    assert measured_receptive_field(3) == 70


@pytest.mark.parametrize("n_layers", [0, 1, 2, 3, 4])
def test_receptive_field_formula_matches_network(n_layers):
    assert measured_receptive_field(n_layers) == receptive_field(n_layers)


def test_pixelgan():
    assert receptive_field(0) == 1
    net = PatchGAN(in_channels=6, ndf=8, n_layers=0, norm="batch")
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(1, 1)] * 3
    assert [(c.in_channels, c.out_channels) for c in convs] == [(6, 8), (8, 16), (16, 1)]
    assert net(torch.zeros(2, 6, 9, 7)).shape == (2, 1, 9, 7)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_every_generator_runs_with_every_norm(name, norm):
    net = build_generator(name, norm=norm, **SMALL_GENERATORS[name])
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = net(x)  # train mode: batch statistics, dropout on
    y.mean().backward()
    assert y.shape == x.shape and torch.isfinite(y).all()
    has_batch_norm = any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert has_batch_norm == (norm == "batch")


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", sorted(DISCRIMINATORS))
def test_every_discriminator_runs_with_every_norm(name, norm):
    net = build_discriminator(name, norm=norm, **SMALL_DISCRIMINATORS[name])
    logits = net(torch.rand(2, 3, 32, 32))
    logits.mean().backward()
    assert logits.shape[:2] == (2, 1) and torch.isfinite(logits).all()


def test_unknown_registry_names_list_valid_ones():
    with pytest.raises(ValueError, match="resnet, unet"):
        build_generator("vit")
    with pytest.raises(ValueError, match="patchgan"):
        build_discriminator("stylegan")


def test_unknown_norm_lists_valid_ones():
    with pytest.raises(ValueError, match="batch, instance, none"):
        norm_layer("group", 8)
    with pytest.raises(ValueError, match="batch, instance, none"):
        UNet(ngf=4, num_downs=3, norm="layer")


def test_norm_layer_kinds():
    assert isinstance(norm_layer("batch", 8), nn.BatchNorm2d)
    assert norm_layer("batch", 8).affine
    instance = norm_layer("instance", 8)
    assert isinstance(instance, nn.InstanceNorm2d)
    assert not instance.affine and not instance.track_running_stats
    assert isinstance(norm_layer("none", 8), nn.Identity)


def test_bias_only_where_no_batch_norm_follows():
    def biased(net):
        return [m.bias is not None for m in net.modules() if isinstance(m, nn.Conv2d)]

    # First conv (no norm), three normalised convs, output conv.
    assert biased(PatchGAN(ndf=4, norm="batch")) == [True, False, False, False, True]
    assert biased(PatchGAN(ndf=4, norm="instance")) == [True] * 5


def test_spectral_norm_parametrizes_every_conv():
    net = PatchGAN(in_channels=3, ndf=4, n_layers=2, norm="none", spectral_norm=True)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4
    assert all(parametrize.is_parametrized(c, "weight") for c in convs)
    x = torch.rand(1, 3, 32, 32)
    for _ in range(30):  # power iteration converges over training-mode forwards
        net(x)
    for c in convs:
        sigma = torch.linalg.matrix_norm(c.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.05)


def test_apply_spectral_norm_covers_linear_layers():
    mlp = apply_spectral_norm(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)))
    assert parametrize.is_parametrized(mlp[0], "weight")
    assert parametrize.is_parametrized(mlp[2], "weight")
    assert not parametrize.is_parametrized(PatchGAN(ndf=4).body[0], "weight")


@pytest.mark.parametrize(
    "kind, expected_std",
    [
        ("normal", lambda fan_in, fan_out: 0.02),
        ("xavier", lambda fan_in, fan_out: 0.02 * (2 / (fan_in + fan_out)) ** 0.5),
        ("kaiming", lambda fan_in, fan_out: (2 / fan_in) ** 0.5),
    ],
)
def test_init_weights_statistics(kind, expected_std):
    conv = nn.Conv2d(256, 256, 3)  # 590k weights: sample std within 1%
    init_weights(conv, kind=kind, gain=0.02)
    fan_in = fan_out = 256 * 9
    assert conv.weight.std().item() == pytest.approx(expected_std(fan_in, fan_out), rel=0.01)
    assert conv.weight.mean().abs().item() < 0.01 * expected_std(fan_in, fan_out)
    assert (conv.bias == 0).all()


def test_init_weights_orthogonal():
    layer = init_weights(nn.Linear(64, 32), kind="orthogonal", gain=0.5)
    gram = layer.weight @ layer.weight.T
    torch.testing.assert_close(gram, 0.25 * torch.eye(32), atol=1e-5, rtol=0)


def test_init_weights_batch_norm_and_transposed_conv():
    net = nn.Sequential(nn.ConvTranspose2d(128, 128, 4), nn.BatchNorm2d(4096))
    init_weights(net, gain=0.02)
    assert net[0].weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert net[1].weight.mean().item() == pytest.approx(1.0, abs=0.002)
    assert net[1].weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert (net[1].bias == 0).all()


def test_init_weights_reaches_spectrally_normed_weights():
    net = PatchGAN(in_channels=3, ndf=64, n_layers=1, norm="none", spectral_norm=True)
    init_weights(net, kind="normal", gain=0.02)
    original = net.body[2].parametrizations.weight.original  # 64 -> 128, 4x4: 131k weights
    assert original.std().item() == pytest.approx(0.02, rel=0.02)


def test_init_weights_rejects_unknown_kind():
    with pytest.raises(ValueError, match="normal, xavier, kaiming, orthogonal"):
        init_weights(nn.Linear(2, 2), kind="uniform")


def test_unet_dropout_active_only_in_train_mode():
    torch.manual_seed(0)
    net = UNet(ngf=8, num_downs=5, norm="instance", dropout=0.5)
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 3
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert not torch.equal(net.train()(x), net(x))
        assert torch.equal(net.eval()(x), net(x))


def test_unet_without_dropout_is_deterministic_in_train_mode():
    net = UNet(ngf=8, num_downs=5, norm="instance", dropout=0.0).train()
    assert not any(isinstance(m, nn.Dropout) for m in net.modules())
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))
