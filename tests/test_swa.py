"""Stochastic weight averaging (TrainConfig.swa_start_epoch / swa_lr): the equal-weight mean of epoch-end weights,
validated and saved from its start epoch, at a constant learning rate; an interrupted SWA run resumes exactly."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from charclf.errors import ConfigError
from charclf.train import OptimizerConfig, SchedulerConfig, TrainConfig, fit
from charclf.train.ema import SWA
from test_resume import CLASSES, assert_same_weights, data

CONFIG = TrainConfig(model="lenet", epochs=4, batch_size=32, seed=3, log_every=4, swa_start_epoch=3, swa_lr=0.01,
                     optimizer=OptimizerConfig(name="sgd", lr=0.05, momentum=0.9),
                     scheduler=SchedulerConfig(name="step", step_size=1, gamma=0.5))


def test_swa_is_the_equal_weight_mean_of_what_it_folds_in():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    swa = SWA(net, start_epoch=1)
    for value in (1.0, 2.0, 6.0):
        with torch.no_grad():
            net[0].weight.fill_(value)
            net[1].running_mean.fill_(value)
        swa.update(net)
    assert torch.allclose(swa.module[0].weight, torch.full((2, 2), 3.0))
    assert torch.allclose(swa.module[1].running_mean, torch.full((2,), 3.0))  # BatchNorm statistics averaged too
    assert swa.active(1) and not SWA(net, start_epoch=2).active(1)


def _train(out, config=CONFIG, callbacks=None, resume=False):
    from charclf.models import create_model

    torch.manual_seed(5)
    model = create_model("lenet", num_classes=len(CLASSES))
    return fit(model, data(), config, out, progress=False, callbacks=callbacks, resume=resume)


def test_fit_averages_from_the_start_epoch_at_the_constant_rate_and_resumes_exactly(tmp_path):
    straight = _train(tmp_path / "straight")
    # The schedule runs until the start epoch, then SWA's constant rate (history's lr: the rate after the epoch).
    assert straight.lr.tolist()[2:] == [0.01, 0.01] and straight.lr.tolist()[0] == pytest.approx(0.025)

    def stop_after_epoch_3(row):
        if row["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "killed", callbacks=[stop_after_epoch_3])
    resumed = _train(tmp_path / "killed", resume=True)
    for name in ("last.safetensors", "model.safetensors"):
        assert_same_weights(load_file(tmp_path / "killed" / name), load_file(tmp_path / "straight" / name))
    assert resumed.val_acc.tolist() == straight.val_acc.tolist()



def test_swa_validates_the_mean_of_the_epoch_end_weights_from_its_start_epoch_on(tmp_path):
    """With the schedule kept (swa_lr None), SWA changes nothing but what is validated: epochs before the start
    and the start epoch itself (a mean of one) validate the plain weights; epoch 4 validates the mean of the plain
    run's weights at the ends of epochs 3 and 4, BatchNorm statistics included."""
    from charclf.eval.record import RunRecord
    from charclf.models import create_model
    from charclf.train.engine import evaluate_logits

    swa_config = replace(CONFIG, swa_lr=None)
    swa = _train(tmp_path / "swa", swa_config)
    plain_config = replace(CONFIG, swa_start_epoch=None, swa_lr=None)
    plain = _train(tmp_path / "plain", plain_config)
    _train(tmp_path / "plain3", replace(plain_config, epochs=3))  # the same first 3 epochs, then stops
    assert swa.val_loss.tolist()[:3] == plain.val_loss.tolist()[:3]
    assert swa.val_loss.tolist()[3] != plain.val_loss.tolist()[3]

    end3, end4 = (load_file(tmp_path / name / "last.safetensors") for name in ("plain3", "plain"))
    mean = {k: (end3[k] + end4[k]) / 2 if end3[k].is_floating_point() else end4[k] for k in end4}
    net = create_model("lenet", num_classes=len(CLASSES))
    net.load_state_dict(mean)
    record = RunRecord.load(tmp_path / "plain")
    loss, acc = evaluate_logits(net, data().val, mean=record.mean, std=record.std, config=swa_config)
    assert loss == pytest.approx(swa.val_loss.tolist()[3], rel=1e-5) and acc == swa.val_acc.tolist()[3]


@pytest.mark.parametrize("changes, says", [
    ({"swa_start_epoch": 5}, "must be in [1, epochs=4]"),
    ({"ema_decay": 0.99}, "one run validates one average"),
    ({"swa_start_epoch": None}, "needs swa_start_epoch"),
    ({"swa_lr": 0.0}, "must be > 0"),
])
def test_unusable_swa_settings_are_refused_before_any_work(tmp_path, changes, says):
    with pytest.raises(ConfigError, match=says.replace("[", r"\[").replace("]", r"\]")):
        _train(tmp_path / "run", replace(CONFIG, **changes))
    assert not (tmp_path / "run").exists()
