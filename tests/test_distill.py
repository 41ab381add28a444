"""Knowledge distillation: a teacher file on the train part, checked against the data, mixed with the labels."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from synth import quadrant_bundle

from charclf.errors import ConfigError, DataError
from charclf.train import fit
from charclf.train.config import AugmentConfig
from charclf.train.distill import TEACHER_FORMAT, distill_targets, load_teacher
from charclf.train.recipes import get_recipe

pytestmark = pytest.mark.usefixtures("one_thread")


def _teacher(path, train, probs, labels=None):
    labels = train.labels.numpy() if labels is None else labels
    np.savez_compressed(path, format=np.array(TEACHER_FORMAT), probs=probs.astype(np.float16),
                        labels=labels, classes=np.array(train.classes))
    return path


def test_targets_mix_teacher_and_labels_and_sum_to_one():
    teacher = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.2, 0.6]], dtype=torch.float16)
    labels = torch.tensor([0, 2])
    mixed = distill_targets(teacher, labels, 0.5)
    torch.testing.assert_close(mixed, torch.tensor([[0.75, 0.25, 0.0], [0.1, 0.1, 0.8]]), atol=2e-3, rtol=0)
    torch.testing.assert_close(mixed.sum(1), torch.ones(2))
    assert torch.equal(distill_targets(teacher, labels, 0.0), torch.eye(3)[[0, 2]])
    with pytest.raises(ConfigError, match="distill_alpha"):
        distill_targets(teacher, labels, 1.5)


def test_a_teacher_of_other_images_or_no_file_is_refused_naming_the_file(tmp_path):
    train = quadrant_bundle(40, 8, 8, 0).train
    with pytest.raises(DataError, match="does not exist"):
        load_teacher(tmp_path / "missing.npz", train)
    shuffled = np.roll(train.labels.numpy(), 1)  # the same images' labels in another order
    path = _teacher(tmp_path / "t.npz", train, np.full((40, 4), 0.25), labels=shuffled)
    with pytest.raises(DataError, match="another train part") as err:
        load_teacher(path, train)
    assert "t.npz" in str(err.value)
    ok = _teacher(tmp_path / "ok.npz", train, np.full((40, 4), 0.25))
    assert load_teacher(ok, train).dtype == np.float32


def test_fit_trains_towards_the_teacher(tmp_path, monkeypatch):
    """A teacher that puts all its mass on class 0, at alpha 1, must pull the predictions to class 0."""
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    data = quadrant_bundle(96, 32, 32, 0)
    probs = np.zeros((len(data.train), 4))
    probs[:, 0] = 1.0
    _teacher(tmp_path / "teacher.npz", data.train, probs)

    def train(**kw):
        from charclf.models import create_model

        torch.manual_seed(0)
        model = create_model("lenet", num_classes=4)
        config = get_recipe("byclass_study", model="lenet", epochs=3, batch_size=16, augment=AugmentConfig(),
                            optimizer__lr=0.05, **kw)
        history = fit(model, data, config, progress=False)
        return history.attrs["metrics"]["best_val_acc"], model

    plain_acc, _ = train()
    _, taught = train(distill_teacher="teacher.npz", distill_alpha=1.0, max_train_samples=64)
    from charclf.eval.inference import predict_logits

    cfg = taught.charclf_config
    preds = predict_logits(taught, data.val.images, mean=cfg["mean"], std=cfg["std"]).argmax(1)
    assert (preds == 0).float().mean() > 0.9  # the teacher's (wrong) answer, not the labels'
    assert plain_acc > 0.5


def test_write_teacher_is_readable_and_never_overwritten(tmp_path):
    from charclf.experiments.ensemble import member_name, write_teacher
    from charclf.models import create_model
    from charclf.train.engine import seed_everything

    data = quadrant_bundle(48, 16, 16, 0)
    run = tmp_path / "runs" / "lenet-seed0"
    seed_everything(0)
    fit(create_model("lenet", num_classes=4), data,
        get_recipe("byclass_study", model="lenet", epochs=1, batch_size=16, augment=AugmentConfig()), run,
        progress=False)
    info = write_teacher([run], [member_name(run)] * 2, data, tmp_path / "teacher", log=lambda *_: None)
    probs = load_teacher(tmp_path / "teacher" / "teacher.npz", data.train)
    assert probs.shape == (48, 4) and np.allclose(probs.sum(1), 1, atol=1e-2)
    saved = json.loads((tmp_path / "teacher" / "teacher.json").read_text())
    assert saved["members"] == [member_name(run)] * 2 and saved["teacher_sha256"] == info["teacher_sha256"]
    with pytest.raises(ConfigError, match="exists"):
        write_teacher([run], [member_name(run)], data, tmp_path / "teacher")


def test_mixup_mixes_soft_targets_exactly_as_the_one_hot_of_hard_ones():
    from charclf.train.augment import BatchAugment

    augment = BatchAugment(AugmentConfig(mixup_alpha=0.4, mix_prob=1.0), num_classes=4)
    x, y = torch.randn(8, 1, 28, 28), torch.arange(8) % 4
    _, from_hard = augment(x, y, generator=torch.Generator().manual_seed(3))
    _, from_soft = augment(x, torch.eye(4)[y], generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(from_hard, from_soft)
    torch.testing.assert_close(from_soft.sum(1), torch.ones(8))


def test_a_resume_state_from_before_distillation_existed_still_resumes(tmp_path):
    from charclf.train.checkpoint import check_same_config
    from charclf.train.config import TrainConfig

    current = TrainConfig().to_dict()
    older = {k: v for k, v in current.items() if not k.startswith("distill_")}
    check_same_config(older, current, tmp_path / "resume.pt")  # the run trained without a teacher: same config
    from charclf.errors import TrainingError

    with pytest.raises(TrainingError, match="distill_teacher"):
        check_same_config(older, {**current, "distill_teacher": "t.npz"}, tmp_path / "resume.pt")
