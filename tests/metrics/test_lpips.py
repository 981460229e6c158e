"""LPIPS: the trunk downloads as torchvision's weights do where allowed, loads from a local
file offline, and a clear error says how to provide it otherwise.

No test downloads the real ImageNet weights: a torchvision AlexNet with random weights, saved
the way torchvision saves its downloads, stands in for the file, and the transfer is faked."""

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


def fake_download(calls: list, fail: Exception | None = None):
    """Stands in for torch.hub.download_url_to_file: records the call, writes random AlexNet
    weights to the destination (or raises ``fail``)."""

    def download(url: str, dst: str, hash_prefix: str | None = None, **_) -> None:
        from torchvision.models import alexnet

        calls.append((url, hash_prefix))
        if fail is not None:
            raise fail
        torch.save(alexnet().state_dict(), dst)

    return download


def test_a_missing_trunk_downloads_into_the_hub_cache_as_torchvision_does(
    no_hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list = []
    monkeypatch.delenv("IMG2IMG_OFFLINE")
    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download(calls))
    model = lpips_backbone.load_lpips("alex", None, "cpu")
    assert calls == [("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "7be5be79")]
    file = no_hub / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    assert torch.equal(model.net.slice1[0].weight, torch.load(file)["features.0.weight"])
    lpips_backbone.load_lpips.cache_clear()
    lpips_backbone.load_lpips("alex", None, "cpu")
    assert len(calls) == 1  # the second time the cached file is used


def test_a_failed_download_says_how_to_provide_the_file_by_hand(
    no_hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.error import URLError

    calls: list = []
    failing = fake_download(calls, URLError("Name or service not known"))
    monkeypatch.delenv("IMG2IMG_OFFLINE")
    monkeypatch.setattr(torch.hub, "download_url_to_file", failing)
    with pytest.raises(lpips_backbone.LPIPSUnavailable) as error:
        lpips_backbone.load_lpips("alex", None, "cpu")
    message = str(error.value)
    assert "downloading https://download.pytorch.org/models/alexnet-owt-7be5be79.pth failed" in (
        message
    )
    assert "Name or service not known" in message and "without network access" in message
    assert str(no_hub / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth") in message
    assert "--lpips-weights PATH" in message


def test_offline_nothing_is_fetched_and_a_named_file_still_works(
    no_hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision.models import alexnet

    calls: list = []
    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download(calls))
    with pytest.raises(lpips_backbone.LPIPSUnavailable, match="IMG2IMG_OFFLINE is set"):
        lpips_backbone.load_lpips("alex", None, "cpu")
    file = no_hub / "alexnet.pth"
    torch.save(alexnet().state_dict(), file)
    assert lpips_backbone.load_lpips("alex", str(file), "cpu") is not None
    assert calls == []
