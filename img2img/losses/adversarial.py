"""GAN objectives, discriminator regularisers and the Adversary that composes them.

An adversarial loss is just a loss: the :class:`Adversary` owns a discriminator, its
objective, its penalties and its optimizer, and hands the generator a scalar through
:meth:`Adversary.loss`, the way ``F.l1_loss`` would.

The maths lives in plain functions on *logits* (raw discriminator outputs of any shape,
e.g. ``(N,)`` for a DCGAN critic or ``(N, 1, H, W)`` for a PatchGAN). Every objective
averages over all elements, so a PatchGAN's loss is the mean over its patches.

Scale convention: ``d_loss`` is the plain **sum** of a real term and a fake term, each a
mean over elements, never halved. pix2pix and CycleGAN halve their discriminator loss
("slow down D relative to G"); that factor is ``Adversary(d_loss_weight=0.5)``, chosen by
the task, so every objective keeps the textbook form and the halving lives in one place.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import repeat
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils import parametrize

from img2img.config import option
from img2img.losses.energy import energy_g_loss, margin_d_loss
from img2img.losses.feature_matching import feature_matching_loss
from img2img.losses.weighting import ADAPTIVE_MAX, adaptive_weight
from img2img.nets.outputs import DiscriminatorOutput
from img2img.optim import Stepper, UnrolledOptimizer, check_unrollable, make_optimizer


@dataclass(frozen=True)
class Objective:
    """A GAN objective: the discriminator's loss and the generator's adversarial term, and
    the facts about them that tasks and watches need, so none keeps lists of names.

    ``d_loss(real_logits, fake_logits)`` and ``g_loss(fake_logits, real_logits=None)`` take
    logits of any shape and return scalars to *minimise*. ``real_logits`` in ``g_loss`` is
    there for objectives that compare real and fake (relativistic GANs); the ones below
    ignore it.

    - ``bounded_below``: the D loss has a floor (0) that a discriminator separating real
      from fake outright approaches; WGAN's critic loss has none.
    - ``saturation``: for a bounded-below objective, the D loss under which the
      discriminator wins outright and the generator's gradients vanish (0.01: about 99.5%
      confidence under the cross-entropy objectives; :class:`img2img.watch.SaturationWatch`).
    - ``probabilities``: the logits are log-odds, so ``sigmoid`` of D's output is its
      probability that the input is real (the cross-entropy objectives); otherwise D's
      output is a score.
    - ``needs_lipschitz``: the objective is only meaningful for a Lipschitz critic, which
      weight clipping, a gradient penalty or spectral normalisation must enforce (Arjovsky
      et al. 2017); an :class:`Adversary` refuses such an objective without one.
    - ``constraint``: the Adversary options its paper constrains the critic with, which a
      task's presets fill in when its user set none (``wgan``: clipping at 0.01;
      ``wgan-gp``: a gradient penalty of 10).
    - ``energy``: the discriminator's outputs are non-negative energies, low on data (EBGAN):
      the task must give it an auto-encoder discriminator
      (:mod:`img2img.nets.autoencoder`); tasks without one do not offer the objective.
    - ``margin``: for a margin objective (EBGAN), the margin its ``d_loss`` uses, which is
      then a ``functools.partial`` with a ``margin`` keyword; :meth:`with_margin` sets it.
    """

    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[..., Tensor]
    bounded_below: bool = False
    saturation: float = 0.01
    probabilities: bool = False
    needs_lipschitz: bool = False
    constraint: dict[str, float] = field(default_factory=dict)
    energy: bool = False
    margin: float | None = None

    def with_margin(self, margin: float) -> Objective:
        """This objective with its D loss's margin set to ``margin`` (> 0)."""
        if self.margin is None or not isinstance(self.d_loss, partial):
            raise ValueError(f"the {self.name} objective has no margin")
        if margin <= 0:
            raise ValueError(f"the {self.name} margin must be positive, got {margin}")
        return replace(self, d_loss=partial(self.d_loss.func, margin=margin), margin=margin)


# -log sigmoid(x) = softplus(-x) and -log(1 - sigmoid(x)) = softplus(x): the softplus forms
# never take the log of a probability that has underflowed to 0.
def _bce_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-E log D(x) - E log(1 - D(G(z))): binary cross-entropy with targets real=1, fake=0."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def _minimax_g_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """E log(1 - D(G(z))) (Goodfellow et al. 2014, eq. 1). It saturates: when D rejects
    the fakes confidently its gradient vanishes, which is why nobody trains with it."""
    return -F.softplus(fake_logits).mean()


def _nonsaturating_g_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """-E log D(G(z)): same fixed point as minimax but strong gradients early in training
    (the paper's own recommendation; pix2pix's ``gan_mode='vanilla'``)."""
    return F.softplus(-fake_logits).mean()


def _lsgan_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """E (D(x) - 1)^2 + E D(G(z))^2: least squares with targets b=1, a=0 (Mao et al. 2017)."""
    return (real_logits - 1).pow(2).mean() + fake_logits.pow(2).mean()


def _lsgan_g_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """E (D(G(z)) - 1)^2, target c=1; un-halved like the CycleGAN code."""
    return (fake_logits - 1).pow(2).mean()


def _wgan_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """E D(G(z)) - E D(x): the negated Wasserstein-1 estimate (Arjovsky et al. 2017). It is
    unbounded; the critic must be kept Lipschitz by clipping or a gradient penalty."""
    return fake_logits.mean() - real_logits.mean()


def _hinge_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """E relu(1 - D(x)) + E relu(1 + D(G(z))) (Lim & Ye 2017; SAGAN, BigGAN): the critic stops
    pushing samples it already separates by the margin."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def _critic_g_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """-E D(G(z)): the generator's term for both WGAN and hinge."""
    return -fake_logits.mean()


_CROSS_ENTROPY = {"bounded_below": True, "probabilities": True}
_NONSATURATING = Objective("nonsaturating", _bce_d_loss, _nonsaturating_g_loss, **_CROSS_ENTROPY)

# One vocabulary for every task's --objective.
OBJECTIVES: dict[str, Objective] = {
    "minimax": Objective("minimax", _bce_d_loss, _minimax_g_loss, **_CROSS_ENTROPY),
    "nonsaturating": _NONSATURATING,
    "vanilla": _NONSATURATING,  # the pix2pix/CycleGAN name for the same thing
    "lsgan": Objective("lsgan", _lsgan_d_loss, _lsgan_g_loss, bounded_below=True),
    # Arjovsky et al. 2017: weights clipped to [-0.01, 0.01].
    "wgan": Objective(
        "wgan", _wgan_d_loss, _critic_g_loss, needs_lipschitz=True, constraint={"clip": 0.01}
    ),
    # The same losses with the gradient penalty as the Lipschitz constraint (Gulrajani et al.
    # 2017, lambda = 10).
    "wgan-gp": Objective(
        "wgan-gp",
        _wgan_d_loss,
        _critic_g_loss,
        needs_lipschitz=True,
        constraint={"gp_weight": 10.0},
    ),
    "hinge": Objective("hinge", _hinge_d_loss, _critic_g_loss, bounded_below=True),
    # Zhao et al. 2017 (EBGAN): energies with a margin, here MNIST's m = 10 (see
    # img2img.losses.energy; a task sets its own with Objective.with_margin). Not
    # bounded_below in the watch's sense: a D loss near 0 leaves G its full gradient.
    "ebgan": Objective(
        "ebgan",
        partial(margin_d_loss, margin=10.0),
        energy_g_loss,
        energy=True,
        margin=10.0,
    ),
}


def objective_choices(energy: bool = False) -> tuple[str, ...]:
    """The objectives a task offers: all of :data:`OBJECTIVES` but the energy ones (EBGAN),
    which only tasks that build an auto-encoder discriminator for them offer (``energy``)."""
    return tuple(name for name, o in OBJECTIVES.items() if energy or not o.energy)


def objective_option(default: str) -> Any:
    """The ``objective`` field (:class:`img2img.tasks.options.AdversaryOptions`): the same
    name and choices everywhere, ``--gan-mode`` and a saved ``gan_mode`` still read."""
    return option(default, "adversarial objective", objective_choices(), old_names=("gan_mode",))


def objective_presets(values: dict[str, Any], default: str) -> dict[str, float]:
    """For a task config's ``presets(values)``: the chosen objective's ``constraint`` (its
    paper's clipping or gradient penalty), so ``--objective wgan`` alone trains a
    constrained critic; ``default`` is the config's default objective."""
    return dict(get_objective(values.get("objective", default)).constraint)


def get_objective(name: str) -> Objective:
    """Look up an objective in :data:`OBJECTIVES`; an unknown name lists the valid ones."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ValueError(
            f"unknown GAN objective {name!r}; choose one of {', '.join(OBJECTIVES)}"
        ) from None


def logits_per_scale(output: Tensor | DiscriminatorOutput) -> list[Tensor]:
    """A discriminator's logits as one tensor per scale: ``[output]`` for a plain tensor,
    the list of a multi-scale :class:`DiscriminatorOutput` (one map per discriminator)."""
    logits = output.logits if isinstance(output, DiscriminatorOutput) else output
    return logits if isinstance(logits, list) else [logits]


def over_scales(
    loss: Callable[..., Tensor],
    first: Tensor | DiscriminatorOutput,
    second: Tensor | DiscriminatorOutput | None = None,
) -> Tensor:
    """``loss(first, second)`` on plain logits; on a discriminator's structured output, the
    **sum** over its scales of ``loss`` on each scale's logits, as pix2pixHD's GANLoss adds
    its discriminators' losses (so each scale pulls as hard as a lone PatchGAN would)."""
    if isinstance(first, Tensor):
        return loss(first, second)
    seconds = repeat(None) if second is None else logits_per_scale(second)
    return sum(loss(a, b) for a, b in zip(logits_per_scale(first), seconds, strict=False))


def _mean_logit(output: Tensor | DiscriminatorOutput) -> Tensor:
    """The mean logit for the logs; over several scales, the mean of each scale's mean."""
    return torch.stack([scale.detach().mean() for scale in logits_per_scale(output)]).mean()


def _per_sample(logits: Tensor | DiscriminatorOutput) -> Tensor:
    """One critic value per sample: the mean of its logits, shape ``(N,)``; for several
    scales, the mean over scales of each scale's per-sample mean, so a penalty constrains
    the discriminators as the one function the objective sums.

    The objectives average over every logit, so for a PatchGAN the function being
    regularised is the patch *mean*; differentiating the batch sum of these values gives
    each sample's input gradient in one backward pass (samples do not interact).
    """
    if not isinstance(logits, Tensor):
        return torch.stack([_per_sample(scale) for scale in logits_per_scale(logits)]).mean(0)
    return logits.reshape(len(logits), -1).mean(dim=1)


def input_gradient(
    outputs: Tensor, inputs: Tensor, grad_scaler: torch.amp.GradScaler | None = None
) -> Tensor:
    """The gradient of ``_per_sample(outputs).sum()`` with respect to ``inputs``, graph kept
    (``create_graph=True``) so a penalty on it trains the discriminator.

    Under fp16 autocast the backward through the discriminator runs in half precision,
    where gradients below ~6e-8 underflow to zero. With ``grad_scaler`` (the Stepper's), the
    outputs are multiplied by its scale before differentiating and the gradient divided by
    it afterwards, PyTorch's AMP recipe for gradient penalties. A scale too large for the
    half-precision backward gives a non-finite gradient: :meth:`Adversary.update` treats
    that as an overflow and lowers the scale (see :meth:`Stepper.back_off`).
    """
    total = _per_sample(outputs).sum()
    if grad_scaler is None:
        return torch.autograd.grad(total, inputs, create_graph=True)[0]
    (grad,) = torch.autograd.grad(grad_scaler.scale(total), inputs, create_graph=True)
    return grad / grad_scaler.get_scale()


def gradient_penalty(
    discriminator: Callable[..., Tensor],
    real: Tensor,
    fake: Tensor,
    center: float = 1.0,
    condition: Any = None,
    grad_scaler: torch.amp.GradScaler | None = None,
) -> Tensor:
    """WGAN-GP penalty E[(||grad_x D(x_hat)||_2 - center)^2] (Gulrajani et al. 2017).

    ``x_hat`` mixes each real/fake pair with its own uniform weight, so the penalty covers
    the straight lines along which the optimal critic has unit gradient. ``real`` and
    ``fake`` are ``(N, ...)`` tensors of equal shape; ``fake`` is detached here. The graph
    is kept so the penalty trains the discriminator. ``center=0`` gives the zero-centred
    variant (Thanh-Tung et al. 2019). ``condition`` (e.g. class labels) is passed to the
    discriminator as a second argument and is not differentiated: the constraint is on the
    critic as a function of the image. ``grad_scaler``: see :func:`input_gradient`.
    Returns a scalar >= 0; the paper's weight is 10.
    """
    alpha = torch.rand(len(real), *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    grad = input_gradient(judge(discriminator, x_hat, condition), x_hat, grad_scaler)
    # The epsilon keeps the backward of sqrt finite where a gradient is exactly zero.
    norm = (grad.reshape(len(grad), -1).pow(2).sum(dim=1) + 1e-12).sqrt()
    return (norm - center).pow(2).mean()


def r1_penalty(
    real_logits: Tensor, real_inputs: Tensor, grad_scaler: torch.amp.GradScaler | None = None
) -> Tensor:
    """R1 penalty 0.5 * E||grad_x D(x)||^2 on real data (Mescheder et al. 2018).

    ``real_logits = D(real_inputs)`` must have been computed with ``real_inputs`` requiring
    grad. The 0.5 is the paper's gamma/2 with gamma factored out, so a weight of ``gamma``
    reproduces its regulariser (StyleGAN2 uses the same scaling). ``grad_scaler``: see
    :func:`input_gradient`. Returns a scalar >= 0.
    """
    grad = input_gradient(real_logits, real_inputs, grad_scaler)
    return 0.5 * grad.reshape(len(grad), -1).pow(2).sum(dim=1).mean()


def drift_penalty(real_logits: Tensor | DiscriminatorOutput) -> Tensor:
    """The mean squared real logit, E[D(x)^2]: keeps a Wasserstein critic's scores from
    drifting far from zero, which its loss alone does not prevent (Karras et al. 2018,
    appendix A.1, weight epsilon_drift = 0.001); summed over scales, as the objective is."""
    return sum(scale.float().pow(2).mean() for scale in logits_per_scale(real_logits))


def judge(discriminator: Callable[..., Tensor], x: Tensor, condition: Any = None) -> Tensor:
    """``discriminator(x)``, or ``discriminator(x, condition)`` when a condition is given:
    conditioning arguments (class labels, a time step, a level of detail) reach the
    discriminator unchanged and are never part of what the penalties differentiate."""
    return discriminator(x) if condition is None else discriminator(x, condition)


def verdict_logits(verdict: Tensor | DiscriminatorOutput) -> Tensor | list[Tensor]:
    """The logits of a discriminator's verdict: a bare tensor as it is, or the ``logits`` of
    a :class:`~img2img.nets.outputs.DiscriminatorOutput` (an auto-encoder's energies, or one
    map per scale)."""
    return verdict.logits if isinstance(verdict, DiscriminatorOutput) else verdict


def verdict_aux(verdict: Tensor | DiscriminatorOutput) -> dict[str, Tensor]:
    """The named auxiliary outputs of a verdict; none for a bare tensor."""
    return verdict.aux if isinstance(verdict, DiscriminatorOutput) else {}


def has_spectral_norm(module: nn.Module) -> bool:
    """Whether any layer of ``module`` has its weight spectrally normalised (the
    parametrization :func:`img2img.nets.blocks.apply_spectral_norm` installs)."""
    return any(parametrize.is_parametrized(m, "weight") for m in module.modules())


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float) -> None:
    """Clamp every parameter of ``module`` to ``[-c, c]`` in place: the original WGAN's crude
    way of keeping the critic Lipschitz (Arjovsky et al. used c = 0.01)."""
    for p in module.parameters():
        p.clamp_(-c, c)


class Adversary(nn.Module):
    """A discriminator with its objective, penalties and optimizer, used as a loss.

    Typical use, one training iteration::

        logs = adversary.update(real, fake)          # D step; fake is detached inside
        if adversary.generator_turn():
            g_loss = adversary.loss(fake) + other_losses

    The discriminator sees exactly the tensors it is given (pix2pix concatenates condition
    and image itself); ``condition=`` arguments of :meth:`update` and :meth:`loss` (class
    labels, ...) reach it as a second argument that the penalties do not differentiate.
    The D loss is ``d_loss_weight * objective.d_loss + gp_weight * gp + r1_weight * r1``
    (``+ drift_weight * drift`` when set, see :func:`drift_penalty`): the weight scales the
    objective only (0.5 gives pix2pix/CycleGAN parity), penalties keep the weights their
    papers quote. ``r1_interval`` > 1 computes R1 on every ``r1_interval``-th update only
    (lazy regularisation, Karras et al. 2020); with ``r1_separate`` that update is followed
    by a second optimizer step on ``r1_weight * r1`` alone (stylegan2-ada-pytorch's
    ``Dreg`` phase, for which its lr x c and betas ** c, c = k / (k + 1), are meant), else R1
    joins the update's loss (DDGAN's reference, which adjusts nothing).

    ``state_dict()`` holds the discriminator's weights plus, as the module's extra state,
    the optimizer/scheduler state and the update counter, so a resumed run continues the
    same k-critic-steps rhythm.

    ``augment`` (e.g. :class:`img2img.losses.diffaugment.DiffAugment`) transforms every
    image batch the discriminator sees, real and fake alike, in its step and on the
    generator's turn, where the generator's gradient flows back through it. The penalties
    differentiate the un-augmented images, through the augmentation, as the references do
    (stylegan2-ada-pytorch's R1 under ADA): R1 the real batch itself, the gradient penalty
    the real/fake mixtures before they are augmented.
    ``aux_losses`` names terms ``(weight, fn)`` that the generator's turn adds to its
    adversarial term, ``fn`` applied to the auxiliary outputs of D's verdict on the fakes
    (:class:`~img2img.nets.outputs.DiscriminatorOutput`'s ``aux``; EBGAN's pulling-away
    term on the encoder's codes); their unweighted values after each :meth:`loss` are in
    ``g_logs``.

    ``unroll`` = K > 0 (unrolled GANs, Metz et al. 2017): the generator's term is taken
    against the discriminator after K more differentiable updates of its optimizer
    (:meth:`unrolled_discriminator`), so the generator anticipates how D will answer it
    and is pushed away from collapsing onto the modes D currently favours. As in the
    authors' released code (poolio/unrolled_gan), the unrolled steps carry the optimizer's
    state (Adam's m, v and step count) and all reuse one minibatch: the real rows of the
    last :meth:`update` and the fakes given to :meth:`loss`; the real discriminator keeps its
    own single step. Departures from that code:

    - Order: img2img's recipes step D before the generator's turn, so the unroll starts
      from D's weights and optimizer state *after* its step on this minibatch; the authors
      compute both from the same weights at once (their first unrolled step is D's real one).
    - The generator minimises the objective's own generator term at theta_K (non-saturating
      by default), so every objective unrolls; the authors' generator maximises the D loss
      at theta_K (the minimax value, whose real term also depends on the generator through
      theta_K). Under ``minimax`` the two differ by that real term only.
    - Each unrolled step uses the Adversary's whole D loss: ``d_loss_weight``, the penalties
      (whose interpolates take the fakes as constants), clipping, and a fresh augmentation
      draw; the paper's has none of these. Its learning rate is the schedule's current one.
    - The optimizer is torch's Adam (eps added after the bias correction), not Keras's.
    - Under fp16 the unrolled gradients are not loss-scaled (use bf16 or fp32).
    K = 0 is the plain Adversary: nothing is unrolled or remembered. Only :meth:`loss`
    unrolls; :meth:`feature_matching` and :meth:`scores` use D as it is.
    """

    def __init__(
        self,
        discriminator: nn.Module,
        objective: str | Objective = "nonsaturating",
        stepper: Stepper | None = None,
        gp_weight: float = 0.0,
        r1_weight: float = 0.0,
        clip: float | None = None,
        d_steps: int = 1,
        d_loss_weight: float = 1.0,
        drift_weight: float = 0.0,
        augment: Callable[[Tensor], Tensor] | None = None,
        aux_losses: dict[str, tuple[float, Callable[[dict[str, Tensor]], Tensor]]] | None = None,
        r1_interval: int = 1,
        r1_separate: bool = False,
        unroll: int = 0,
    ) -> None:
        super().__init__()
        if unroll < 0:
            raise ValueError(f"unroll must be >= 0 (discriminator steps to unroll), got {unroll}")
        if d_steps < 1:
            raise ValueError(f"d_steps must be >= 1 (D steps per generator step), got {d_steps}")
        if clip is not None and clip <= 0:
            raise ValueError(f"clip must be positive or None, got {clip}")
        self.objective = get_objective(objective) if isinstance(objective, str) else objective
        constrained = clip or gp_weight or r1_weight or has_spectral_norm(discriminator)
        if self.objective.needs_lipschitz and not constrained:
            # An unconstrained critic's loss has no floor: its outputs grow without bound.
            raise ValueError(
                f"the {self.objective.name} objective needs a Lipschitz critic: give it a "
                "gradient penalty (--gp-weight 10, or --objective wgan-gp), weight clipping "
                "(--clip 0.01) or spectral normalisation (--spectral-norm)"
            )
        self.discriminator = discriminator
        # Adam 2e-4, betas (0.5, 0.999): the DCGAN settings that pix2pix and CycleGAN inherit.
        if stepper is None:
            stepper = Stepper(make_optimizer(discriminator.parameters()))
        self.stepper = stepper
        self.gp_weight = gp_weight
        self.r1_weight = r1_weight
        self.clip = clip
        self.d_steps = d_steps
        self.d_loss_weight = d_loss_weight
        self.drift_weight = drift_weight
        # Lazy regularisation (StyleGAN2): R1 only on every r1_interval-th update; the task
        # chooses the weight (StyleGAN2 multiplies gamma by the interval, DDGAN does not).
        self.r1_interval = r1_interval
        self.r1_separate = r1_separate
        self.updates = 0
        self.last_adaptive_weight: float | None = None  # see loss(adaptive_to=...)
        self._parallel: nn.Module | None = None  # see distribute()
        self.augment = augment
        self.aux_losses = dict(aux_losses or {})
        self.g_logs: dict[str, float] = {}
        self.unroll = unroll
        if unroll:
            check_unrollable(self.stepper.optimizer)
        self._unroll_batch: tuple[Tensor, Any] | None = None  # see unrolled_discriminator

    def distribute(self, parallel: nn.Module) -> None:
        """Train data-parallel: ``parallel`` is ``discriminator`` wrapped in
        ``DistributedDataParallel`` (see :mod:`img2img.distributed`). The discriminator's own
        step (its loss and penalties) then runs through it, so DDP averages D's gradients
        over the processes; the generator's turn (:meth:`loss`) runs ``parallel.module``,
        which shares D's weights, because a frozen forward through DDP would leave its
        reducer waiting for gradients. Kept outside ``nn.Module``'s registry, so the state
        dict stays the single-process one."""
        object.__setattr__(self, "_parallel", parallel)

    def _judge(self, for_generator: bool = False) -> nn.Module:
        """The discriminator to call: the DDP wrapper (or, on the generator's turn, the
        module it wraps) once :meth:`distribute` was called, else the plain one."""
        if self._parallel is None:
            return self.discriminator
        return self._parallel.module if for_generator else self._parallel

    def _view(self, for_generator: bool = False) -> Callable[..., Any]:
        """What judges an image batch: the augmentation (when there is one), then the
        discriminator to call (:meth:`_judge`)."""
        return self._augmented(self._judge(for_generator))

    def _augmented(self, discriminator: Callable[..., Any]) -> Callable[..., Any]:
        """``discriminator`` behind the augmentation, when there is one: the gradient of a
        penalty then reaches the un-augmented images."""
        if self.augment is None:
            return discriminator
        augment = self.augment
        return lambda x, *condition: discriminator(augment(x), *condition)

    def _r1_due(self, update: int) -> bool:
        """Whether the ``update``-th discriminator update (from 0) regularises with R1 (every
        ``r1_interval``-th)."""
        return bool(self.r1_weight) and update % self.r1_interval == 0

    def d_loss(
        self, real: Tensor, fake: Tensor, condition: Any = None
    ) -> tuple[Tensor, dict[str, float]]:
        """The discriminator's loss on a batch, penalties included (R1 not, when it takes a
        step of its own: ``r1_separate``, see :meth:`r1_loss`).

        ``real`` and ``fake`` are discriminator inputs ``(N, ...)``; ``fake`` is detached so
        the generator gets no gradient. ``condition`` (optional, e.g. class labels ``(N,)``
        shared by the real and fake rows) is passed to the discriminator as its second
        argument. Returns the scalar loss and logs: ``d_loss`` (the total), ``d_real`` /
        ``d_fake`` (mean logits) and ``gp`` / ``r1`` when weighted in.
        """
        r1_inline = self._r1_due(self.updates) and not self.r1_separate
        loss, terms = self._d_loss(self._view(), real, fake.detach(), condition, r1_inline)
        logs = {name: value.item() for name, value in terms.items()}
        logs["d_loss"] = loss.item()
        return loss, logs

    def _d_loss(
        self,
        view: Callable[..., Any],
        real: Tensor,
        fake: Tensor,
        condition: Any,
        r1_due: bool,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The D loss of ``view`` (the discriminator or the unrolled one, behind the
        augmentation: :meth:`_view`) and its terms for the logs, as tensors; ``fake`` is
        used as given (detached by :meth:`d_loss`)."""
        if r1_due:
            real = real.detach().requires_grad_(True)
        scaler = self.stepper.scaler
        real_logits = judge(view, real, condition)
        fake_logits = judge(view, fake, condition)
        loss = self.d_loss_weight * over_scales(self.objective.d_loss, real_logits, fake_logits)
        terms = {"d_real": _mean_logit(real_logits), "d_fake": _mean_logit(fake_logits)}
        if self.gp_weight:
            gp = gradient_penalty(view, real, fake, condition=condition, grad_scaler=scaler)
            loss = loss + self.gp_weight * gp
            terms["gp"] = gp.detach()
        if r1_due:
            r1 = r1_penalty(real_logits, real, grad_scaler=scaler)
            loss = loss + self.r1_weight * r1
            terms["r1"] = r1.detach()
        if self.drift_weight:
            drift = drift_penalty(real_logits)
            loss = loss + self.drift_weight * drift
            terms["drift"] = drift.detach()
        return loss, terms

    def r1_loss(self, real: Tensor, condition: Any = None) -> tuple[Tensor, float]:
        """The weighted R1 term of a separate regularisation step, ``r1_weight * r1``, and
        the unweighted R1: D judges ``real`` (augmented, when augmenting) afresh and R1 is
        differentiated with respect to ``real`` itself."""
        real = real.detach().requires_grad_(True)
        real_logits = judge(self._view(), real, condition)
        r1 = r1_penalty(real_logits, real, grad_scaler=self.stepper.scaler)
        return self.r1_weight * r1, r1.item()

    def update(self, real: Tensor, fake: Tensor, condition: Any = None) -> dict[str, float]:
        """One discriminator step on ``(real, fake)`` (and ``condition``, see :meth:`d_loss`),
        then, when R1 is due and ``r1_separate``, a step on R1 alone; then weight clipping
        if configured. Advances the counter behind :meth:`generator_turn`. Returns
        :meth:`d_loss`'s logs (with ``r1``).

        Under fp16 a penalty whose scaled input gradient overflowed is not a divergence but a
        loss scale too large for half precision: the step is skipped and the scale lowered,
        as GradScaler does when the ordinary gradients overflow.
        """
        loss, logs = self.d_loss(real, fake, condition)
        self._step(loss, logs.get("gp", 0.0), logs.get("r1", 0.0))
        if self.r1_separate and self._r1_due(self.updates):
            weighted, logs["r1"] = self.r1_loss(real, condition)
            self._step(weighted, logs["r1"])
        if self.clip is not None:
            clip_weights_(self.discriminator, self.clip)
        self.updates += 1
        if self.unroll:
            self._unroll_batch = (real.detach(), condition)
        return logs

    def _step(self, loss: Tensor, *penalties: float) -> None:
        """The Stepper's step, or under fp16 a back-off when a penalty overflowed."""
        if self.stepper.scaler is not None and not all(map(math.isfinite, penalties)):
            self.stepper.back_off()
        else:
            self.stepper.step(loss)

    def loss(
        self,
        fake: Tensor,
        real: Tensor | None = None,
        condition: Any = None,
        adaptive_to: tuple[Tensor, Tensor] | None = None,
        adaptive_max: float = ADAPTIVE_MAX,
    ) -> Tensor:
        """The generator's adversarial term: a scalar whose gradient reaches ``fake``.

        The discriminator's parameters are frozen for this forward pass only, so
        ``backward`` neither fills their ``.grad`` nor spends time on them; autograd
        decides what to track when the graph is built, so restoring the flags right after
        is safe. ``real`` (optional) feeds objectives that compare against real logits;
        ``condition`` is passed to the discriminator as in :meth:`d_loss`.

        ``adaptive_to=(rec_loss, last_layer)``: scale the term by VQGAN's adaptive weight,
        the ratio of the two losses' gradient norms at ``last_layer`` (the generator's last
        weight tensor; :func:`img2img.losses.weighting.adaptive_weight`), clamped to
        ``[0, adaptive_max]`` and detached. The weight used is kept in
        ``last_adaptive_weight`` for the logs.
        """
        g_loss = self._g_loss(fake, real, condition)
        if adaptive_to is None:
            return g_loss
        weight = adaptive_weight(adaptive_to[0], g_loss, adaptive_to[1], max_weight=adaptive_max)
        self.last_adaptive_weight = weight.item()
        return weight * g_loss

    def _g_loss(self, fake: Tensor, real: Tensor | None, condition: Any) -> Tensor:
        if self.unroll:
            view = self._augmented(self.unrolled_discriminator(fake))
        else:
            view = self._view(for_generator=True)
        params = list(self.discriminator.parameters())
        flags = [p.requires_grad for p in params]
        for p in params:
            p.requires_grad_(False)
        try:
            fake_verdict = judge(view, fake, condition)
            real_logits = None if real is None else judge(view, real, condition)
        finally:
            for p, flag in zip(params, flags, strict=True):
                p.requires_grad_(flag)
        loss = over_scales(self.objective.g_loss, fake_verdict, real_logits)
        aux = verdict_aux(fake_verdict)
        for name, (weight, fn) in self.aux_losses.items():
            value = fn(aux)
            self.g_logs[name] = value.item()
            loss = loss + weight * value
        return loss

    @property
    def unroll_ready(self) -> bool:
        """Whether :meth:`loss` can be taken now: always without unrolling; with it, once an
        :meth:`update` has given the unrolled steps their batch."""
        return not self.unroll or self._unroll_batch is not None

    def unrolled_discriminator(self, fake: Tensor) -> Callable[..., Any]:
        """The discriminator after ``unroll`` more updates on the last :meth:`update`'s batch
        (its real rows and condition) with ``fake`` as the fake rows, as a function of the
        generator: ``D_K(x[, condition])`` with weights ``theta_K``, where ``theta_0`` is D's
        current weights (constants) and ``theta_{k+1}`` is what D's optimizer makes of
        ``theta_k`` and the gradient of :meth:`d_loss` there (penalties, ``d_loss_weight``
        and clipping included; :class:`~img2img.optim.UnrolledOptimizer`, whose state starts
        from the optimizer's own). The gradients are taken with ``create_graph``, so a loss
        on ``D_K(fake)`` reaches the generator through every step (Metz et al. 2017, eq. 6).
        Nothing of the real discriminator changes: its parameters are read, never written,
        and its buffers (batch-norm statistics, spectral norm's power iteration) are cloned
        for the unrolled forwards."""
        if self._unroll_batch is None:
            raise ValueError(
                "unrolling trains the discriminator on the batch of its last update(): call "
                "update(real, fake) before loss(fake)"
            )
        real, condition = self._unroll_batch
        module = self._judge(for_generator=True)
        names = {id(p): name for name, p in module.named_parameters()}
        trained = [names[id(p)] for p in self.stepper.params]
        tensors = {name: p.detach() for name, p in module.named_parameters()}
        tensors.update({name: b.clone() for name, b in module.named_buffers()})
        params = [tensors[name].requires_grad_(True) for name in trained]
        optimizer = UnrolledOptimizer(self.stepper.optimizer)

        def at(weights: list[Tensor]) -> Callable[..., Any]:
            current = {**tensors, **dict(zip(trained, weights, strict=True))}
            return lambda *args: functional_call(module, current, args)

        for k in range(self.unroll):
            r1_due = self._r1_due(self.updates + k)
            loss, _ = self._d_loss(self._augmented(at(params)), real, fake, condition, r1_due)
            grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
            params = optimizer.step(params, grads)
            if self.clip is not None:
                params = [p.clamp(-self.clip, self.clip) for p in params]
        return at(params)

    def feature_matching(self, fake: Tensor, real: Tensor, condition: Any = None) -> Tensor:
        """pix2pixHD's feature-matching term (:func:`feature_matching_loss`, unweighted):
        L1 between the discriminator's intermediate features on ``fake`` and on ``real``.

        The discriminator must return a :class:`DiscriminatorOutput` with ``features``
        (:class:`img2img.nets.multiscale.MultiScaleDiscriminator` does). Its weights enter
        as constants (detached), so the gradient reaches ``fake`` (the generator) and
        never the discriminator; ``real``'s features are computed without a graph. (Under
        spectral normalisation each training forward advances the power iteration, so the
        two passes see slightly different weights: the term is ~1e-5, not 0, for equal
        inputs.)
        """
        discriminator = self._judge(for_generator=True)
        constants = {name: p.detach() for name, p in discriminator.named_parameters()}
        args = (fake,) if condition is None else (fake, condition)
        fake_output = functional_call(discriminator, constants, args)
        with torch.no_grad():
            real_output = judge(discriminator, real, condition)
        if not isinstance(fake_output, DiscriminatorOutput) or not fake_output.features:
            raise ValueError(
                f"feature matching needs a discriminator that returns its features (a "
                f"DiscriminatorOutput, e.g. MultiScaleDiscriminator); "
                f"{type(self.discriminator).__name__} returned {type(fake_output).__name__}"
            )
        return feature_matching_loss(fake_output.features, real_output.features)

    def generator_turn(self) -> bool:
        """Whether the generator should step now: True after every ``d_steps``-th
        :meth:`update` (k critic steps per generator step, Algorithm 1 of Goodfellow et al.;
        WGAN uses k = 5). With ``d_steps=3`` the pattern over six updates is F F T F F T."""
        return self.updates > 0 and self.updates % self.d_steps == 0

    @torch.no_grad()
    def scores(self, x: Tensor) -> Tensor:
        """The discriminator's raw outputs for ``x``, for plots and probes (the GAN lab's
        decision surface): in eval mode and without gradients, so no state changes (batch
        norm's running averages, the update counter); its mode is restored after."""
        was_training = self.discriminator.training
        self.discriminator.eval()
        try:
            return verdict_logits(self.discriminator(x))
        finally:
            self.discriminator.train(was_training)

    def get_extra_state(self) -> dict[str, Any]:
        return {"stepper": self.stepper.state_dict(), "updates": self.updates}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        # Optimizer.load_state_dict keeps same-device tensors as they are, so without the copy
        # a state dict taken in memory would leave two Adversaries sharing Adam's moments.
        self.stepper.load_state_dict(copy.deepcopy(state["stepper"]))
        self.updates = int(state["updates"])
