"""Per-image batch-norm statistics at inference reproduce batch-size-1 training exactly."""

from __future__ import annotations

import torch

from img2img.nets import UNet
from img2img.nets.batchnorm import PerImageNorm, inference_copy


def test_inference_copy_matches_train_mode_batch_norm_image_by_image() -> None:
    torch.manual_seed(0)
    net = UNet(ngf=8, num_downs=5, norm="batch", dropout=0.0)
    for _ in range(3):  # move the running averages away from what train mode uses
        net(torch.randn(1, 3, 32, 32))
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = torch.cat([net.train()(x[None]) for x in images])  # batch-1 training maths
        copy = inference_copy(net, per_image_statistics=True)
        torch.testing.assert_close(copy(images), expected, rtol=1e-4, atol=1e-5)
        assert not torch.allclose(net.eval()(images), expected, atol=1e-3), "running stats differ"
    assert any(isinstance(m, PerImageNorm) for m in copy.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in copy.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()), "original untouched"


def test_inference_copy_without_per_image_statistics_is_an_eval_copy() -> None:
    net = UNet(ngf=8, num_downs=5, norm="instance", dropout=0.5).train()
    copy = inference_copy(net, per_image_statistics=False)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(copy(x), copy(x))  # dropout off
    assert net.training and not copy.training
