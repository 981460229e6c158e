"""What a discriminator may return besides bare logits.

Most discriminators return a logits tensor and the Adversary applies its objective to it.
Some recipes need more from the same forward pass: pix2pixHD's multi-scale discriminators
give one logits map per scale plus their intermediate activations (for the generator's
feature-matching loss); EBGAN's auto-encoder discriminator gives an energy per sample plus
its encoder codes (for the pulling-away term). Returning everything from one forward pass
keeps those extras free: the Adversary reads what it needs, and the objectives still see
plain logits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class DiscriminatorOutput:
    """A discriminator's verdict on one batch.

    - ``logits``: the objective's input; a list holds one tensor per scale (several
      discriminators behind one Adversary), each judged by the objective.
    - ``features``: per scale, the intermediate activations, for feature matching.
    - ``aux``: named auxiliary outputs (an auto-encoder discriminator's codes, ...).
    """

    logits: Tensor | list[Tensor]
    features: list[list[Tensor]] = field(default_factory=list)
    aux: dict[str, Tensor] = field(default_factory=dict)
