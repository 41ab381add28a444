"""The audit's data: the holdout bundle with each image's index into the official file it came from, and the
training part dealt into folds."""
from __future__ import annotations

import dataclasses
import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charclf.data import DataBundle, holdout_file, load_data, load_holdout_indices, stratified_indices
from charclf.data.official import load_any
from charclf.errors import ConfigError, DataError
from charclf.experiments.label_audit.settings import FOLD_METHODS, PARTS, AuditSettings


# -- data -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditData:
    """The bundle the audit works on and, per part, each image's index into the official file it came from."""

    bundle: DataBundle
    index: dict  # part -> int64 (N,) index into the official <split> test file
    protocol_file: Path

    def fingerprint(self) -> dict:
        digest = hashlib.sha256(self.protocol_file.read_bytes()).hexdigest()
        return {"split": self.bundle.split, "protocol": self.bundle.protocol, "protocol_file_sha256": digest,
                "sizes": {p: len(getattr(self.bundle, p)) for p in PARTS},
                "index_sha256": hashlib.sha256(b"".join(self.index[p].tobytes() for p in PARTS)).hexdigest()}


def load_audit_data(data_dir, settings: AuditSettings, *, protocol_file=None) -> AuditData:
    """The holdout bundle of ``settings.split`` (cut to the settings' stratified subsets) with official indices.

    Only the holdout protocol is supported: its parts index one official file, which is what the CSV cites.
    """
    from charclf.data import resolve_data_dir

    root = resolve_data_dir(data_dir)
    path = Path(protocol_file) if protocol_file is not None else holdout_file(settings.split, root)
    bundle = load_data(settings.split, "holdout", root, protocol_file=path)
    # The official labels (from the .npy cache load_data just filled) check that the indices map back.
    _, official_labels = load_any(settings.split, "test", root)
    index = load_holdout_indices(path, len(official_labels))
    sizes = {"train": settings.max_train_samples, "val": settings.max_eval_samples,
             "test": settings.max_eval_samples}
    parts = {}
    for part in PARTS:
        ds = getattr(bundle, part)
        if not np.array_equal(official_labels[index[part]], ds.labels.numpy()):
            raise DataError(path, f"its '{part}' indices do not point at the images of the loaded '{part}' part",
                            "the index file or the official file changed while loading; run again")
        if sizes[part] is not None:
            pick = stratified_indices(ds.labels.numpy(), sizes[part], settings.seed)
            ds, index[part] = ds.subset(pick), index[part][pick]
        parts[part] = ds
    return AuditData(dataclasses.replace(bundle, **parts), index, path)


# -- folds ------------------------------------------------------------------------------------------------
def stratified_folds(labels, k: int, seed: int = 0, method: str = "stratified_kfold") -> np.ndarray:
    """Fold number (0..k-1) of every sample, every class spread over the folds by its share (+-1), every sample
    in exactly one fold.

    ``method``: ``"stratified_kfold"`` — scikit-learn's ``StratifiedKFold(k, shuffle=True, random_state=seed)``;
    ``"round_robin"`` — each class shuffled and dealt round-robin from a random fold, how the audits made
    before ``AuditSettings.fold_method`` existed dealt theirs (the committed outputs/label_audit: kept so that
    its folds can still be checked and its report rewritten)."""
    labels = np.asarray(labels)
    if k < 2:
        raise ConfigError(f"k={k}: a k-fold split needs k >= 2")
    folds = np.empty(len(labels), dtype=np.int64)
    if method == "stratified_kfold":
        from sklearn.model_selection import StratifiedKFold

        with warnings.catch_warnings():
            # a class smaller than k (a quick-profile subset) just misses some folds; the per-class table says so
            warnings.filterwarnings("ignore", message=".*least populated class.*")
            for fold, (_, held) in enumerate(StratifiedKFold(k, shuffle=True, random_state=seed)
                                             .split(np.zeros((len(labels), 1)), labels)):
                folds[held] = fold
        return folds
    if method != "round_robin":
        raise ConfigError(f"fold method {method!r}: use one of {', '.join(FOLD_METHODS)}")
    rng = np.random.default_rng(seed)
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        folds[members] = (np.arange(len(members)) + rng.integers(k)) % k
    return folds


def fold_path(out: Path, fold: int, k: int) -> Path:
    return Path(out) / "folds" / f"fold-{fold + 1}-of-{k}.npz"

