"""What every recipe builds and saves the same way, written once.

- :func:`stepper_factory`: a Stepper per network (or group of networks) with the config's
  optimizer, learning rate and betas, and the run's linear LR decay.
- :class:`StateFromParts`: ``state_dict()`` / ``load_state_dict()`` of a recipe made from its
  parts' own (generator, optimizers, Adversaries, image pools), so a recipe lists its parts
  once, under the keys its checkpoints use, instead of writing both methods by hand.
- :func:`config_adversary`: an Adversary with the options every task config shares
  (``--objective``, ``--gp-weight``, ``--clip``, ``--diffaugment``).
- :func:`copy_generator_weights`: ``--init-from``, a run starting from a saved generator.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from img2img.losses import Adversary
from img2img.losses.diffaugment import make_diffaugment
from img2img.nets import ResNetGenerator, unet_depth_for
from img2img.optim import Stepper
from img2img.saved_models import read_model


def size_multiple_for(generator: str, image_size: int) -> int:
    """What the sides of a training image must be multiples of for a ``--generator unet``
    or ``resnet`` of pix2pix/CycleGAN (``--preprocess none`` rounds them to it), known
    without building the network."""
    if generator == "unet":
        return 2 ** unet_depth_for(image_size)
    return ResNetGenerator.size_multiple


def stepper_factory(config: Any, total_steps: int, decay_steps: int) -> Callable[..., Stepper]:
    """``stepper(*networks)``: one Stepper over all their parameters (CycleGAN's two
    generators take one step on one loss). The optimizer is ``config.optimizer`` where the
    task offers a choice, else Adam (the papers' choice for pix2pix and SRGAN)."""
    kind = getattr(config, "optimizer", "adam")
    betas = (config.beta1, config.beta2)

    def stepper(*networks: nn.Module) -> Stepper:
        params = [p for network in networks for p in network.parameters()]
        return Stepper.build(params, kind, config.lr, betas, total_steps, decay_steps)

    return stepper


def config_adversary(
    config: Any, discriminator: nn.Module, stepper: Stepper, **options: Any
) -> Adversary:
    """The Adversary of ``discriminator`` (stepped by ``stepper``) with the options every
    task config with a discriminator declares under the same names: ``objective``,
    ``gp_weight``, ``clip`` (0: off) and ``diffaugment``; ``options`` add a recipe's own
    (``d_loss_weight``, ``r1_weight``, ...) or replace one of those."""
    shared = {
        "objective": config.objective,
        "gp_weight": config.gp_weight,
        "clip": config.clip or None,
        "augment": make_diffaugment(config.diffaugment),
    }
    return Adversary(discriminator, stepper=stepper, **{**shared, **options})


class StateFromParts:
    """A recipe's training state: the state dicts of the parts :meth:`state_parts` names,
    plus the integer attributes named in ``counters`` (an iteration count that decides a
    phase or a schedule), so a resumed run continues exactly where it stopped."""

    counters: tuple[str, ...] = ()

    def state_parts(self) -> dict[str, Any]:
        """Checkpoint key -> object with ``state_dict()`` / ``load_state_dict()``; by default
        the parts of a recipe with one generator, its Stepper and one Adversary (recipes
        with other parts name them)."""
        return {
            "generator": self.generator,
            "g_stepper": self.g_stepper,
            "adversary": self.adversary,
        }

    def state_dict(self) -> dict[str, Any]:
        state = {name: part.state_dict() for name, part in self.state_parts().items()}
        return {**state, **{name: getattr(self, name) for name in self.counters}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, part in self.state_parts().items():
            part.load_state_dict(state[name])
        for name in self.counters:
            setattr(self, name, int(state[name]))


def copy_generator_weights(
    generator: nn.Module, model: str | Path, shape_options: tuple[str, ...]
) -> None:
    """Copy a saved model's generator weights (EMA ones if it has them) into ``generator``,
    the network this run built from its own config; ``model`` is named as
    :func:`img2img.saved_models.resolve_model` accepts (run directory, two-file model,
    shipped name). A mismatch names the saved model's ``shape_options`` (the options that
    decide the network's shape), which the run must repeat."""
    values, weights = read_model(model)
    try:
        generator.load_state_dict(weights)
    except RuntimeError as err:
        shape = {k: values.get(k) for k in shape_options}
        flags = ", ".join("--" + k.replace("_", "-") for k in shape_options)
        raise ValueError(
            f"--init-from {model}: its generator ({values.get('task')}, {shape}) does not "
            f"fit this run's network; use the same {flags}. "
            f"Detail: {str(err).splitlines()[0]}"
        ) from None
