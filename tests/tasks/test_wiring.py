"""Task wiring: one ``task.step(batch)`` updates each network by the gradient of the paper's loss.

The losses' maths is tested in tests/losses; here the question is how each recipe *uses* it:
which objective, which weights, which signs, which network steps when. Each test swaps the
task's optimizers for plain SGD (Adam's first step is about ``lr * sign(grad)``, blind to a
loss weight), copies the networks before the step, computes the loss from the paper's formula
by hand on those copies, and checks that every parameter moved by exactly ``-lr * gradient``.
Each test also checks that the update it expects is far from the one a plausible wrong
wiring would give (the other D weight, the other sign, a missing term), so a pass means
something.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2img.config import merge
from img2img.optim import Stepper

pytestmark = pytest.mark.usefixtures("one_thread")

LR = 0.5
CPU = torch.device("cpu")
TOLERANCE = 1e-4  # relative error of an update; float32 noise is ~1e-6 here


def use_sgd(*steppers: Stepper) -> None:
    """Plain SGD over the same parameters: an update is then exactly -LR * gradient."""
    for stepper in steppers:
        stepper.optimizer = torch.optim.SGD(stepper.params, lr=LR)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A copy with the same weights and modes, for computing the loss by hand."""
    return copy.deepcopy(module)


def flat_parameters(module: nn.Module) -> Tensor:
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


def flat_gradient(loss: Tensor, module: nn.Module) -> Tensor:
    params = list(module.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
    pairs = zip(params, grads, strict=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in pairs])


def relative_error(update: Tensor, expected: Tensor) -> float:
    return float((update - expected).norm() / expected.norm())


def last_layer(module: nn.Module) -> nn.Module:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d | nn.Linear)][-1]


def check_update(before: nn.Module, after: nn.Module, loss: Tensor, *wrong_losses: Tensor) -> None:
    """``after``'s parameters equal ``before``'s minus LR times the gradient of ``loss``
    (computed on ``before``); each of ``wrong_losses`` would give a clearly different update."""
    update = flat_parameters(after) - flat_parameters(before)
    expected = -LR * flat_gradient(loss, before)
    assert expected.norm() > 1e-6, "the hand-computed loss has no gradient: nothing is tested"
    error = float((update - expected).norm())
    assert error < TOLERANCE * float(expected.norm()), relative_error(update, expected)
    for wrong in wrong_losses:
        alternative = -LR * flat_gradient(wrong, before)
        # The update must be far closer to the expected one than the wrong wiring's is.
        assert error < 0.01 * float((alternative - expected).norm()), "cannot tell apart"


def bce_real(logits: Tensor) -> Tensor:
    """-E log sigmoid(x): the cross-entropy of logits against the label 'real'."""
    return -torch.log(torch.sigmoid(logits)).mean()


def bce_fake(logits: Tensor) -> Tensor:
    """-E log(1 - sigmoid(x)): the cross-entropy of logits against the label 'fake'."""
    return -torch.log(1 - torch.sigmoid(logits)).mean()


def images(seed: int, n: int = 2, size: int = 32) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=generator) * 2 - 1


# ----------------------------------------------------------------------------------------
# pix2pix: D = 0.5 [-log D(a, b) - log(1 - D(a, G(a)))]; G = -log D(a, G(a)) + 100 |b - G(a)|


def test_pix2pix_step_is_half_the_d_objective_and_g_gan_plus_100_l1() -> None:
    from img2img.tasks.pix2pix import Pix2Pix, Pix2PixConfig

    config = merge(
        Pix2PixConfig, {"image_size": 32, "ngf": 4, "ndf": 4, "dropout": 0.0, "device": "cpu"}
    )
    torch.manual_seed(0)
    task = Pix2Pix(config, total_steps=10, decay_steps=0, device=CPU)
    use_sgd(*task.steppers.values())
    a, b = images(1), images(2)
    g0, d0 = frozen_copy(task.generator), frozen_copy(task.adversary.discriminator)

    logs = task.step({"input": a, "target": b})

    # Discriminator: on (a, b) against (a, G(a)), the fake detached, the objective halved.
    fake = g0(a).detach()
    real_logits, fake_logits = d0(torch.cat([a, b], 1)), d0(torch.cat([a, fake], 1))
    objective = bce_real(real_logits) + bce_fake(fake_logits)
    d1 = task.adversary.discriminator
    check_update(d0, d1, 0.5 * objective, objective)
    assert logs["d_loss"] == pytest.approx(0.5 * objective.item(), rel=1e-5)

    # Generator: non-saturating against the updated D, plus 100 x L1.
    d1 = frozen_copy(d1)
    fake = g0(a)
    g_gan = bce_real(d1(torch.cat([a, fake], 1)))
    l1 = (fake - b).abs().mean()
    check_update(g0, task.generator, g_gan + 100 * l1, -g_gan + 100 * l1, g_gan + 10 * l1)
    assert logs["g_gan"] == pytest.approx(g_gan.item(), rel=1e-5)
    assert logs["g_l1"] == pytest.approx(l1.item(), rel=1e-5)


# ----------------------------------------------------------------------------------------
# CycleGAN: D_X = 0.5 [(D_X(x) - 1)^2 + D_X(fake_x)^2];
# G = LSGAN terms + 10 (both cycles) + 0.5 x 10 (both identities)


def test_cyclegan_step_is_half_lsgan_per_domain_and_both_cycles_and_identities() -> None:
    from img2img.tasks.cyclegan import CycleGAN, CycleGANConfig

    values = {"image_size": 32, "ngf": 4, "ndf": 4, "resnet_blocks": 1, "device": "cpu"}
    config = merge(CycleGANConfig, values)
    torch.manual_seed(0)
    task = CycleGAN(config, total_steps=10, decay_steps=0, device=CPU)
    use_sgd(*task.steppers.values())
    real = {"A": images(3), "B": images(4)}
    g0 = frozen_copy(task.generator)
    d0 = {domain: frozen_copy(adv.discriminator) for domain, adv in task.adversaries.items()}

    logs = task.step(dict(real))

    g_ab, g_ba = g0["AtoB"], g0["BtoA"]
    fakes = {"B": g_ab(real["A"]).detach(), "A": g_ba(real["B"]).detach()}
    for domain in ("A", "B"):  # the pool is filling, so it returns this iteration's fakes
        real_logits, fake_logits = d0[domain](real[domain]), d0[domain](fakes[domain])
        objective = (real_logits - 1).pow(2).mean() + fake_logits.pow(2).mean()
        after = task.adversaries[domain].discriminator
        check_update(d0[domain], after, 0.5 * objective, objective)
        assert logs[f"d_loss_{domain}"] == pytest.approx(0.5 * objective.item(), rel=1e-5)

    d1 = {domain: frozen_copy(adv.discriminator) for domain, adv in task.adversaries.items()}
    a, b = real["A"], real["B"]
    fake_b, fake_a = g_ab(a), g_ba(b)
    adversarial = (d1["B"](fake_b) - 1).pow(2).mean() + (d1["A"](fake_a) - 1).pow(2).mean()
    cycle_a = (g_ba(fake_b) - a).abs().mean()
    cycle_b = (g_ab(fake_a) - b).abs().mean()
    identity = (g_ab(b) - b).abs().mean() + (g_ba(a) - a).abs().mean()
    cycles = 10 * cycle_a + 10 * cycle_b
    total = adversarial + cycles + 0.5 * 10 * identity
    check_update(
        g0,
        task.generator,
        total,
        adversarial + cycles + 10 * identity,  # identity weight not halved
        adversarial + cycles,  # identity term missing
        adversarial + 10 * cycle_a + 0.5 * 10 * identity,  # one cycle missing
        -adversarial + cycles + 0.5 * 10 * identity,  # adversarial sign flipped
    )
    assert logs["cycle_A"] == pytest.approx(cycle_a.item(), rel=1e-5)
    assert logs["cycle_B"] == pytest.approx(cycle_b.item(), rel=1e-5)
    assert logs["idt_A"] == pytest.approx((g_ba(a) - a).abs().mean().item(), rel=1e-5)
    assert logs["idt_B"] == pytest.approx((g_ab(b) - b).abs().mean().item(), rel=1e-5)


# ----------------------------------------------------------------------------------------
# SRGAN: psnr phase MSE; gan phase perceptual + 1e-3 x (-log D(G(x))), D unhalved


class StandInFeatures(nn.Module):
    """A tiny frozen feature network in place of VGG/Inception: perceptual(x, y) =
    mean (phi(x) - phi(y))^2, as the real backbones compute it, in milliseconds."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.phi = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh())
        self.requires_grad_(False)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return (self.phi(output) - self.phi(target)).pow(2).mean()


def srgan_task(phase: str, **overrides):
    from img2img.tasks.srgan import SRGAN, SRGANConfig

    values = {"scale": 4, "blocks": 1, "ngf": 8, "ndf": 8, "image_size": 32}
    config = merge(SRGANConfig, {**values, "phase": phase, "device": "cpu", **overrides})
    torch.manual_seed(0)
    task = SRGAN(config, total_steps=10, decay_steps=0, device=CPU)
    use_sgd(*task.steppers.values())
    hr = images(6)
    lr = F.avg_pool2d(hr, 4)
    return task, {"input": lr, "target": hr}


def test_srgan_psnr_phase_steps_the_generator_on_mse_only() -> None:
    task, batch = srgan_task("psnr")
    g0, d0 = frozen_copy(task.generator), frozen_copy(task.adversary.discriminator)
    logs = task.step(batch)
    sr = g0(batch["input"])
    mse = (sr - batch["target"]).pow(2).mean()
    check_update(g0, task.generator, mse, (sr - batch["target"]).abs().mean())
    assert torch.equal(flat_parameters(d0), flat_parameters(task.adversary.discriminator))
    assert logs["pixel"] == pytest.approx(mse.item(), rel=1e-5)
    psnr = 10 * math.log10(4 / (sr.detach().clamp(-1, 1) - batch["target"]).pow(2).mean().item())
    assert logs["psnr"] == pytest.approx(psnr, rel=1e-5)  # peak-to-peak 2 in [-1, 1]


@pytest.mark.parametrize("pixel_weight", [0.0, 0.5])
def test_srgan_gan_phase_is_perceptual_plus_1e_3_adversarial(pixel_weight: float) -> None:
    """(With --gan-pixel-weight w, plus w x MSE.)"""
    task, batch = srgan_task("gan", gan_pixel_weight=pixel_weight)
    task.perceptual = StandInFeatures()
    perceptual_net = frozen_copy(task.perceptual)
    g0, d0 = frozen_copy(task.generator), frozen_copy(task.adversary.discriminator)
    lr, hr = batch["input"], batch["target"]

    logs = task.step(batch)

    sr = g0(lr).detach()
    objective = bce_real(d0(hr)) + bce_fake(d0(sr))  # the paper's D: no halving
    check_update(d0, task.adversary.discriminator, objective, 0.5 * objective)
    assert logs["d_loss"] == pytest.approx(objective.item(), rel=1e-5)

    d1 = frozen_copy(task.adversary.discriminator)
    sr = g0(lr)
    perceptual = perceptual_net(sr, hr)
    adversarial = bce_real(d1(sr))
    mse = (sr - hr).pow(2).mean()
    loss = perceptual + 1e-3 * adversarial + pixel_weight * mse
    check_update(
        g0,
        task.generator,
        loss,
        loss - 2e-3 * adversarial,  # adversarial sign flipped
        loss - perceptual,  # perceptual term dropped
        loss - 1e-3 * adversarial,  # adversarial term dropped
        loss + (-2 * pixel_weight * mse if pixel_weight else mse),  # pixel sign flipped / added
    )
    assert logs["perceptual"] == pytest.approx(perceptual.item(), rel=1e-5)
    assert logs["g_gan"] == pytest.approx(adversarial.item(), rel=1e-5)


def test_pix2pixhd_adds_the_weighted_perceptual_term_to_the_generators_loss() -> None:
    """With ``--perceptual`` the generator's update gains exactly -LR x w x the perceptual
    term's gradient (w = --perceptual-weight): the same step with and without it differs by
    that alone, the discriminator's step being the same."""
    from img2img.tasks.pix2pixhd import Pix2PixHD, Pix2PixHDConfig

    values = {"image_size": 32, "n_downsample": 3, "ngf": 4, "ndf": 4, "global_blocks": 1,
              "d_layers": 1, "num_d": 2, "perceptual_weight": 3.0, "device": "cpu"}  # fmt: skip
    label, photo = images(1), images(2)
    updates, logs = [], {}
    for perceptual in (None, StandInFeatures()):
        torch.manual_seed(0)
        task = Pix2PixHD(merge(Pix2PixHDConfig, values), total_steps=10, decay_steps=0, device=CPU)
        use_sgd(*task.steppers.values())
        task.perceptual = perceptual
        g0 = frozen_copy(task.generator)
        logs = task.step({"input": label, "target": photo})
        updates.append(flat_parameters(task.generator) - flat_parameters(g0))
    term = StandInFeatures()(g0.network(g0.encode(label)), photo)
    expected = -LR * 3.0 * flat_gradient(term, g0)
    assert relative_error(updates[1] - updates[0], expected) < 1e-3
    assert logs["g_perceptual"] == pytest.approx(term.item(), rel=1e-5)


# ----------------------------------------------------------------------------------------
# GAN from noise: the objective's D terms every iteration, G every k-th


def gan_task(objective: str, **values):
    from img2img.tasks.gan import GAN, GANConfig

    base = {"image_size": 16, "channels": 1, "ngf": 4, "ndf": 4, "z_dim": 8, "device": "cpu"}
    config = merge(GANConfig, {**base, "objective": objective, **values})
    torch.manual_seed(0)
    task = GAN(config, total_steps=20, decay_steps=0, device=CPU)
    use_sgd(*task.steppers.values())
    return task


def record_inputs(module: nn.Module) -> list[Tensor]:
    """The first positional input of every call of ``module`` (detached copies)."""
    seen: list[Tensor] = []
    module.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach().clone()))
    return seen


def gan_batch(seed: int) -> dict[str, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"image": torch.rand(4, 1, 16, 16, generator=generator) * 2 - 1}


def test_gan_nonsaturating_step() -> None:
    task = gan_task("nonsaturating")
    g0, d0 = frozen_copy(task.generator), frozen_copy(task.adversary.discriminator)
    latents = record_inputs(task.generator)
    batch = gan_batch(7)

    logs = task.step(batch)

    (z,) = latents  # k = 1: one fake batch serves D's step and G's
    x, fake = batch["image"], g0(z).detach()
    objective = bce_real(d0(x)) + bce_fake(d0(fake))
    check_update(d0, task.adversary.discriminator, objective, 0.5 * objective)
    assert logs["d_loss"] == pytest.approx(objective.item(), rel=1e-5)

    d1 = frozen_copy(task.adversary.discriminator)
    fake = g0(z)
    non_saturating = bce_real(d1(fake))
    minimax = -bce_fake(d1(fake))  # log(1 - D(G(z))): the saturating form
    check_update(g0, task.generator, non_saturating, minimax, -non_saturating)
    assert logs["g_loss"] == pytest.approx(non_saturating.item(), rel=1e-5)


def test_gan_hinge_discriminator_terms() -> None:
    # Spectral norm off: its power iteration would make the copy's forward differ.
    task = gan_task("hinge", spectral_norm=False)
    with torch.no_grad():  # logits on both sides of the margin, where hinge differs from wgan
        head = last_layer(task.adversary.discriminator)
        head.weight.mul_(5000)
        head.bias.fill_(1.5)
    g0, d0 = frozen_copy(task.generator), frozen_copy(task.adversary.discriminator)
    latents = record_inputs(task.generator)
    batch = gan_batch(8)
    task.step(batch)
    x, fake = batch["image"], g0(latents[0]).detach()
    real_logits, fake_logits = d0(x), d0(fake)
    inside = (real_logits < 1).float().mean() + (fake_logits > -1).float().mean()
    assert 0 < inside < 2, (real_logits, fake_logits)  # some terms active, some not
    hinge = torch.clamp(1 - real_logits, min=0).mean() + torch.clamp(1 + fake_logits, min=0).mean()
    wgan = fake_logits.mean() - real_logits.mean()
    check_update(d0, task.adversary.discriminator, hinge, wgan, 0.5 * hinge)


def test_gan_wgan_gp_critic_terms_and_generator_every_fifth_iteration() -> None:
    task = gan_task("wgan-gp")  # preset: gradient penalty 10, five critic steps, no critic BN
    assert task.adversary.d_steps == 5
    g0, d0 = frozen_copy(task.generator), frozen_copy(task.adversary.discriminator)
    latents = record_inputs(task.generator)
    critic_inputs = record_inputs(task.adversary.discriminator)
    batch = gan_batch(9)

    task.step(batch)

    # The critic saw real, fake and the interpolates x_hat = alpha x + (1 - alpha) G(z).
    x, fake = batch["image"], g0(latents[0]).detach()
    real_seen, fake_seen, x_hat = critic_inputs[:3]
    assert torch.equal(real_seen, x) and torch.allclose(fake_seen, fake, atol=1e-6)
    alpha = ((x_hat - fake) / (x - fake)).flatten(1)
    assert torch.allclose(alpha, alpha[:, :1], atol=1e-3)
    assert ((alpha >= 0) & (alpha <= 1)).all()
    x_hat = x_hat.requires_grad_(True)
    (grad,) = torch.autograd.grad(d0(x_hat).sum(), x_hat, create_graph=True)
    penalty = (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
    wasserstein = d0(fake).mean() - d0(x).mean()
    check_update(
        d0, task.adversary.discriminator, wasserstein + 10 * penalty, wasserstein, -wasserstein
    )

    # Four more critic steps; the generator steps on the fifth iteration only.
    for i in range(4):
        assert torch.equal(flat_parameters(task.generator), flat_parameters(g0)), i
        task.step(gan_batch(10 + i))
    assert not torch.equal(flat_parameters(task.adversary.discriminator), flat_parameters(d0))
    z = latents[-1]  # a fresh batch for the generator's turn
    assert len(latents) == 6 and not torch.equal(z, latents[-2])
    d_now = frozen_copy(task.adversary.discriminator)
    critic_g = -d_now(g0(z)).mean()
    check_update(g0, task.generator, critic_g, -critic_g)


STEPPERS = {  # the Trainer names each in messages and in the logged learning rates
    "pix2pix": {"generator", "discriminator"},
    "pix2pixhd": {"generator", "discriminator"},
    "cyclegan": {"generator", "discriminator_A", "discriminator_B"},
    "srgan": {"generator", "discriminator"},
    "gan": {"generator", "discriminator"},
}


@pytest.mark.parametrize("name", sorted(STEPPERS))
def test_every_network_is_stepped_with_the_configs_optimizer(name: str) -> None:
    """(The checkpoint keys of every task are pinned by tests/tasks/test_contract.py.)"""
    from img2img.losses import Adversary
    from img2img.tasks import TASKS, task_members

    small = {"srgan": {"ngf": 8, "ndf": 8, "blocks": 1, "phase": "psnr"}}
    values = {"device": "cpu", **small.get(name, {"ngf": 4, "ndf": 4})}
    config = merge(TASKS[name].Config, {**values, "lr": 3e-4, "beta1": 0.25, "beta2": 0.75})
    task = TASKS[name](config, 1, 0, CPU)
    # Every network's optimizer is in ``steppers`` (the Trainer ticks their schedules) and
    # takes the config's settings, the discriminators' included.
    assert set(task.steppers) == STEPPERS[name]
    adversaries = task_members(task, Adversary)
    assert {id(a.stepper) for a in adversaries} <= {id(s) for s in task.steppers.values()}
    for stepper in task.steppers.values():
        group = stepper.optimizer.param_groups[0]
        assert (group["lr"], group["betas"]) == (3e-4, (0.25, 0.75))
