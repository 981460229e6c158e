"""Losses: GAN objectives, discriminator regularisers and the Adversary."""

from img2img.losses.adversarial import (
    OBJECTIVES,
    Adversary,
    Objective,
    clip_weights_,
    get_objective,
    gradient_penalty,
    objective_choices,
    objective_option,
    objective_presets,
    r1_penalty,
)

__all__ = [
    "OBJECTIVES",
    "Adversary",
    "Objective",
    "clip_weights_",
    "get_objective",
    "gradient_penalty",
    "objective_choices",
    "objective_option",
    "objective_presets",
    "r1_penalty",
]
