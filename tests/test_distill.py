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


def test_a_temperature_softens_the_teacher_as_its_logits_over_t():
    logits = torch.tensor([[2.0, 0.0, -3.0], [0.0, 1.0, 5.0]])
    teacher = torch.softmax(logits, dim=1)
    labels = torch.tensor([0, 2])
    soft = distill_targets(teacher, labels, 1.0, temperature=3.0)  # alpha 1: the softened teacher alone
    torch.testing.assert_close(soft, torch.softmax(logits / 3.0, dim=1), atol=1e-5, rtol=0)
    assert soft[0].max() < teacher[0].max() and soft.argmax(1).tolist() == teacher.argmax(1).tolist()
    assert torch.equal(distill_targets(teacher, labels, 0.5, temperature=1.0), distill_targets(teacher, labels, 0.5))
    hard = torch.tensor([[1.0, 0.0, 0.0]])  # a zero probability stays finite
    assert torch.isfinite(distill_targets(hard, labels[:1], 1.0, temperature=3.0)).all()
    with pytest.raises(ConfigError, match="distill_temperature"):
        distill_targets(teacher, labels, 0.5, temperature=0.0)
    from charclf.train.config import TrainConfig

    with pytest.raises(ConfigError, match="distill_temperature"):
        TrainConfig(distill_temperature=-1.0).check()


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
    teacher = load_teacher(ok, train)
    assert teacher.probs.dtype == np.float32 and len(teacher.sha256) == 64


def test_fit_trains_each_image_towards_its_own_teacher_row(tmp_path, monkeypatch):
    """The teacher's answer depends on the image (class = label + 1 mod 4); on a stratified subset of the train
    part every kept image must get the target of its own teacher row, i.e. rows stay aligned with images."""
    import charclf.train.engine as engine

    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    data = quadrant_bundle(96, 32, 32, 0)
    probs = np.eye(4)[(data.train.labels.numpy() + 1) % 4]
    _teacher(tmp_path / "teacher.npz", data.train, probs)
    seen = []
    real_epoch = engine.train_epoch

    def spy(*args, **kw):
        seen.append((args[6].clone(), kw["soft_targets"].clone()))  # labels, targets of the kept images
        return real_epoch(*args, **kw)

    monkeypatch.setattr(engine, "train_epoch", spy)
    from charclf.models import create_model

    config = get_recipe("byclass_study", model="lenet", epochs=1, batch_size=16, augment=AugmentConfig(),
                        distill_teacher="teacher.npz", distill_alpha=0.75, max_train_samples=50)
    history = fit(create_model("lenet", num_classes=4), data, config, tmp_path / "run", progress=False)
    labels, targets = seen[0]
    assert len(labels) == 50 and set(labels.tolist()) == {0, 1, 2, 3}
    expected = 0.75 * torch.eye(4)[(labels + 1) % 4] + 0.25 * torch.eye(4)[labels]
    torch.testing.assert_close(targets, expected)
    record = history.attrs["record"]
    assert record.provenance["distill_teacher_sha256"] == load_teacher(tmp_path / "teacher.npz", data.train).sha256


def test_a_resume_under_another_teacher_is_refused(tmp_path, monkeypatch):
    from charclf.errors import TrainingError

    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    data = quadrant_bundle(48, 16, 16, 0)
    _teacher(tmp_path / "teacher.npz", data.train, np.full((48, 4), 0.25))
    config = get_recipe("byclass_study", model="lenet", epochs=2, batch_size=16, augment=AugmentConfig(),
                        distill_teacher="teacher.npz")
    from charclf.models import create_model

    def stop_after_first_epoch(row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(create_model("lenet", num_classes=4), data, config, tmp_path / "run", progress=False,
            callbacks=[stop_after_first_epoch])
    _teacher(tmp_path / "teacher.npz", data.train, np.eye(4)[data.train.labels.numpy()])  # another teacher
    with pytest.raises(TrainingError, match="other data.*distill_teacher_sha256"):
        fit(create_model("lenet", num_classes=4), data, config, tmp_path / "run", progress=False, resume=True)


def _trained_member(tmp_path):
    """A quadrant bundle and a lenet run folder trained one epoch on it: an ensemble member to teach with."""
    from charclf.models import create_model
    from charclf.train.engine import seed_everything

    data = quadrant_bundle(48, 16, 16, 0)
    run = tmp_path / "runs" / "lenet-seed0"
    seed_everything(0)
    fit(create_model("lenet", num_classes=4), data,
        get_recipe("byclass_study", model="lenet", epochs=1, batch_size=16, augment=AugmentConfig()), run,
        progress=False)
    return data, run


def test_write_teacher_is_readable_and_never_overwritten(tmp_path):
    from charclf.experiments.ensemble import member_name, write_teacher
    from charclf.models import create_model

    data, run = _trained_member(tmp_path)
    quiet = dict(log=lambda *_: None)
    info = write_teacher([run], [member_name(run)] * 2, data, tmp_path / "teacher", **quiet)
    teacher = load_teacher(tmp_path / "teacher" / "teacher.npz", data.train)
    assert teacher.probs.shape == (48, 4) and np.allclose(teacher.probs.sum(1), 1, atol=1e-2)
    saved = json.loads((tmp_path / "teacher" / "teacher.json").read_text())
    assert saved["members"] == [member_name(run)] * 2 and saved["probs_sha256"] == info["probs_sha256"]
    assert teacher.sha256 == saved["probs_sha256"]
    with pytest.raises(ConfigError, match="exists"):
        write_teacher([run], [member_name(run)], data, tmp_path / "teacher", **quiet)
    # A clone has teacher.json but not the (uncommitted) probabilities: they are rebuilt from the recorded
    # members — whatever members are passed now — and come out the same; teacher.json is left as it was.
    (tmp_path / "teacher" / "teacher.npz").unlink()
    before = (tmp_path / "teacher" / "teacher.json").read_bytes()
    assert write_teacher([run], ["someone/else"], data, tmp_path / "teacher", **quiet) == saved
    assert load_teacher(tmp_path / "teacher" / "teacher.npz", data.train).sha256 == saved["probs_sha256"]
    assert (tmp_path / "teacher" / "teacher.json").read_bytes() == before
    # ... but not from other weights.
    (tmp_path / "teacher" / "teacher.npz").unlink()
    from charclf.models.hub import save_weights

    save_weights(create_model("lenet", num_classes=4), run / "model.safetensors")
    with pytest.raises(DataError, match="not those the teacher was built from"):
        write_teacher([run], [], data, tmp_path / "teacher", **quiet)


def test_a_float64_teacher_records_its_precision_and_comes_out_the_same_when_its_members_sum_otherwise(
        tmp_path, monkeypatch):
    import torch

    from charclf.eval import inference
    from charclf.experiments.ensemble import member_name, write_teacher

    data, run = _trained_member(tmp_path)
    quiet = dict(log=lambda *_: None)
    info = write_teacher([run], [member_name(run)], data, tmp_path / "teacher", **quiet)
    assert info["precision"] == "float64"
    assert json.loads((tmp_path / "teacher" / "teacher.json").read_text())["precision"] == "float64"
    # Another kind of CPU sums in another order: a difference in the 1e-13th part of every logit, far above
    # float64's own rounding, still rebuilds the same float16 probabilities.
    real, passes = inference.predict_logits, []

    def other_cpu(*args, **kwargs):
        logits = real(*args, **kwargs)
        passes.append(logits.dtype)
        return logits * (1 + 1e-13)

    monkeypatch.setattr(inference, "predict_logits", other_cpu)
    (tmp_path / "teacher" / "teacher.npz").unlink()
    assert write_teacher([run], [], data, tmp_path / "teacher", **quiet)["probs_sha256"] == info["probs_sha256"]
    assert passes == [torch.float64]  # the whole pass ran in float64
    monkeypatch.undo()
    # A teacher that records no precision (written before it was recorded) is rebuilt as it was made: float32.
    first = tmp_path / "first"
    float32 = write_teacher([run], [member_name(run)], data, first, precision="float32", **quiet)
    recorded = json.loads((first / "teacher.json").read_text())
    del recorded["precision"]
    (first / "teacher.json").write_text(json.dumps(recorded))
    (first / "teacher.npz").unlink()
    assert write_teacher([run], [], data, first, **quiet)["probs_sha256"] == float32["probs_sha256"]
    for damaged in ("{truncated", "[1, 2]"):  # a clone's damaged record: one line naming it, before any scoring
        (first / "teacher.json").write_text(damaged)
        (first / "teacher.npz").unlink(missing_ok=True)
        with pytest.raises(DataError, match="teacher.json"):
            write_teacher([run], [], data, first, **quiet)
    with pytest.raises(ConfigError, match="precision 'bfloat16'"):
        write_teacher([run], [member_name(run)], data, tmp_path / "other", precision="bfloat16", **quiet)


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
