"""Ensembles of trained runs: average their softmax probabilities, choose the members on val, score test once.

    python -m charclf.experiments.ensemble outputs/runs/full/04_training/*-seed* --out outputs/runs/full/11_beyond/ensemble

Every member is a finished run folder with weights (``charclf.load_model``-able). Each is scored once per part
in float32 through :func:`charclf.eval.evaluate.evaluate_model`, with the TTA setting its own record states,
and its probabilities are cached in ``<out>/probs/<member>.npz`` (a rerun with more members scores only the
new ones; a cache whose weights changed is refused, not silently reused).

Two ensembles are reported, both as the mean of the members' probabilities:

- ``all``: every member given, decided before anything was scored (no selection at all), scored on val only;
- ``greedy``: forward selection on **val** (Caruana et al. 2004): start from the best member on val and add,
  with replacement, the member that raises val accuracy most (ties: lower val log-loss), until no addition
  helps or ``max_steps`` is reached. Adding a member twice weights it double.

- ``cv``: the selection method chosen by 2-fold cross-validation on stratified halves of val, among greedy and
  "the k best members on val, averaged uniformly" for every k: each method selects on one half and is scored on
  the other, both ways; the method with the best held-out accuracy is then run on the whole val. Greedy selection
  once overfitted val (7 more candidates raised val by 0.13 points and lowered test by 0.11): the held-out halves
  measure that before test is read. ``cv.held_out_val_acc`` is the estimate the choice was made on.

The test probabilities are computed with the val ones (and cached), but only the val ones make a choice; the
test accuracies are reported for each member and each chosen ensemble. A rebuild (more members) reads a chosen
ensemble's test only when its selection changed: otherwise it carries the earlier numbers (``test_from``), so
adding runs that the selection passes over is not one more look at test.

``--teacher DIR`` also writes the greedy ensemble's probabilities on the train part as a distillation teacher
for small models (``TrainConfig.distill_teacher``; see :mod:`charclf.train.distill`).
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from charclf.errors import CharclfError, ConfigError, DataError

PARTS = ("val", "test")


def weights_digest(run_dir: Path) -> str:
    """SHA-256 of a run's ``model.safetensors``: the identity of the member a cached score belongs to."""
    return hashlib.sha256((Path(run_dir) / "model.safetensors").read_bytes()).hexdigest()


def data_digest(data) -> str:
    """SHA-256 of what an ensemble scores: split, protocol and the val and test images and labels."""
    h = hashlib.sha256(f"{data.split}/{data.protocol}".encode())
    for part in PARTS:
        ds = getattr(data, part)
        h.update(ds.images.numpy().tobytes())
        h.update(ds.labels.numpy().tobytes())
    return h.hexdigest()


def member_name(run_dir: Path) -> str:
    """``<group>/<run>`` of a run folder (e.g. ``04_training/vgg-seed0``): unique within a study."""
    run_dir = Path(run_dir)
    return f"{run_dir.parent.name}/{run_dir.name}"


def member_probs(run_dir: Path, data, parts) -> dict[str, np.ndarray]:
    """``{part: probs}`` of the run's model on ``parts`` of ``data``, in float32 with the TTA its record states."""
    from charclf.eval.evaluate import evaluate_model
    from charclf.models.hub import load_model

    record = check_trained_on(run_dir, data)
    model = load_model(run_dir)
    return {part: evaluate_model(model, getattr(data, part), tta=record.tta).probs for part in parts}


def check_trained_on(run_dir: Path, data):
    """The run's record, after checking it trained on ``data``'s split, protocol and index (a ``DataError``
    naming the run otherwise)."""
    from charclf.eval.record import RunRecord

    record = RunRecord.load(run_dir)
    trained_on = (record.data.get("split"), record.data.get("protocol"))
    if trained_on != (data.split, data.protocol):
        raise DataError(run_dir, f"trained on split/protocol {trained_on}, but the ensemble scores "
                        f"{(data.split, data.protocol)}", "ensemble runs of one split and protocol (by default the first run's; "
                        "--split and --protocol name another)")
    from charclf.data.protocols import check_same_index

    check_same_index(record.data, data, run_dir / "metrics.json", "score the ensemble with the data dir its "
                     "members were trained with, or remove the override protocols/<split>-test-holdout.npz")
    return record


def check_member(run_dir: Path) -> None:
    """A ``DataError`` naming ``run_dir`` unless it is a finished run folder with weights and a readable record."""
    from charclf.eval.record import RunRecord

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(run_dir, "does not exist (or is not a folder)", "pass finished run folders")
    if not (run_dir / "model.safetensors").is_file():
        raise DataError(run_dir, "no model.safetensors, so it cannot be an ensemble member",
                        "pass finished runs whose weights were kept")
    RunRecord.load(run_dir)  # a missing or damaged metrics.json: one line naming it


def _read_cache(cache: Path) -> dict:
    """The cached arrays of ``cache`` (``weights_sha256``, ``data_sha256`` and each part's probabilities); a
    damaged file, or probabilities that are not finite, is a ``DataError`` naming it."""
    import zipfile

    fix = "move it aside (it is not deleted for you) and rerun: the member is scored anew"
    try:
        with np.load(cache) as saved:
            arrays = {key: saved[key] for key in ("weights_sha256", "data_sha256", *PARTS)}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(cache, f"is not a readable probability cache ({type(err).__name__})", fix) from None
    if not all(np.isfinite(arrays[part]).all() for part in PARTS):
        raise DataError(cache, "holds probabilities that are not finite (NaN or inf)", fix)
    return arrays


def score_member(run_dir: Path, data, cache_dir: Path, *, log=print) -> dict[str, np.ndarray]:
    """``{part: probs (N, C) float32}`` for val and test of ``data``, from the cache when its weights match."""
    from charclf.eval.record import RunRecord
    from charclf.fileio import atomic_path

    run_dir = Path(run_dir)
    check_member(run_dir)
    digest, scored = weights_digest(run_dir), data_digest(data)
    cache = cache_dir / f"{member_name(run_dir).replace('/', '__')}.npz"
    if cache.is_file():
        saved = _read_cache(cache)
        if str(saved["weights_sha256"]) != digest:
            raise DataError(cache, f"cached probabilities of other weights than {run_dir}'s",
                            "move the cache aside (it is not deleted for you) and rerun")
        if str(saved["data_sha256"]) != scored:
            raise DataError(cache, "cached probabilities of other data (split, protocol or val/test images "
                            "differ)", "use another --out folder for other data, or move the cache aside")
        return {part: saved[part] for part in PARTS}
    record = RunRecord.load(run_dir)
    probs = member_probs(run_dir, data, PARTS)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, weights_sha256=np.array(digest), data_sha256=np.array(scored), **probs)
    log(f"scored {member_name(run_dir)} (TTA {record.tta}): val acc "
        f"{accuracy(probs['val'], data.val.labels.numpy()):.4f}")
    return probs


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """sklearn's accuracy of the argmax predictions (the metric the rest of charclf's evaluation uses)."""
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(labels, probs.argmax(axis=1)))


def log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    """sklearn's log-loss over all of the probabilities' classes (also those absent from ``labels``)."""
    from sklearn.metrics import log_loss as sk_log_loss

    # float32 softmax rows sum to 1 only to float32 precision, which sklearn warns about: renormalise in float64.
    probs = probs.astype(np.float64)
    return float(sk_log_loss(labels, probs / probs.sum(axis=1, keepdims=True), labels=np.arange(probs.shape[1])))


def greedy_selection(val_probs: dict[str, np.ndarray], labels: np.ndarray, *, max_steps: int = 20) -> list[str]:
    """Forward selection with replacement on val accuracy (ties: val log-loss); a list of names, repeats allowed."""
    if not val_probs:
        raise ConfigError("greedy_selection: no members. Fix: pass at least one run")

    def score(p: np.ndarray) -> tuple[float, float]:
        return accuracy(p, labels), -log_loss(p, labels)

    chosen = [max(val_probs, key=lambda n: score(val_probs[n]))]
    total = val_probs[chosen[0]].astype(np.float64)
    best = score(total)
    for _ in range(max_steps - 1):
        trials = {n: score((total + p) / (len(chosen) + 1)) for n, p in val_probs.items()}
        name = max(trials, key=trials.get)
        if trials[name] <= best:
            break
        chosen.append(name)
        total = total + val_probs[name]
        best = trials[name]
    return chosen


def top_k_selection(val_probs: dict[str, np.ndarray], labels: np.ndarray, k: int) -> list[str]:
    """The ``k`` members with the best val accuracy (ties: lower val log-loss), in that order."""
    ranked = sorted(val_probs, key=lambda n: (-accuracy(val_probs[n], labels), log_loss(val_probs[n], labels), n))
    return ranked[:k]


def selection_methods(n_members: int, max_steps: int) -> dict:
    """The candidate selection rules the ``cv`` ensemble chooses among: ``{name: select(val_probs, labels)}``."""
    methods = {"greedy": lambda probs, labels: greedy_selection(probs, labels, max_steps=max_steps)}
    for k in range(1, n_members + 1):
        methods[f"top-{k}"] = lambda probs, labels, k=k: top_k_selection(probs, labels, k)
    return methods


def cross_validated_selection(val_probs: dict[str, np.ndarray], labels: np.ndarray, *, max_steps: int = 20,
                              seed: int = 0) -> dict:
    """Choose the selection method on held-out halves of val (see the module docstring): each method selects on
    one stratified half and is scored on the other, both ways; the best mean held-out accuracy wins (ties: the
    earlier method, greedy first, then smaller k), and is run again on the whole of val.

    Returns {method, members, held_out_val_acc, candidates: {method: held-out accuracy}, seed}."""
    from sklearn.model_selection import StratifiedKFold

    methods = selection_methods(len(val_probs), max_steps)
    folds = list(StratifiedKFold(n_splits=2, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels))
    held_out = {}
    for name, select in methods.items():
        scores = []
        for fit_idx, check_idx in folds:
            members = select({n: p[fit_idx] for n, p in val_probs.items()}, labels[fit_idx])
            scores.append(accuracy(combine({n: val_probs[n][check_idx] for n in set(members)}, members),
                                   labels[check_idx]))
        held_out[name] = float(np.mean(scores))
    best = max(held_out, key=lambda n: (held_out[n], -list(methods).index(n)))
    return {"method": best, "members": methods[best](val_probs, labels), "held_out_val_acc": held_out[best],
            "candidates": held_out, "seed": seed}


def combine(probs: dict[str, np.ndarray], members: list[str]) -> np.ndarray:
    """The mean of the members' probabilities (a member listed twice counts twice)."""
    return sum(probs[m].astype(np.float64) for m in members) / len(members)


def keep_earlier_results(out: Path, log=print) -> Path | None:
    """An existing ``<out>/results.json`` (an earlier ensemble's, or anything else of that name) is renamed
    ``results-<its created_utc, else its file time>.json`` beside it, never replaced; returns the new path."""
    import time

    from charclf.provenance import read_json

    saved = Path(out) / "results.json"
    if not saved.is_file():
        return None
    try:
        made = read_json(saved, "").get("created_utc")
    except (CharclfError, AttributeError):  # not JSON, or not an object: someone else's file
        made = None
    import re

    stamp = re.sub(r"[^\w+.-]", "", str(made or time.strftime("%Y-%m-%dT%H%M%S+0000",
                                                               time.gmtime(saved.stat().st_mtime))))
    from charclf.fileio import kept_aside_path

    target = kept_aside_path(saved, stamp, file=True)
    saved.rename(target)
    log(f"kept the earlier {saved.name} as {target.name}")
    return target


def run_ensemble(run_dirs, data, out, *, max_steps: int = 20, metadata: dict | None = None, log=print) -> dict:
    """Score every member, build the ``all`` and ``greedy`` ensembles, write ``<out>/results.json`` (stamped
    with provenance and ``metadata``, e.g. the study profile the members come from). An earlier results.json
    there is kept as ``results-<its time>.json`` (:func:`keep_earlier_results`), never replaced."""
    from charclf.eval.record import RunRecord
    from charclf.fileio import check_writable, write_json
    from charclf.provenance import run_metadata

    run_dirs = [Path(d) for d in run_dirs]
    names = [member_name(d) for d in run_dirs]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        folders = {n: sorted({str(d.resolve()) for d, m in zip(run_dirs, names) if m == n}) for n in twice}
        if all(len(f) == 1 for f in folders.values()):
            raise ConfigError(f"ensemble members must be distinct runs, but {twice} is given more than once. Fix: "
                              "pass each run folder once (the greedy selection weighs a member by choosing it again)")
        # Different folders whose last two names agree: members, their cached probabilities and the results are
        # named <folder>/<run>, so they would be taken for one run.
        clash = next(n for n in twice if len(folders[n]) > 1)
        raise ConfigError(f"the run folders {' and '.join(folders[clash])} would both be the ensemble member "
                          f"{clash!r} (members are named <its folder>/<run>). Fix: give each run a distinct "
                          "<folder>/<run> name (move or rename one), then ensemble them")
    for run_dir in run_dirs:  # every member before the first is scored: no minutes lost to the last one's typo
        check_member(run_dir)
    out = Path(out)
    check_writable(out)  # before every member is scored, not at the last write
    scores = {name: score_member(d, data, out / "probs", log=log) for name, d in zip(names, run_dirs)}
    labels = {part: getattr(data, part).labels.numpy() for part in PARTS}
    val = {n: s["val"] for n, s in scores.items()}
    greedy = greedy_selection(val, labels["val"], max_steps=max_steps)
    cv = cross_validated_selection(val, labels["val"], max_steps=max_steps)
    digests = {name: weights_digest(d) for name, d in zip(names, run_dirs)}
    sizes = {p: len(labels[p]) for p in PARTS}
    scored_data = data_digest(data)  # what val and test were: numbers are carried only between builds of one
    previous = _previous_results(out, scored_data)

    def summary(members: list[str], *, test: bool = True) -> dict:
        parts = PARTS if test else ("val",)
        part_probs = {part: combine({n: scores[n][part] for n in set(members)}, members) for part in parts}
        return {"members": members, "distinct_members": sorted(set(members)),
                "params": sum(RunRecord.load(run_dirs[names.index(n)]).params for n in set(members)),
                **{f"{part}_acc": accuracy(part_probs[part], labels[part]) for part in parts},
                **{f"{part}_log_loss": log_loss(part_probs[part], labels[part]) for part in parts}}

    member_rows = []
    for name, run_dir in zip(names, run_dirs):
        record = RunRecord.load(run_dir)
        member_rows.append({"member": name, "model": record.model, "params": record.params, "tta": record.tta,
                            "weights_sha256": digests[name],
                            **{f"{part}_acc": accuracy(scores[name][part], labels[part]) for part in PARTS}})
    kept = keep_earlier_results(out, log=log)

    def selected(kind: str, members: list[str]) -> dict:
        """A chosen ensemble, its test read only when its members (or their weights) differ from the last
        build's: a rebuild with the same selection carries the earlier test numbers and says where from."""
        earlier = _same_selection(previous, kind, members, digests,
                                  {r["member"]: (r["val_acc"], r["test_acc"]) for r in member_rows})
        if earlier is None:
            return summary(members)
        carried = {f"test_{what}": earlier[f"test_{what}"] for what in ("acc", "log_loss")}
        return {**summary(members, test=False), **carried,
                "test_from": earlier.get("test_from") or (kept.name if kept is not None else None)}

    everyone = {**summary(names, test=False), "test_acc": None, "test_log_loss": None}
    results = {
        "members": member_rows, "all": everyone, "greedy": selected("greedy", greedy), "max_steps": max_steps,
        "cv": {**selected("cv", cv["members"]),
               **{k: cv[k] for k in ("method", "held_out_val_acc", "candidates", "seed")}},
        "selection": "greedy forward selection with replacement on val accuracy (ties: val log-loss); "
                     "'all' is every member given, no selection, scored on val only; 'cv' is the selection method "
                     "(greedy or the top-k on val, uniformly averaged) with the best accuracy on held-out val "
                     "halves (2-fold, stratified), run again on the whole val; the test probabilities play no part "
                     "in any choice and are read for the reported test accuracies only",
        "test_reads": "a chosen ensemble's test is read only when its members or their weights differ from the "
                      "previous build's; otherwise the earlier numbers are carried, 'test_from' naming the build "
                      "that read them. 'all' changes with every member added, so its test is never read",
        "combine": "mean of softmax probabilities (each member with its own record's TTA setting), float32 "
                   "evaluation",
        "data_sha256": scored_data,
        **run_metadata(protocol=data.protocol, split=data.split, sizes=sizes,
                       **(metadata or {})),
    }
    write_json(out / "results.json", results)
    return results


def _previous_results(out: Path, scored_data: str) -> dict | None:
    """The ensemble's current ``results.json`` when it is readable and scored the same val and test images and
    labels (its ``data_sha256``, :func:`data_digest`, where recorded); else None, and nothing is carried from it."""
    from charclf.provenance import read_json

    path = Path(out) / "results.json"
    try:
        saved = read_json(path, "") if path.is_file() else None
    except CharclfError:
        return None
    if not isinstance(saved, dict) or saved.get("data_sha256", scored_data) != scored_data:
        return None  # a build from before the digest was recorded: _same_selection compares its members' scores
    return saved


def _same_selection(previous: dict | None, kind: str, members: list[str], digests: dict,
                    scored: dict | None = None) -> dict | None:
    """The previous build's ``kind`` ensemble when it had exactly ``members`` (in order, repeats included), each
    with the same weights and, where ``scored`` gives this build's ``{member: (val_acc, test_acc)}``, the same
    accuracies (what shows that val and test are the same images for a build that recorded no data digest), and a
    test score; else None."""
    if previous is None or not isinstance(previous.get(kind), dict):
        return None
    earlier = previous[kind]
    rows = {m.get("member"): m for m in previous.get("members", []) if isinstance(m, dict)}
    if earlier.get("members") != members or any(rows.get(n, {}).get("weights_sha256") != digests[n]
                                                for n in set(members)):
        return None
    if scored is not None and any((rows[n].get("val_acc"), rows[n].get("test_acc")) != scored[n]
                                  for n in set(members)):
        return None
    return earlier if earlier.get("test_acc") is not None else None


def check_teacher_folder(out: Path) -> None:
    """Refused before any scoring: a teacher folder that is a file, or that already holds a ``teacher.npz``
    (students may depend on it)."""
    from charclf.train.distill import TEACHER_NPZ

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file, and the teacher is written into a folder there. Fix: pass --teacher "
                          "a folder path")
    if (out / TEACHER_NPZ).exists():
        raise ConfigError(f"{out / TEACHER_NPZ} exists and students may depend on it. Fix: write the new "
                          f"teacher to another folder")


# The precision a teacher's members are scored in. float32 sums in a CPU's own order (oneDNN picks kernels by
# instruction set), so a teacher scored on one kind of CPU came out different in float16 on another (the first
# teacher, built on an Intel Xeon, could not be rebuilt on an AMD EPYC). In float64 the CPUs differ around the
# 1e-15th part, a million times below float16's steps, so the stored probabilities come out the same anywhere.
TEACHER_PRECISIONS = ("float32", "float64")
TEACHER_PRECISION = "float64"


def teacher_member_probs(run_dir: Path, data, precision: str) -> np.ndarray:
    """``run_dir``'s probabilities on ``data.train`` (float64 array), its model and the whole pass (softmax and
    its record's TTA included) in ``precision``."""
    import torch

    from charclf.eval.inference import predict_logits
    from charclf.models.hub import load_model

    if precision == "float32":  # the first teachers: the ensemble's own scoring
        return member_probs(run_dir, data, ("train",))["train"].astype(np.float64)
    record = check_trained_on(run_dir, data)
    model = load_model(run_dir).double()
    cfg = model.charclf_config
    logits = predict_logits(model, data.train.images, mean=cfg["mean"], std=cfg["std"], tta=record.tta,
                            dtype=torch.float64)
    return torch.softmax(logits, dim=1).numpy()


def read_teacher_json(path: Path) -> dict:
    """A teacher's ``teacher.json``, checked to be an object naming its members and their weights (one line
    naming the file otherwise)."""
    from charclf.provenance import read_json

    fix = "restore it with git (its students' records hold the teacher's hash)"
    recorded = read_json(path, fix)
    if not isinstance(recorded, dict) or not isinstance(recorded.get("members"), list) \
            or not isinstance(recorded.get("weights_sha256"), dict):
        raise DataError(path, "is not a teacher's record (no members list and weights_sha256 object)", fix)
    return recorded


def write_teacher(run_dirs, members: list[str], data, out, *, precision: str = TEACHER_PRECISION,
                  log=print) -> dict:
    """A distillation teacher (``charclf.train.distill``): the ensemble ``members`` (names of ``run_dirs``,
    repeats weighting a member more, e.g. the greedy choice) scored on ``data.train`` in ``precision``
    (:data:`TEACHER_PRECISION`: float64, so that it can be rebuilt bit for bit on another CPU), written as
    ``<out>/teacher.npz`` with ``<out>/teacher.json`` saying what it is.

    A teacher is never replaced (its students' records hold its hash): an existing ``teacher.npz`` is refused,
    and where only ``teacher.json`` exists (a clone: the probabilities are not committed) the teacher is rebuilt
    from the members it names, in the precision it records (float32 where it records none), whose weights must
    be the recorded ones, and must come out identical."""
    from charclf.fileio import atomic_path, write_json
    from charclf.provenance import run_metadata
    from charclf.train.distill import TEACHER_FORMAT, TEACHER_JSON, TEACHER_NPZ, probs_digest

    out = Path(out)
    check_teacher_folder(out)
    recorded = read_teacher_json(out / TEACHER_JSON) if (out / TEACHER_JSON).is_file() else None
    members = list(recorded["members"]) if recorded else list(members)
    precision = recorded.get("precision", "float32") if recorded else precision
    if precision not in TEACHER_PRECISIONS:
        raise ConfigError(f"teacher precision {precision!r} ({out / TEACHER_JSON if recorded else 'asked'}). Fix: "
                          f"one of {', '.join(TEACHER_PRECISIONS)}")
    by_name = {member_name(d): Path(d) for d in run_dirs}
    missing = sorted(set(members) - set(by_name))
    if missing:
        raise ConfigError(f"teacher members {missing} are not among the runs given. Fix: pass their run folders "
                          f"(with their weights)")
    digests = {n: weights_digest(by_name[n]) for n in sorted(set(members))}
    if recorded and digests != recorded["weights_sha256"]:
        changed = sorted(n for n in digests if digests[n] != recorded["weights_sha256"].get(n))
        raise DataError(out / TEACHER_JSON, f"the weights of {changed} are not those the teacher was built from",
                        "restore those runs' weights, or write a new teacher to another folder")
    total = None
    for name in sorted(set(members)):
        probs = teacher_member_probs(by_name[name], data, precision) * members.count(name)
        total = probs if total is None else total + probs
        log(f"teacher: scored {name} on the train part ({len(probs):,} images, {precision})")
    probs = (total / len(members)).astype(np.float16)
    digest = probs_digest(probs)
    if recorded and digest != recorded["probs_sha256"]:
        raise DataError(out / TEACHER_JSON, f"the rebuilt teacher's probabilities differ from the recorded ones "
                        f"(scored in {precision}: " + ("another kind of CPU rounds float32 sums differently)"
                                                       if precision == "float32" else "its members changed?)"),
                        "rebuild it where it was built, or write a new teacher to another folder (scored in "
                        "float64, the default, it rebuilds anywhere) and retrain its students")
    labels = data.train.labels.numpy()
    with atomic_path(out / TEACHER_NPZ, suffix=".npz") as tmp:
        np.savez_compressed(tmp, format=np.array(TEACHER_FORMAT), probs=probs, labels=labels,
                            classes=np.array(data.train.classes))
    if recorded:
        return recorded
    info = {"format": TEACHER_FORMAT, "members": members, "weights_sha256": digests, "precision": precision,
            "train_acc": accuracy(probs.astype(np.float32), labels), "probs_sha256": digest,
            **run_metadata(protocol=data.protocol, split=data.split, train_size=len(labels))}
    write_json(out / TEACHER_JSON, info)
    return info


def main(argv=None) -> int:
    from charclf.argtypes import number

    from charclf.argtypes import Parser  # one-line errors, no option given twice

    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="finished run folders with model.safetensors")
    parser.add_argument("--out", required=True, help="folder for probs/ and results.json")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--split", default=None, help="EMNIST split (default: the first run's)")
    parser.add_argument("--protocol", default=None, choices=["holdout", "official"],
                        help="default: the first run's")
    parser.add_argument("--max-steps", type=number(int, low=1), default=20,
                        help="greedy selection adds at most this many members (>= 1)")
    parser.add_argument("--teacher", default=None, help="also write the greedy ensemble's probabilities on the "
                        "train part to TEACHER/teacher.npz, a distillation teacher (TrainConfig.distill_teacher)")
    args = parser.parse_args(argv)
    from charclf.data import load_data
    from charclf.eval.record import RunRecord

    if args.teacher:  # refused before the ensemble is built and its results.json written
        check_teacher_folder(Path(args.teacher))
    for run in args.runs:
        check_member(Path(run))
    # The data the members were trained on, as the first one records it: each member is then checked against it.
    first = RunRecord.load(args.runs[0]).data
    data = load_data(args.split or first.get("split", "byclass"), args.protocol or first.get("protocol", "holdout"),
                     args.data_dir)
    results = run_ensemble(args.runs, data, args.out, max_steps=args.max_steps)
    print(json.dumps({k: results[k] for k in ("all", "greedy")}, indent=2))
    if args.teacher:
        from charclf.train.distill import TEACHER_NPZ

        info = write_teacher(args.runs, results["greedy"]["members"], data, args.teacher)
        print(f"teacher: {Path(args.teacher) / TEACHER_NPZ}, train accuracy {info['train_acc']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
