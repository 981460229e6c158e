"""LPIPS offline: a clear error without trunk weights, and a correct load from a local file.

Real ImageNet weights cannot be downloaded here, so a torchvision AlexNet with random
weights, saved the way torchvision saves its downloads, stands in for the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from img2img.backbones import lpips as lpips_backbone
from img2img.metrics.lpips_distance import lpips

pytest.importorskip("lpips")


@pytest.fixture
def no_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv("IMG2IMG_LPIPS_TRUNK", raising=False)
    lpips_backbone.load_lpips.cache_clear()
    return tmp_path


def test_missing_trunk_weights_fail_with_a_clear_message(no_hub: Path) -> None:
    image = torch.zeros(1, 3, 32, 32)
    with pytest.raises(lpips_backbone.LPIPSUnavailable, match=r"alexnet-owt-7be5be79\.pth"):
        lpips(image, image)
    with pytest.raises(lpips_backbone.LPIPSUnavailable, match="not found"):
        lpips(image, image, trunk_weights=no_hub / "missing.pth")


def test_trunk_loads_from_the_hub_cache(no_hub: Path) -> None:
    from torchvision.models import alexnet

    torch.manual_seed(0)
    state = alexnet().state_dict()
    file = no_hub / "hub" / "checkpoints" / lpips_backbone.TRUNK_FILES["alex"]
    file.parent.mkdir(parents=True)
    torch.save(state, file)
    model = lpips_backbone.load_lpips("alex", None, "cpu")
    assert torch.equal(model.net.slice1[0].weight, state["features.0.weight"])
    assert torch.equal(getattr(model.net.slice5, "10").bias, state["features.10.bias"])
    a = torch.rand(2, 3, 64, 64) * 2 - 1
    b = (a + 0.3 * torch.randn_like(a)).clamp(-1, 1)
    assert torch.allclose(lpips(a, a, device="cpu"), torch.zeros(2), atol=1e-6)
    distance = lpips(a, b, device="cpu")
    assert distance.shape == (2,) and (distance > 0).all()


def test_wrong_weights_file_is_refused(no_hub: Path) -> None:
    file = no_hub / "other.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, file)
    with pytest.raises(lpips_backbone.LPIPSUnavailable, match=r"other\.pth"):
        lpips_backbone.load_lpips("alex", str(file), "cpu")
