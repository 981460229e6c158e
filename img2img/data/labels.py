"""Label-map data: colour palettes and aligned pairs whose input is a label map.

- :data:`PALETTES`: built-in palettes by name. ``facades``: the 12 CMP Facades classes
  (Tylecek & Sara, 2013) as the pix2pix copy of the data draws them, colours measured as
  the medians of the flat regions of its 506 label halves (they lie along the jet colour
  map, in class order). Its images are JPEGs: colours within 60 (Euclidean, 8-bit RGB) of
  a class are that class, and farther ones are accepted only at blended borders (see
  :mod:`img2img.nets.labels`); an area of black or white is refused.
- :func:`load_palette`: a built-in name or a JSON file ``{"colours": [[r, g, b], ...],
  "names": [...], "tolerance": 0, "blended_borders": false}`` (all but ``colours``
  optional; a bare list of colours works too). Files drawn losslessly (PNG) need neither.
- :class:`LabelMapFolder`: A|B pairs whose input half is a label map, resized with nearest
  neighbour (so no blended colours appear) and checked, so a colour that is no class stops
  the run with the file and the colour named.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from img2img.data.folders import PairedImageFolder
from img2img.data.sampler import Key
from img2img.nets.labels import LabelEncoder, UnknownLabel


@dataclass(frozen=True)
class Palette:
    """Class colours (RGB, 0..255), their names and the accepted distance to them."""

    colours: tuple[tuple[int, int, int], ...]
    names: tuple[str, ...] = ()
    tolerance: float = 0.0
    blended_borders: bool = False

    def encoder(self) -> LabelEncoder:
        """The one-hot encoder of maps drawn in this palette."""
        colours = torch.tensor(self.colours, dtype=torch.float32)
        return LabelEncoder(len(self.colours), colours, self.tolerance, self.blended_borders)


PALETTES: dict[str, Palette] = {
    "facades": Palette(
        colours=(
            (0, 0, 222),
            (1, 48, 254),
            (3, 127, 255),
            (2, 207, 255),
            (35, 253, 226),
            (112, 253, 146),
            (192, 254, 64),
            (253, 240, 6),
            (255, 159, 3),
            (253, 80, 2),
            (248, 2, 4),
            (174, 0, 1),
        ),
        names=(
            "background",
            "facade",
            "window",
            "door",
            "cornice",
            "sill",
            "balcony",
            "blind",
            "deco",
            "molding",
            "pillar",
            "shop",
        ),
        tolerance=60.0,
        blended_borders=True,
    )
}


def load_palette(name_or_file: str | os.PathLike) -> Palette:
    """A palette from :data:`PALETTES` by name, or from a JSON file (module docstring)."""
    if str(name_or_file) in PALETTES:
        return PALETTES[str(name_or_file)]
    path = Path(name_or_file)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: palette not found; give a JSON palette file or one of {', '.join(PALETTES)}"
        )
    try:
        values = json.loads(path.read_text())
        if isinstance(values, list):
            values = {"colours": values}
        colours = tuple(tuple(int(v) for v in colour) for colour in values["colours"])
        if not colours or any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in colours):
            raise ValueError("every colour must be [r, g, b] with values 0..255")
        names = tuple(str(name) for name in values.get("names", ()))
        if names and len(names) != len(colours):
            raise ValueError(f"{len(names)} names for {len(colours)} colours")
        tolerance = float(values.get("tolerance", 0.0))
        return Palette(colours, names, tolerance, bool(values.get("blended_borders", False)))
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f'{path}: not a palette ({err}); expected {{"colours": [[r, g, b], ...], '
            '"names": [...], "tolerance": 0, "blended_borders": false}'
        ) from None


def palette_legend(config: dict) -> str:
    """A Markdown line naming the colours of a saved model's built-in palette (its config's
    ``palette``), for the web demo; "" when the model takes no palette colours."""
    palette = PALETTES.get(str(config.get("palette", "")))
    if palette is None:
        return ""
    names = palette.names or tuple(str(k) for k in range(len(palette.colours)))
    entries = [
        f"{name} `#{r:02x}{g:02x}{b:02x}`"
        for name, (r, g, b) in zip(names, palette.colours, strict=True)
    ]
    return f"Input label colours ({config['palette']}): " + ", ".join(entries)


class LabelMapFolder(PairedImageFolder):
    """:class:`PairedImageFolder` whose input half is a label map for ``encoder``: resized
    with nearest neighbour, and every value checked (``ValueError`` naming the file and
    the colour or index that is no class). Items are as the parent's; the one-hot
    encoding happens in the generator (:class:`img2img.nets.labels.LabelToImage`)."""

    input_resample = Image.Resampling.NEAREST

    def __init__(self, root: str | os.PathLike, encoder: LabelEncoder, **kwargs) -> None:
        super().__init__(root, **kwargs)
        self.encoder = encoder

    def __getitem__(self, key: Key) -> dict[str, Tensor | str | int]:
        item = super().__getitem__(key)
        try:
            self.encoder.indices(item["input"][None])
        except UnknownLabel as err:
            raise ValueError(f"{item['path']}: label map {err}") from None
        return item
