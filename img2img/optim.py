"""Optimizers, learning-rate schedules and the one function that turns a loss into an update.

Every parameter update in img2img — generator, discriminator, critic — goes through
:class:`Stepper.step`, so mixed precision, gradient scaling, gradient clipping and the
non-finite loss check are added in one place and every task and every Adversary gets them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from img2img.watch import TrainingDiverged

OPTIMIZERS = ("adam", "rmsprop", "sgd")
LR_SCHEDULES = ("linear", "cosine")


def make_optimizer(
    params: Iterable[nn.Parameter],
    kind: str = "adam",
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """Build an optimizer by name. ``betas`` only applies to Adam (the GAN default (0.5, 0.999)
    comes from DCGAN: a lower beta1 keeps the two players from overshooting each other)."""
    params = list(params)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)
    if kind == "rmsprop":  # WGAN with clipping: momentum-free, as the paper advises
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {kind!r}; choose one of {', '.join(OPTIMIZERS)}")


def linear_decay_factor(
    step: int, total_steps: int, decay_steps: int, floor_ratio: float = 0.0
) -> float:
    """LR multiplier of the pix2pix/CycleGAN schedule: 1 until ``total - decay`` steps, then
    linearly down to ``floor_ratio`` (0: the papers' "constant for half, decay to zero") at
    ``total_steps``."""
    if decay_steps <= 0:
        return 1.0
    start = total_steps - decay_steps
    if step < start:
        return 1.0
    progress = min((step - start) / decay_steps, 1.0)
    return 1.0 - (1.0 - floor_ratio) * progress


def cosine_factor(step: int, total_steps: int, floor_ratio: float = 0.0) -> float:
    """LR multiplier of cosine annealing from the first step to ``floor_ratio`` of the base
    rate at ``total_steps`` (PyTorch's ``CosineAnnealingLR(T_max=total_steps, eta_min=floor)``,
    which DDGAN's reference steps once per epoch; here every iteration), then held there."""
    if total_steps <= 0:
        return 1.0
    progress = min(step / total_steps, 1.0)
    return floor_ratio + (1.0 - floor_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def schedule_factor(
    kind: str, total_steps: int, decay_steps: int, floor_ratio: float
) -> Callable[[int], float]:
    """The LR multiplier per iteration of ``kind`` (:data:`LR_SCHEDULES`): ``linear`` holds
    the rate, then decays it over the last ``decay_steps``; ``cosine`` anneals it over all
    ``total_steps``; both end at ``floor_ratio`` of the base rate."""
    if kind == "linear":
        return lambda step: linear_decay_factor(step, total_steps, decay_steps, floor_ratio)
    if kind == "cosine":
        return lambda step: cosine_factor(step, total_steps, floor_ratio)
    raise ValueError(f"unknown LR schedule {kind!r}; choose one of {', '.join(LR_SCHEDULES)}")


class Stepper:
    """An optimizer with its LR schedule: ``step(loss)`` backpropagates and updates.

    ``schedule_step()`` advances the learning-rate schedule by one training iteration; the
    Trainer calls it once per iteration for every Stepper of a task, so a discriminator that
    takes k steps per iteration still follows the same LR curve as its generator.

    For fp16 training the Trainer gives each Stepper a gradient scaler (``use_grad_scaler``):
    fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none.

    A NaN or infinite loss never reaches the weights: by default ``step`` raises
    :class:`~img2img.watch.TrainingDiverged` naming the Stepper (``name``, set by the
    Trainer) and the value; with ``skip_nonfinite`` the update is dropped instead, as is
    one whose gradients came out non-finite, and ``skipped`` counts them (it is part of
    the state dict, so the count survives a resume).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        total_steps: int = 0,
        decay_steps: int = 0,
    ) -> None:
        self.optimizer = optimizer
        self.scaler: torch.amp.GradScaler | None = None
        self.name = "loss"
        self.skip_nonfinite = False
        self.skipped = 0
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: linear_decay_factor(step, total_steps, decay_steps)
        )

    @classmethod
    def build(
        cls,
        params: Iterable[nn.Parameter],
        kind: str,
        lr: float,
        betas: tuple[float, float],
        total_steps: int,
        decay_steps: int,
    ) -> Stepper:
        """A Stepper over a new optimizer (see :func:`make_optimizer`) and the linear decay."""
        optimizer = make_optimizer(params, kind, lr=lr, betas=betas)
        return cls(optimizer, total_steps=total_steps, decay_steps=decay_steps)

    @property
    def params(self) -> list[nn.Parameter]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def set_schedule(
        self, kind: str, total_steps: int, decay_steps: int = 0, floor: float = 0.0
    ) -> None:
        """Replace the LR schedule before training starts (the Trainer's ``--lr-schedule``,
        ``--lr-floor``): ``kind`` from :data:`LR_SCHEDULES`, ending at the learning rate
        ``floor`` (an absolute rate, the same for every Stepper: DDGAN anneals G from 1.6e-4
        and D from 1.25e-4 both to 1e-5)."""
        factors = [
            schedule_factor(kind, total_steps, decay_steps, floor / group["initial_lr"])
            for group in self.optimizer.param_groups
        ]
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factors)

    def use_grad_scaler(self, device_type: str) -> None:
        self.scaler = torch.amp.GradScaler(device_type)

    def step(self, loss: torch.Tensor) -> None:
        """Zero the gradients, backpropagate ``loss`` and update the parameters (or raise,
        or skip, for a non-finite loss: see the class docstring)."""
        self.optimizer.zero_grad(set_to_none=True)
        if not self._usable(loss.detach()):
            return
        if self.scaler is None:
            loss.backward()
            if self.skip_nonfinite and not self._gradients_finite():
                self.optimizer.zero_grad(set_to_none=True)
                self.skipped += 1
                return
            self.optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)  # skips the update if the scaled grads overflowed
        self.scaler.update()

    def back_off(self) -> None:
        """Take no step and lower the fp16 loss scale by the scaler's backoff factor: for an
        overflow that happened outside ``step``'s backward (a gradient penalty's inner
        gradient, see :func:`img2img.losses.adversarial.input_gradient`), handled the way
        GradScaler handles overflowing gradients."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.update(self.scaler.get_scale() * self.scaler.get_backoff_factor())

    def _usable(self, loss: torch.Tensor) -> bool:
        """Whether ``loss`` may be backpropagated: True if finite; False (counted) if not
        and skipping is on; otherwise :class:`TrainingDiverged`. Checked before backward,
        so a skipped loss costs no backward pass and leaves no gradient behind."""
        if torch.isfinite(loss).all():
            return True
        if not self.skip_nonfinite:
            raise TrainingDiverged(
                f"the {self.name} loss is {loss.item()}; lower the learning rate (--lr), check "
                "the data for NaN values, or pass --skip-nonfinite to skip such updates"
            )
        self.skipped += 1
        return False

    def _gradients_finite(self) -> bool:
        """One fused norm over every gradient: NaN or inf anywhere makes it non-finite.
        (The fp16 path needs no such check: its GradScaler already skips those steps.)"""
        grads = [p.grad for p in self.params if p.grad is not None]
        return not grads or bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))

    def reset_state(self) -> None:
        """Forget the optimizer's per-parameter state (Adam's moments and step count), as
        when the networks change shape under it: progressive growing resets it whenever a
        new level starts fading in and when it is fully in (the reference's
        ``reset_opt_for_new_lod``). The learning rate and its schedule are kept."""
        self.optimizer.state.clear()

    def schedule_step(self) -> None:
        with warnings.catch_warnings():
            # The schedule counts iterations, not updates: a gradient scaler skips the optimizer
            # step when fp16 gradients overflow (often in the first iterations), and a generator
            # that steps once per k critic steps has not stepped after the first iteration.
            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step")
            self.scheduler.step()

    def state_dict(self) -> dict:
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "skipped": self.skipped,
        }
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.skipped = int(state.get("skipped", 0))
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])


def _safe_sqrt(x: Tensor) -> Tensor:
    """``x.sqrt()`` with a zero gradient where ``x`` is 0 instead of an infinite one (a
    parameter whose gradients so far were exactly 0 has a zero second moment), so a
    gradient through an unrolled step stays finite; the values are ``sqrt``'s exactly."""
    positive = x > 0
    return torch.where(positive, torch.where(positive, x, 1).sqrt(), 0)


class UnrolledOptimizer:
    """The next steps of ``optimizer`` as differentiable functions of the parameters:
    :meth:`step` maps (parameters, gradients) to the parameters the optimizer would produce,
    with its state (Adam's moments and step count, RMSprop's square average) carried along
    out of place, so a loss after K such steps differentiates through all of them (Metz et
    al. 2017's unrolled discriminator). ``optimizer`` itself is never changed: the state
    starts as a copy of its own (zeros for a parameter it has not stepped yet).

    The formulas are torch.optim's single-tensor ones for the optimizers
    :func:`make_optimizer` builds: Adam (not AMSGrad or AdamW), SGD without momentum and
    RMSprop without momentum or centring, each with its group's ``lr`` (the schedule's
    current value), betas/alpha, eps and L2 weight decay. Any other optimizer is refused.
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        check_unrollable(optimizer)
        self.kind = type(optimizer)
        self.groups = [group for group in optimizer.param_groups for _ in group["params"]]
        self.state = [
            self._initial_state(optimizer.state.get(p, {}), p)
            for group in optimizer.param_groups
            for p in group["params"]
        ]

    def _initial_state(self, saved: dict[str, Any], param: Tensor) -> dict[str, Any]:
        step = float(saved.get("step", 0))
        if self.kind is torch.optim.Adam:
            moments = ("exp_avg", "exp_avg_sq")
        elif self.kind is torch.optim.RMSprop:
            moments = ("square_avg",)
        else:
            moments = ()
        zeros = torch.zeros_like(param, memory_format=torch.preserve_format)
        return {"step": step, **{m: saved.get(m, zeros).detach().clone() for m in moments}}

    def step(self, params: Sequence[Tensor], grads: Sequence[Tensor | None]) -> list[Tensor]:
        """The parameters after one step, in the order of the optimizer's parameters; a
        parameter without a gradient (None) is left as it is, as ``optimizer.step`` does."""
        updated = []
        for i, (param, grad) in enumerate(zip(params, grads, strict=True)):
            if grad is None:
                updated.append(param)
                continue
            group, state = self.groups[i], self.state[i]
            if group["weight_decay"]:
                grad = grad.add(param, alpha=group["weight_decay"])
            state["step"] += 1
            if self.kind is torch.optim.Adam:
                updated.append(self._adam(param, grad, group, state))
            elif self.kind is torch.optim.RMSprop:
                alpha = group["alpha"]
                state["square_avg"] = (
                    state["square_avg"].mul(alpha).addcmul(grad, grad, value=1 - alpha)
                )
                denom = _safe_sqrt(state["square_avg"]).add(group["eps"])
                updated.append(param.addcdiv(grad, denom, value=-group["lr"]))
            else:
                updated.append(param.add(grad, alpha=-group["lr"]))
        return updated

    @staticmethod
    def _adam(param: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any]) -> Tensor:
        beta1, beta2 = group["betas"]
        state["exp_avg"] = state["exp_avg"].lerp(grad, 1 - beta1)
        state["exp_avg_sq"] = state["exp_avg_sq"].mul(beta2).addcmul(grad, grad, value=1 - beta2)
        step = state["step"]
        step_size = group["lr"] / (1 - beta1**step)
        denom = (_safe_sqrt(state["exp_avg_sq"]) / (1 - beta2**step) ** 0.5).add(group["eps"])
        return param.addcdiv(state["exp_avg"], denom, value=-step_size)


def check_unrollable(optimizer: torch.optim.Optimizer) -> None:
    """Raise ValueError, naming the setting, unless :class:`UnrolledOptimizer` can follow
    ``optimizer`` exactly."""
    kind = type(optimizer)
    if kind not in (torch.optim.Adam, torch.optim.SGD, torch.optim.RMSprop):
        raise ValueError(
            f"unrolling follows Adam, SGD and RMSprop (--optimizer adam|sgd|rmsprop); "
            f"the discriminator's optimizer is {kind.__name__}"
        )
    unsupported = {"amsgrad": False, "maximize": False, "momentum": 0, "centered": False}
    unsupported["decoupled_weight_decay"] = False
    for group in optimizer.param_groups:
        for name, plain in unsupported.items():
            if group.get(name, plain) != plain:
                raise ValueError(
                    f"unrolling does not follow {kind.__name__} with {name}={group[name]!r}"
                )
