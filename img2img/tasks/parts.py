"""What every recipe builds and saves the same way, written once.

- :func:`stepper_factory`: a Stepper per network (or group of networks) with the
  :class:`~img2img.tasks.options.OptimizerOptions` and the run's linear LR decay.
- :class:`StateFromParts`: ``state_dict()`` / ``load_state_dict()`` of a recipe made from its
  parts' own (generator, optimizers, Adversaries, image pools), so a recipe lists its parts
  once, under the keys its checkpoints use, instead of writing both methods by hand.
- :func:`config_adversary`: an Adversary with the
  :class:`~img2img.tasks.options.AdversaryOptions` (and ``--diffaugment``).
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
from img2img.tasks.options import AdversaryOptions, DiffAugmentOptions, OptimizerOptions


def size_multiple_for(generator: str, image_size: int) -> int:
    """What the sides of a training image must be multiples of for a ``--generator unet``
    or ``resnet`` of pix2pix/CycleGAN (``--preprocess none`` rounds them to it), known
    without building the network."""
    if generator == "unet":
        return 2 ** unet_depth_for(image_size)
    return ResNetGenerator.size_multiple


def stepper_factory(
    options: OptimizerOptions,
    total_steps: int,
    decay_steps: int,
    lr: float | None = None,
    betas: tuple[float, float] | None = None,
) -> Callable[..., Stepper]:
    """``stepper(*networks)``: one Stepper over all their parameters (CycleGAN's two
    generators take one step on one loss), with the run's LR schedule and the options'
    optimizer, learning rate and betas; ``lr`` / ``betas`` replace the options' for a
    network a recipe sets apart (a discriminator's own rate, lazy regularisation's
    adjustment)."""
    lr = options.lr if lr is None else lr
    betas = (options.beta1, options.beta2) if betas is None else betas

    def stepper(*networks: nn.Module) -> Stepper:
        params = [p for network in networks for p in network.parameters()]
        return Stepper.build(params, options.optimizer, lr, betas, total_steps, decay_steps)

    return stepper


def config_adversary(
    options: AdversaryOptions, discriminator: nn.Module, stepper: Stepper, **extra: Any
) -> Adversary:
    """The Adversary of ``discriminator`` (stepped by ``stepper``) with the adversary
    options (``objective``, ``gp_weight``, ``clip``: 0 is off, ``unroll``) and, for a config with
    :class:`DiffAugmentOptions`, its ``diffaugment``; ``extra`` adds a recipe's own
    (``d_loss_weight``, ``r1_weight``, ...) or replaces one of those."""
    shared: dict[str, Any] = {
        "objective": options.objective,
        "gp_weight": options.gp_weight,
        "clip": options.clip or None,
        "unroll": options.unroll,
    }
    if isinstance(options, DiffAugmentOptions):
        shared["augment"] = make_diffaugment(options.diffaugment)
    return Adversary(discriminator, stepper=stepper, **{**shared, **extra})


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
