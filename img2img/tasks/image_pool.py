"""The history of generated images a CycleGAN discriminator is trained on (Shrivastava et
al., 2017; Zhu et al., 2017, section 4).

Training a discriminator on the latest fakes only lets the two players chase each other
round in circles; showing it a mix of current and past fakes damps the oscillation. The
behaviour is the CycleGAN reference ``ImagePool``'s, with two differences that matter for
exact resumption: its random draws come from torch's global RNG (which the Trainer saves
and restores), and its contents are part of the training state.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class ImagePool:
    """A buffer of up to ``size`` past images.

    :meth:`query` takes a batch (N, C, H, W) and returns a batch of the same shape: while
    the pool is filling, each image is stored and returned as is; once full, each image is
    returned with probability 1/2, otherwise a uniformly chosen stored image is returned in
    its place and the new image takes its slot. ``size=0`` returns the batch unchanged.
    Returned and stored images are detached: the pool feeds the discriminator only.
    An image holding NaN or infinity is returned but never stored, so one bad iteration
    skipped under ``--skip-nonfinite`` does not poison the discriminator's later batches.
    """

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"pool size must be >= 0 (0 disables the pool), got {size}")
        self.size = size
        self.images: list[Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: Tensor) -> Tensor:
        if self.size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            image = image.clone()  # a slice would keep the whole batch alive
            if not bool(torch.isfinite(image).all()):
                out.append(image)
            elif len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif bool(torch.rand(()) < 0.5):
                out.append(image)
            else:
                slot = int(torch.randint(self.size, ()))
                out.append(self.images[slot].to(image.device))
                self.images[slot] = image
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "images": [image.cpu() for image in self.images]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the stored images (kept on the CPU until they are returned)."""
        if int(state["size"]) != self.size:
            raise ValueError(
                f"the saved image pool holds up to {state['size']} images but this one "
                f"{self.size}; resume with the run's own --pool-size"
            )
        self.images = [image.clone() for image in state["images"]]
