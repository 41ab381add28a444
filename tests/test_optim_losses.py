"""Optimizers, per-step schedules (with resume), class weights and losses against hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from charclf.errors import ConfigError, UnknownNameError
from charclf.train.config import OptimizerConfig, SchedulerConfig
from charclf.train.losses import build_loss, class_weights
from charclf.train.optim import build_optimizer, build_scheduler


def small_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 26 * 26, 5))


# -- optimizers ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, cls_name", [("sgd", "SGD"), ("adam", "Adam"), ("adamw", "AdamW"), ("lion", "Lion")])
def test_build_optimizer_kinds_and_no_decay_on_biases_and_norms(name, cls_name):
    model = small_model()
    opt = build_optimizer(model, OptimizerConfig(name=name, lr=0.003, weight_decay=0.1, betas=(0.8, 0.9)))
    assert type(opt).__name__ == cls_name
    assert opt.param_groups[0]["lr"] == 0.003
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    exempt = {id(p) for g in opt.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    conv, bn, lin = model[0], model[1], model[3]
    assert decayed == {id(conv.weight), id(lin.weight)}
    assert exempt == {id(conv.bias), id(bn.weight), id(bn.bias), id(lin.bias)}
    if name != "sgd":
        assert tuple(opt.param_groups[0]["betas"]) == (0.8, 0.9)


def test_sgd_momentum_nesterov_and_a_step_changes_weights():
    model = small_model()
    opt = build_optimizer(model, OptimizerConfig(name="sgd", lr=0.1, momentum=0.8, nesterov=True))
    assert opt.param_groups[0]["momentum"] == 0.8 and opt.param_groups[0]["nesterov"]
    before = model[3].weight.detach().clone()
    model(torch.randn(2, 1, 28, 28)).sum().backward()
    opt.step()
    assert not torch.equal(before, model[3].weight)


def test_optimizer_errors():
    with pytest.raises(UnknownNameError, match="adamw"):
        build_optimizer(small_model(), OptimizerConfig(name="adamx"))
    with pytest.raises(ConfigError, match="nesterov"):
        build_optimizer(small_model(), OptimizerConfig(name="sgd", momentum=0.0, nesterov=True))
    with pytest.raises(ConfigError, match="lr"):
        build_optimizer(small_model(), OptimizerConfig(lr=0.0))


def test_lion_missing_package_gives_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "lion_pytorch", None)  # import now raises ImportError
    with pytest.raises(ConfigError, match="pip install lion-pytorch"):
        build_optimizer(small_model(), OptimizerConfig(name="lion"))


# -- schedulers ------------------------------------------------------------------------------------------
def lr_trace(cfg: SchedulerConfig, *, epochs: int, spe: int, lr: float = 0.1, steps: int | None = None):
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    sched = build_scheduler(opt, cfg, epochs=epochs, steps_per_epoch=spe)
    lrs = []
    for _ in range(steps if steps is not None else epochs * spe):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_none_scheduler_is_none():
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    assert build_scheduler(opt, SchedulerConfig(name="none"), epochs=3, steps_per_epoch=4) is None


def test_step_decays_every_step_size_epochs_in_steps():
    lrs = lr_trace(SchedulerConfig(name="step", step_size=2, gamma=0.5), epochs=6, spe=3)
    expected = [0.1 * 0.5 ** (s // 6) for s in range(18)]
    assert lrs == pytest.approx(expected)


def test_onecycle_peaks_at_max_lr_and_ends_low():
    lrs = lr_trace(SchedulerConfig(name="onecycle", max_lr=0.5, warmup_epochs=1), epochs=4, spe=10)
    assert max(lrs) == pytest.approx(0.5)
    assert lrs.index(max(lrs)) in (9, 10)  # warm-up is 1 of 4 epochs
    assert lrs[0] == pytest.approx(0.5 / 25) and lrs[-1] < 1e-3


def test_cosine_reaches_eta_min_over_all_steps():
    lrs = lr_trace(SchedulerConfig(name="cosine", eta_min=0.001), epochs=2, spe=5, steps=11)
    expected = [0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * s / 10)) / 2 for s in range(11)]
    assert lrs == pytest.approx(expected, rel=1e-6)


def test_warmup_then_cosine_warm_restarts():
    spe, warm, t0 = 4, 1, 2
    lrs = lr_trace(SchedulerConfig(name="warmup_cosine_restarts", warmup_epochs=warm, t0=t0, t_mult=1,
                                   eta_min=0.0), epochs=6, spe=spe)
    # linear warm-up from 1 % of the lr
    assert lrs[0] == pytest.approx(0.001)
    assert lrs[:spe] == sorted(lrs[:spe])
    # then cosine cycles of t0 * spe = 8 steps, restarting at the full lr
    period = t0 * spe
    for s in range(spe, len(lrs)):
        tc = (s - spe) % period
        assert lrs[s] == pytest.approx(0.1 * (1 + math.cos(math.pi * tc / period)) / 2, abs=1e-9)


@pytest.mark.parametrize("cfg", [SchedulerConfig(name="step", step_size=1, gamma=0.7),
                                 SchedulerConfig(name="onecycle"),
                                 SchedulerConfig(name="cosine", eta_min=0.01),
                                 SchedulerConfig(name="warmup_cosine_restarts", warmup_epochs=2, t0=1, t_mult=2),
                                 SchedulerConfig(name="warmup_cosine_restarts", warmup_epochs=0, t0=2)])
def test_scheduler_state_round_trips_for_resume(cfg):
    epochs, spe, k = 6, 5, 13
    full = lr_trace(cfg, epochs=epochs, spe=spe, lr=0.05)

    def build():
        model = nn.Linear(2, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        return opt, build_scheduler(opt, cfg, epochs=epochs, steps_per_epoch=spe)

    opt, sched = build()
    for _ in range(k):
        opt.step()
        sched.step()
    opt_state, sched_state = opt.state_dict(), sched.state_dict()
    opt2, sched2 = build()  # "a new process": build as for a fresh run, then load
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(sched_state)
    resumed = []
    for _ in range(k, epochs * spe):
        resumed.append(opt2.param_groups[0]["lr"])
        opt2.step()
        sched2.step()
    assert resumed == pytest.approx(full[k:], rel=1e-9, abs=1e-12)


def test_unknown_scheduler_name():
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(UnknownNameError, match="cosine"):
        build_scheduler(opt, SchedulerConfig(name="cosin"), epochs=1, steps_per_epoch=1)


# -- losses ----------------------------------------------------------------------------------------------
def test_class_weights_inverse_frequency_mean_one_and_zero_counts():
    w = class_weights([10, 20, 40, 0])
    inv = torch.tensor([1 / 10, 1 / 20, 1 / 40])
    expected = inv / inv.mean()
    torch.testing.assert_close(w[:3], expected.float())
    assert w[3] == 0
    assert w[:3].mean().item() == pytest.approx(1.0)
    with pytest.raises(ConfigError):
        class_weights([0, 0])
    with pytest.raises(ConfigError):
        class_weights([3, -1])


LOGITS = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]])
Y = torch.tensor([0, 2])


def log_softmax_by_hand(z):
    return [[v - math.log(sum(math.exp(u) for u in row)) for v in row] for row in z.tolist()]


def test_ce_hard_soft_and_label_smoothing_by_hand():
    lp = log_softmax_by_hand(LOGITS)
    ce = build_loss("ce", num_classes=3)
    assert ce(LOGITS, Y).item() == pytest.approx(-(lp[0][0] + lp[1][2]) / 2, rel=1e-6)
    # soft targets
    t = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.5, 0.5]])
    by_hand = -((0.7 * lp[0][0] + 0.3 * lp[0][1]) + (0.5 * lp[1][1] + 0.5 * lp[1][2])) / 2
    assert ce(LOGITS, t).item() == pytest.approx(by_hand, rel=1e-6)
    # label smoothing: targets (1 - eps) onehot + eps / C, hard and soft paths agree
    eps = 0.3
    ls = build_loss("ce", num_classes=3, label_smoothing=eps)
    q = [[(1 - eps) * (j == y) + eps / 3 for j in range(3)] for y in Y.tolist()]
    by_hand = -sum(q[i][j] * lp[i][j] for i in range(2) for j in range(3)) / 2
    assert ls(LOGITS, Y).item() == pytest.approx(by_hand, rel=1e-6)
    assert ls(LOGITS, F.one_hot(Y, 3).float()).item() == pytest.approx(by_hand, rel=1e-6)


def test_weighted_ce_by_hand_and_equals_torch_weighted_ce():
    counts = [10, 30, 60]
    w = class_weights(counts).tolist()
    lp = log_softmax_by_hand(LOGITS)
    loss = build_loss("weighted_ce", num_classes=3, class_counts=counts)
    by_hand = -(w[0] * lp[0][0] + w[2] * lp[1][2]) / (w[0] + w[2])
    assert loss(LOGITS, Y).item() == pytest.approx(by_hand, rel=1e-6)
    torch.testing.assert_close(loss(LOGITS, Y), F.cross_entropy(LOGITS, Y, weight=torch.tensor(w)))
    # soft targets: sample weight = t . w
    t = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    s0, s1 = 0.5 * w[0] + 0.5 * w[1], w[2]
    l0, l1 = -(0.5 * lp[0][0] + 0.5 * lp[0][1]), -lp[1][2]
    assert loss(LOGITS, t).item() == pytest.approx((s0 * l0 + s1 * l1) / (s0 + s1), rel=1e-6)


def test_weighted_kldiv_by_hand():
    counts = [10, 30, 60]
    w = class_weights(counts).tolist()
    eps = 0.1
    loss = build_loss("weighted_kldiv", num_classes=3, class_counts=counts, label_smoothing=eps)
    lp = log_softmax_by_hand(LOGITS)
    total = 0.0
    for i, y in enumerate(Y.tolist()):
        q = [(1 - eps) * (j == y) + eps / 3 for j in range(3)]
        kl = sum(q[j] * (math.log(q[j]) - lp[i][j]) for j in range(3))
        total += w[y] * kl
    assert loss(LOGITS, Y).item() == pytest.approx(total / 2, rel=1e-6)
    # without smoothing or weights it is KLDivLoss(batchmean) = cross-entropy for one-hot targets
    plain = build_loss("weighted_kldiv", num_classes=3, class_counts=[5, 5, 5])
    torch.testing.assert_close(plain(LOGITS, Y), F.cross_entropy(LOGITS, Y))
    kld = nn.KLDivLoss(reduction="batchmean")(F.log_softmax(LOGITS, 1), F.one_hot(Y, 3).float())
    torch.testing.assert_close(plain(LOGITS, Y), kld)


def test_losses_under_bf16_logits_and_gradients_flow():
    logits = LOGITS.clone().to(torch.bfloat16).requires_grad_()
    for name in ("ce", "weighted_ce", "weighted_kldiv"):
        loss = build_loss(name, num_classes=3, class_counts=[1, 2, 3], label_smoothing=0.1)
        out = loss(logits, Y)
        assert out.dtype == torch.float32 and torch.isfinite(out)
        out.backward()
    assert logits.grad is not None


def test_loss_errors():
    with pytest.raises(UnknownNameError, match="weighted_ce"):
        build_loss("weighted_cee", num_classes=3)
    with pytest.raises(ConfigError, match="class_counts"):
        build_loss("weighted_kldiv", num_classes=3)
    with pytest.raises(ConfigError, match="num_classes"):
        build_loss("weighted_ce", num_classes=4, class_counts=[1, 2, 3])
    with pytest.raises(ConfigError, match="label_smoothing"):
        build_loss("ce", num_classes=3, label_smoothing=1.0)
    with pytest.raises(ValueError, match="shape"):
        build_loss("ce", num_classes=3)(LOGITS, torch.zeros(2, 4))
