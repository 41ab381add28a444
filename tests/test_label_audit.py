"""The label audit on tiny synthetic data: folds, out-of-fold scoring, orientation outliers, kinds, the CSV,
resuming — and that a rerun never deletes files it did not write."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("cleanlab")

from synth import make_emnist_dir  # noqa: E402

import charclf.train  # noqa: E402
from charclf.data import CharDataset  # noqa: E402
from charclf.data.official import load_any  # noqa: E402
from charclf.errors import ConfigError  # noqa: E402
from charclf.experiments import label_audit as la  # noqa: E402
from charclf.experiments.label_audit import steps  # noqa: E402
from charclf.study import label_audit_tables as tables  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

# lenet5_keras: the cheapest recipe (0.4 MMACs per image) — these tests check the pipeline, not accuracy.
FAST = dict(recipe="lenet5_keras", folds=2, epochs=1)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    # 620 images: 10 per ByClass class, re-split 80/10/10 by a stratified holdout file.
    return make_emnist_dir(tmp_path_factory.mktemp("audit-data"), splits=("byclass",), n=620, holdout=True,
                           mnist=False)


@pytest.fixture(scope="module")
def finished(data_dir, tmp_path_factory):
    """One complete audit (shared: it trains 4 small models)."""
    out = tmp_path_factory.mktemp("audit") / "out"
    results = la.run_audit(out, data_dir, la.AuditSettings(**FAST), log=lambda *a: None)
    return out, results


# -- folds ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", la.FOLD_METHODS)
def test_folds_are_stratified_and_cover_every_image_exactly_once(method):
    labels = np.repeat(np.arange(5), [40, 13, 7, 100, 4])
    folds = la.stratified_folds(labels, 4, seed=3, method=method)
    assert folds.shape == labels.shape and set(np.unique(folds)) == {0, 1, 2, 3}
    members = [np.flatnonzero(folds == k) for k in range(4)]
    assert sorted(np.concatenate(members).tolist()) == list(range(len(labels)))  # each image once
    for cls in range(5):
        per_fold = np.bincount(folds[labels == cls], minlength=4)
        assert per_fold.max() - per_fold.min() <= 1, f"class {cls} unevenly dealt: {per_fold}"
    assert np.array_equal(folds, la.stratified_folds(labels, 4, seed=3, method=method))  # reproducible
    assert not np.array_equal(folds, la.stratified_folds(labels, 4, seed=4, method=method))
    with pytest.raises(ConfigError):
        la.stratified_folds(labels, 1, method=method)


def _image_ids(images: torch.Tensor, lookup: dict) -> set:
    return {lookup[img.numpy().tobytes()] for img in images}


def test_out_of_fold_a_model_never_scores_an_image_it_trained_on(data_dir, tmp_path, monkeypatch):
    official, _ = load_any("byclass", "test", data_dir)
    lookup = {img.tobytes(): i for i, img in enumerate(official)}  # synthetic images are all distinct
    assert len(lookup) == len(official)
    trained_on = []
    real = steps._train_model

    def recording(config, bundle, run_dir=None):
        trained_on.append(_image_ids(bundle.train.images, lookup))
        return real(config, bundle, run_dir)

    monkeypatch.setattr(steps, "_train_model", recording)
    settings = la.AuditSettings(**{**FAST, "folds": 3})
    data = la.load_audit_data(data_dir, settings)
    la.run_folds(tmp_path, data, settings, log=lambda *a: None)
    scored = []
    for k in range(3):
        with np.load(la.fold_path(tmp_path, k, 3)) as npz:
            scored.append(set(npz["official_index"].tolist()))
            # the positions in the file point at the same images as its official indices
            assert np.array_equal(data.index["train"][npz["positions"]], npz["official_index"])
    assert len(trained_on) == 3
    for k in range(3):
        assert not scored[k] & trained_on[k], f"fold {k + 1}'s model scored images it trained on"
        assert scored[k] | trained_on[k] == set(data.index["train"].tolist())
    assert sorted(i for s in scored for i in s) == sorted(data.index["train"].tolist())  # each once


# -- kinds ----------------------------------------------------------------------------------------------
BYCLASS = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


@pytest.mark.parametrize("given, suggested, orientation, kind", [
    ("o", "O", False, "case"), ("C", "c", False, "case"), ("s", "S", True, "case"),  # case wins
    ("a", "A", False, "wrong_label"),  # a/A are not merged in EMNIST: their cases look different
    ("O", "0", False, "digit_letter"), ("o", "0", False, "digit_letter"), ("1", "l", False, "digit_letter"),
    ("l", "I", False, "digit_letter"), ("Z", "2", False, "digit_letter"), ("g", "9", False, "digit_letter"),
    ("5", "s", False, "digit_letter"), ("6", "b", False, "digit_letter"),
    ("A", "A", True, "orientation"), ("A", "H", True, "orientation"),
    ("A", "B", False, "wrong_label"), ("6", "9", False, "wrong_label"), ("x", "k", False, "wrong_label"),
])
def test_classify_kind(given, suggested, orientation, kind):
    assert la.classify_kind(given, suggested, BYCLASS, orientation=orientation) == kind


# -- orientation ----------------------------------------------------------------------------------------
class QuadrantModel(nn.Module):
    """A fixed 'model' for 4 classes: the logit of class k is the mean brightness of quadrant k."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(40.0))  # predict_logits needs a parameter for the device

    def forward(self, x):
        h, w = x.shape[-2] // 2, x.shape[-1] // 2
        q = [x[..., :h, :w], x[..., :h, w:], x[..., h:, :w], x[..., h:, w:]]
        return self.scale * torch.stack([t.mean(dim=(-3, -2, -1)) for t in q], dim=1)


def _quadrant_image(k: int, rng) -> np.ndarray:
    img = rng.integers(0, 40, size=(28, 28)).astype(np.uint8)
    r, c = 3 + 14 * (k // 2), 3 + 14 * (k % 2)
    img[r:r + 7, c:c + 5] = 230  # not square: a transpose is not a no-op
    img[r, c:c + 8] = 230  # a bar on top: flips and rotations change the shape too
    return img


def _quadrant_of(img: np.ndarray) -> int:
    means = [img[:14, :14].mean(), img[:14, 14:].mean(), img[14:, :14].mean(), img[14:, 14:].mean()]
    return int(np.argmax(means))


@pytest.mark.parametrize("transform, label", [("transpose", 1), ("rot180", 0), ("flip_lr", 2), ("rot90", 3)])
def test_orientation_scoring_flags_a_rotated_or_transposed_image(transform, label):
    rng = np.random.default_rng(0)
    upright = np.stack([_quadrant_image(k, rng) for k in range(4)])
    moved = la.orient(torch.from_numpy(upright[label][None]), transform)[0].numpy()
    assert _quadrant_of(moved) != label  # the transform moves the block out of its quadrant
    images = torch.from_numpy(np.concatenate([upright, moved[None]]))
    labels = torch.tensor([0, 1, 2, 3, label])
    ds = CharDataset(images, labels, tuple("acek"), "byclass", "test", "holdout")
    scores = la.score_part(QuadrantModel(), ds, mean=0.0, std=1.0)
    assert scores["probs"].dtype == np.float32 and scores["orient_given"].shape == (5, 8)
    flag, best = la.orientation_outliers(scores["orient_given"], scores["orient_pred"], scores["labels"],
                                         ds.classes)
    assert flag.tolist() == [False, False, False, False, True]
    fixed = la.orient(torch.from_numpy(moved[None]), la.ORIENTATIONS[best[4]])[0].numpy()
    assert _quadrant_of(fixed) == label  # the orientation it found puts the character back


def test_mirror_twins_are_not_orientation_outliers():
    rng = np.random.default_rng(1)
    moved = la.orient(torch.from_numpy(_quadrant_image(1, rng)[None]), "transpose")  # reads as class 2
    ds = CharDataset(moved, torch.tensor([1]), tuple("bdpq"), "byclass", "test", "holdout")  # d, read as p
    scores = la.score_part(QuadrantModel(), ds, mean=0.0, std=1.0)
    flag, _ = la.orientation_outliers(scores["orient_given"], scores["orient_pred"], scores["labels"], ds.classes)
    assert not flag[0]  # d read as p: a wrong label explains it without a rotation
    flag, _ = la.orientation_outliers(scores["orient_given"], scores["orient_pred"], scores["labels"],
                                      tuple("acek"))
    assert flag[0]  # the same image under letters that are no twins: an orientation outlier
    flag, _ = la.orientation_outliers(scores["orient_given"], scores["orient_pred"], scores["labels"],
                                      tuple("aMwk"))
    assert not flag[0]  # M read as w: twins up to the case of a merged letter (M/W under rot180)


def test_orient_names_the_dihedral_group():
    x = torch.arange(9, dtype=torch.uint8).reshape(1, 3, 3)
    outs = {name: la.orient(x, name) for name in la.ORIENTATIONS}
    assert len({o.numpy().tobytes() for o in outs.values()}) == 8  # eight distinct orientations
    assert torch.equal(outs["rot90"][0], torch.from_numpy(np.rot90(x[0].numpy()).copy()))
    assert torch.equal(outs["anti_transpose"][0], torch.from_numpy(np.rot90(x[0].numpy(), 2).T.copy()))
    with pytest.raises(ConfigError):
        la.orient(x, "rot45")


# -- the whole audit: CSV, JSON, resuming ---------------------------------------------------------------
def test_csv_schema_and_indices_point_at_the_official_file(finished, data_dir):
    out, results = finished
    issues = la.load_issues(out / la.CSV_NAME)
    assert tuple(issues.columns) == la.CSV_COLUMNS
    assert len(issues) == results["overall"]["flagged"] > 0
    official_images, official_labels = load_any("byclass", "test", data_dir)
    assert issues["official_index"].between(0, len(official_labels) - 1).all()
    assert issues["official_index"].is_unique
    given = [BYCLASS[y] for y in official_labels[issues["official_index"].to_numpy()]]
    assert issues["given_label"].tolist() == given  # the index and the given label agree with NIST's file
    assert set(issues["part"]) <= set(la.PARTS) and set(issues["kind"]) <= set(la.KINDS)
    assert set(issues["suggested_label"]) <= set(BYCLASS)
    assert issues["label_quality"].between(0, 1).all() and issues["label_quality"].is_monotonic_increasing
    assert (issues.loc[issues["kind"] == "orientation", "orientation"] != "").all()
    assert np.array_equal(la.issue_images(issues.head(3), data_dir),
                          official_images[issues["official_index"].to_numpy()[:3]])


def test_results_json_records_provenance_rates_ceiling_and_experiment(finished):
    out, results = finished
    saved = json.loads((out / la.RESULTS_NAME).read_text())
    assert saved["git_sha"] and saved["machine"]["cpu_count"] and saved["protocol"] == "holdout"
    assert saved["config"]["folds"] == 2 and saved["seed"] == 0
    assert saved["sizes"] == {"train": 496, "val": 62, "test": 62}
    o = saved["overall"]
    assert o["flagged"] == sum(o["by_kind"].values())
    assert o["likely_errors"] == sum(o["by_kind"][k] for k in la.ERROR_KINDS)
    assert len(saved["per_class"]) == 62 and sum(r["flagged"] for r in saved["per_class"]) == o["flagged"]
    t = saved["test"]
    assert t["ceiling_accuracy"] == pytest.approx(1 - t["likely_label_errors"] / t["images"])
    assert t["errors_on_likely_label_errors"] + t["errors_on_case_ambiguity"] <= t["model_errors"]
    ex = saved["experiment"]
    assert ex["method"] == "remove"
    assert ex["train_images"] == 496 - ex["removed_train_images"]
    assert ex["removed_train_images"] == saved["by_part"]["train"]["likely_errors"]
    assert set(ex["scores"]) == {"baseline", "cleaned"}
    assert len(saved["models"]["folds"]) == 2
    assert not (out / la.FULL_RUN / "resume.pt").exists()  # finished runs keep no resume state
    assert tables.rates_table(saved).loc["all", "flagged"] == o["flagged"]
    assert tables.experiment_table(saved).shape == (2, 2)


def test_a_complete_audit_reruns_without_training(finished, monkeypatch):
    out, results = finished
    monkeypatch.setattr(charclf.train, "fit", _no_fit)
    assert la.run_audit(out, None, la.AuditSettings(**FAST), log=lambda *a: None) == results


def _no_fit(*args, **kwargs):
    raise AssertionError("fit was called on a finished step")


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_resume_trains_only_missing_folds_and_never_deletes_foreign_files(data_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    settings = la.AuditSettings(**FAST)
    la.run_audit(out, data_dir, settings, log=lambda *a: None)
    foreign = {out / "notes.txt": b"mine", out / "folds" / "my-fold.npz": b"not an audit file",
               out / la.FULL_RUN / "README": b"hands off"}
    for path, content in foreign.items():
        path.write_bytes(content)
    # As after a kill in fold 2: its file and the report are missing.
    kept_fold = _digest(la.fold_path(out, 0, 2))
    for name in (la.RESULTS_NAME, la.CSV_NAME):
        (out / name).unlink()
    la.fold_path(out, 1, 2).unlink()
    calls = []
    real_fit = charclf.train.fit
    monkeypatch.setattr(charclf.train, "fit", lambda *a, **k: calls.append(a[1].train) or real_fit(*a, **k))
    results = la.run_audit(out, data_dir, settings, log=lambda *a: None)
    assert len(calls) == 1 and len(calls[0]) == 248  # only fold 2 trained (the other fold's 248 images)
    assert _digest(la.fold_path(out, 0, 2)) == kept_fold  # the finished fold was not recomputed
    assert la.fold_path(out, 1, 2).is_file() and (out / la.CSV_NAME).is_file() and results["overall"]["images"] == 620
    for path, content in foreign.items():
        assert path.read_bytes() == content, f"{path} was touched"


def test_other_settings_are_refused_and_nothing_is_deleted(finished, data_dir):
    out, _ = finished
    before = {p: _digest(p) for p in out.rglob("*") if p.is_file()}
    (out / la.RESULTS_NAME).rename(out / "moved.json")
    try:
        with pytest.raises(ConfigError, match="other settings"):
            la.run_audit(out, data_dir, la.AuditSettings(**{**FAST, "epochs": 2}), log=lambda *a: None)
    finally:
        (out / "moved.json").rename(out / la.RESULTS_NAME)
    assert {p: _digest(p) for p in out.rglob("*") if p.is_file()} == before


def test_a_finished_audit_is_not_returned_for_other_settings(finished, monkeypatch):
    out, results = finished
    monkeypatch.setattr(charclf.train, "fit", _no_fit)
    before = {p: _digest(p) for p in out.rglob("*") if p.is_file()}
    for change in ({"epochs": FAST.get("epochs", 1) + 1}, {"seed": 7}, {"folds": 3}):
        with pytest.raises(ConfigError, match=f"{la.RESULTS_NAME}: holds a finished audit made with other settings"
                                              f" \\({next(iter(change))}="):
            la.run_audit(out, None, la.AuditSettings(**{**FAST, **change}), log=lambda *a: None)
    assert {p: _digest(p) for p in out.rglob("*") if p.is_file()} == before


def test_settings_and_protocol_are_checked():
    with pytest.raises(ConfigError):
        la.AuditSettings(folds=1)
    with pytest.raises(ConfigError):
        la.AuditSettings(orientation_min_ratio=0.5)

    class Ctx:
        protocol = "official"

    with pytest.raises(ConfigError, match="holdout"):
        tables.notebook_audit(Ctx())


def test_load_issues_names_a_bad_csv(tmp_path):
    path = tmp_path / "issues.csv"
    path.write_text("official_index,part\n1,train\n")
    with pytest.raises(Exception, match="lacks the column"):
        la.load_issues(path)
    with pytest.raises(Exception, match="not found"):
        la.load_issues(tmp_path / "missing.csv")


# -- figures --------------------------------------------------------------------------------------------
def test_audit_figures(finished, data_dir):
    from matplotlib.figure import Figure

    from charclf.eval import figures as viz

    out, results = finished
    issues = la.load_issues(out / la.CSV_NAME)
    top = issues.head(12)
    fig = viz.label_issue_gallery(la.issue_images(top, data_dir), top["given_label"], top["suggested_label"],
                                  top["label_quality"], top["kind"], k=12)
    assert isinstance(fig, Figure) and "12 label issues" in fig._suptitle.get_text()
    rows = issues.head(3).assign(kind="orientation", orientation=["rot90", "transpose", "flip_lr"])
    images, fixed, given, names = tables.orientation_examples(rows, data_dir)
    assert np.array_equal(fixed[0], np.rot90(images[0]))
    assert np.array_equal(fixed[1], images[1].T)
    fig = viz.orientation_gallery(images, fixed, given, names)
    assert len([ax for ax in fig.axes if ax.images]) == 6  # three pairs
    fig = viz.label_error_rates(tables.per_class_table(results))
    assert isinstance(fig, Figure)


def test_the_notebook_full_profile_reads_the_commands_folder_with_its_settings(finished, tmp_path, monkeypatch):
    import shutil
    from types import SimpleNamespace

    out, results = finished
    shutil.copytree(out, tmp_path / "label_audit")
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    monkeypatch.setattr(charclf.train, "fit", _no_fit)
    assert la.AuditSettings.from_folder(tmp_path / "label_audit") == la.AuditSettings(**FAST)
    ctx = SimpleNamespace(profile="full", protocol="holdout", seed=0, data_dir=None)
    loaded, folder = tables.notebook_audit(ctx)
    assert folder == tmp_path / "label_audit" and loaded == results


# -- folds: scikit-learn's, and the committed audit's round-robin --------------------------------------------
REPO = Path(__file__).resolve().parents[1]


def test_stratified_kfold_folds_are_scikit_learns():
    from sklearn.model_selection import StratifiedKFold

    labels = np.repeat(np.arange(6), [30, 11, 8, 50, 5, 9])
    folds = la.stratified_folds(labels, 4, seed=2)
    splits = StratifiedKFold(4, shuffle=True, random_state=2).split(np.zeros((len(labels), 1)), labels)
    for k, (_, held) in enumerate(splits):
        assert np.array_equal(np.flatnonzero(folds == k), np.sort(held))
    with pytest.raises(ConfigError, match="fold method"):
        la.stratified_folds(labels, 4, method="kfold")
    with pytest.raises(ConfigError, match="fold_method"):
        la.AuditSettings(fold_method="kfold")


def test_the_committed_audit_records_round_robin_folds_and_they_still_check():
    """outputs/label_audit was made before fold_method existed: its settings read as round-robin, and its fold
    files hold exactly the images that method deals (so resuming it or rewriting its report stays valid).
    scikit-learn's folds of the same images differ: a new audit with them is another audit."""
    out = REPO / "outputs" / "label_audit"
    if not (out / la.CONFIG_NAME).is_file():
        pytest.skip("the committed label audit is not in this checkout")
    settings = la.AuditSettings.from_folder(out)
    assert settings.fold_method == la.LEGACY_FOLD_METHOD == "round_robin"
    held, labels = {}, {}
    for k in range(settings.folds):
        with np.load(la.fold_path(out, k, settings.folds)) as npz:
            held[k], labels[k] = npz["positions"], npz["labels"]
    n = sum(len(p) for p in held.values())
    train_labels = np.empty(n, dtype=np.int64)
    for k in held:
        train_labels[held[k]] = labels[k]
    for method, same in (("round_robin", True), ("stratified_kfold", False)):
        folds = la.stratified_folds(train_labels, settings.folds, settings.seed, method)
        assert all(np.array_equal(np.flatnonzero(folds == k), held[k]) for k in held) == same, method


def test_a_folder_from_before_fold_method_resumes_as_round_robin_only(tmp_path):
    record = {"settings": la.AuditSettings(**FAST).to_dict(), "data": {"sizes": {"train": 1}}}
    old = json.loads(json.dumps(record))
    del old["settings"]["fold_method"]  # as audits wrote it before the setting existed
    (tmp_path / la.CONFIG_NAME).write_text(json.dumps(old))
    legacy = {**record, "settings": {**record["settings"], "fold_method": "round_robin"}}
    la.check_config(tmp_path, legacy)  # the same audit: accepted, the file left as it was
    assert json.loads((tmp_path / la.CONFIG_NAME).read_text()) == old
    with pytest.raises(ConfigError, match="differs in settings"):
        la.check_config(tmp_path, record)  # scikit-learn's folds: another audit
    assert la.AuditSettings.from_folder(tmp_path).fold_method == "round_robin"


# -- the runtime estimate: measured, not written down -----------------------------------------------------------
def test_estimate_seconds_follows_the_measured_rates():
    settings = la.AuditSettings(folds=4, epochs=2)
    sizes = {"train": 8000, "val": 1000, "test": 1000}
    est = la.estimate_seconds(settings, sizes, {"train": 1000.0, "infer": 4000.0})
    fit_s = lambda n: 2 * (n / 1000 + 1000 / 4000)  # noqa: E731  (2 epochs of training + fp32 val)
    assert est["folds"] == pytest.approx(4 * fit_s(6000) + 8 * 8000 / 4000)
    assert est["full_model"] == pytest.approx(fit_s(8000) + 8 * 2000 / 4000)
    assert est["experiment"] == pytest.approx(fit_s(8000) + 4 * 1000 / 4000)
    assert est["total"] == pytest.approx(est["folds"] + est["full_model"] + est["experiment"])
    twice = la.estimate_seconds(settings, sizes, {"train": 2000.0, "infer": 8000.0})
    assert twice["total"] == pytest.approx(est["total"] / 2)  # a machine twice as fast: half the time


def test_the_rates_are_measured_on_this_machine(data_dir, monkeypatch):
    monkeypatch.setattr(charclf.train, "fit", _no_fit)  # a few timed steps, never a training
    settings = la.AuditSettings(**FAST)
    data = la.load_audit_data(data_dir, settings)
    lines = []
    est = la.estimate(settings, data, log=lines.append)
    rates = est["images_per_s"]
    assert set(rates) == {"train", "infer"} and all(0 < v < float("inf") for v in rates.values())
    assert est["total"] > 0 and "training" in lines[0] and "images/s" in lines[0]


# -- the notebook's tables (charclf.study.label_audit_tables) ----------------------------------------------------
def test_the_notebook_tables_read_the_results(finished):
    _, results = finished
    models = tables.models_table(results)
    assert list(models.index) == ["fold 1", "fold 2", "full model"]
    assert models.loc["fold 1", "train images"] + models.loc["fold 1", "scored images"] == 496
    assert models.loc["full model", "scored images"] == 62 + 62 and np.isnan(models.loc["full model", "out-of-fold acc"])
    ceiling = tables.ceiling_table(results)["test part"]
    assert ceiling["test images"] == 62 and isinstance(ceiling["model errors"], int)
    assert ceiling["ceiling: accuracy of a perfect model against these labels"] == results["test"]["ceiling_accuracy"]
    rates = tables.rates_table(results)
    assert list(rates.index) == [*la.PARTS, "all"] and rates["images"].sum() == 2 * 620
    assert len(tables.per_class_table(results)) == 62
