"""Perceptual losses: zero for identical images, positive otherwise, frozen backbones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.models.vgg import cfgs, make_layers

from img2img.backbones.vgg import PerceptualWeightsMissing
from img2img.losses.perceptual import PerceptualLoss


@pytest.fixture(scope="module")
def random_vgg19_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """torchvision's VGG19 layout (``features.N.*`` keys) with random weights: the real
    ImageNet file cannot be downloaded here, and the loss's plumbing does not need it."""
    torch.manual_seed(0)
    features = make_layers(cfgs["E"])
    path = tmp_path_factory.mktemp("vgg") / "vgg19-random.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path


def backbones(random_vgg19_file: Path) -> list[PerceptualLoss]:
    return [
        PerceptualLoss("vgg19", "relu2_2", random_vgg19_file),
        PerceptualLoss("vgg19", "relu5_4", random_vgg19_file),
        PerceptualLoss("inception"),
    ]


def test_zero_for_identical_images_and_positive_otherwise(random_vgg19_file: Path) -> None:
    torch.manual_seed(1)
    image = torch.rand(2, 3, 48, 48) * 2 - 1
    other = (image + 0.2 * torch.randn_like(image)).clamp(-1, 1)
    for loss in backbones(random_vgg19_file):
        assert loss(image, image).item() == 0, loss.backbone
        assert loss(other, image).item() > 0, loss.backbone


def test_backbone_is_frozen_but_passes_gradients_to_the_image(random_vgg19_file: Path) -> None:
    target = torch.rand(1, 3, 48, 48) * 2 - 1
    for loss in backbones(random_vgg19_file):
        before = {k: v.clone() for k, v in loss.state_dict().items()}
        loss.train()  # a task's .train() must not put the backbone's batch norm in train mode
        assert not any(m.training for m in loss.modules())
        image = torch.zeros(1, 3, 48, 48, requires_grad=True)
        optimizer = torch.optim.SGD([image, *loss.parameters()], lr=1.0)
        loss(image, target).backward()
        optimizer.step()
        assert image.grad is not None and image.grad.abs().sum() > 0, loss.backbone
        assert all(p.grad is None and not p.requires_grad for p in loss.parameters())
        after = loss.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before), loss.backbone


def test_missing_vgg_weights_say_how_to_provide_them(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(PerceptualWeightsMissing) as error:
        PerceptualLoss("vgg19")
    message = str(error.value)
    assert "vgg19-dcbbe5f2.pth" in message and str(tmp_path / "checkpoints") in message
    assert "--perceptual-weights PATH" in message and "--perceptual inception" in message
    with pytest.raises(PerceptualWeightsMissing, match=r"nowhere\.pth: VGG19 weights file not"):
        PerceptualLoss("vgg19", weights=tmp_path / "nowhere.pth")


def test_a_file_that_is_not_vgg19_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match=r"other\.pth: not torchvision VGG19 weights"):
        PerceptualLoss("vgg19", weights=path)


def test_unknown_backbone_and_layer_are_named() -> None:
    with pytest.raises(ValueError, match="'resnet'"):
        PerceptualLoss("resnet")
    with pytest.raises(ValueError, match="inception layer 'mixed_9'"):
        PerceptualLoss("inception", "mixed_9")


def test_the_lpips_backbone_is_the_mean_lpips_of_the_batch_with_the_trunk_given(
    random_alexnet_trunk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--perceptual lpips`` (layer: the trunk, weights: its file, else
    $IMG2IMG_LPIPS_TRUNK's; here random weights): the batch mean of LPIPS's per-image
    distances, with gradients to the output."""
    from img2img.backbones.lpips import load_lpips

    trunk = random_alexnet_trunk
    loss = PerceptualLoss("lpips", "alex", trunk)
    torch.manual_seed(0)
    output = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    target = torch.rand(2, 3, 32, 32) * 2 - 1
    distances = load_lpips("alex", str(trunk), "cpu")(output, target).flatten().detach()
    value = loss(output, target)
    assert value.item() == pytest.approx(distances.mean().item(), rel=1e-6)
    assert distances[0] != pytest.approx(distances[1].item())  # a mean of two, not one
    value.backward()
    assert output.grad.abs().sum() > 0
    monkeypatch.setenv("IMG2IMG_LPIPS_TRUNK", str(trunk))
    assert PerceptualLoss("lpips", "alex")(output, target).item() == pytest.approx(value.item())
