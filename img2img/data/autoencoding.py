"""Images as their own targets: the pairs an autoencoder trains and is evaluated on."""

from __future__ import annotations

from typing import Any

from img2img.data.classes import ImageFolder


class ReconstructionFolder(ImageFolder):
    """:class:`~img2img.data.classes.ImageFolder` whose items are ``{"input": x, "target":
    x, "path": file, "skipped": 0|1}``: every image of the folder (class sub-folders
    included, labels dropped), resized to ``image_size`` squared, is both the input and the
    target, so the aligned-translation evaluation measures reconstructions."""

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = super().__getitem__(index)
        path = str(self.files[index % len(self.files)])
        return {"input": item["image"], "target": item["image"], "path": path,
                "skipped": item["skipped"]}  # fmt: skip
