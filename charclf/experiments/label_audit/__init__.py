"""Label audit of EMNIST ByClass: which images carry a wrong label, which are only ambiguous, which are rotated.

    python -m charclf.experiments.label_audit --data-dir ../shared/data --out outputs/label_audit --folds 4

Method (confident learning, through cleanlab):

1. **Out-of-fold probabilities** for every image of the protocol's training part: a stratified k-fold split of
   it (scikit-learn's ``StratifiedKFold``; audits made before ``AuditSettings.fold_method`` existed, such as the
   committed ``outputs/label_audit``, dealt theirs round-robin and are resumed that way); the model of fold k trains on the other folds and scores only fold k, so no image is ever scored by a
   model that trained on it. Val and test probabilities come from one model trained on the whole training
   part (the *full model*). Probabilities are computed in float32 through ``charclf.eval.evaluate.evaluate_model``.
2. **cleanlab** flags likely label issues (``cleanlab.filter.find_label_issues``), scores label quality
   (``cleanlab.rank.get_label_quality_scores``, self-confidence: the probability of the given label) and
   summarises each part (``cleanlab.dataset.health_summary``). Each part is audited on its own: its
   probabilities come from its own model(s), whose calibration differs.
3. **Orientation**: the same model (out-of-fold for training images) also scores every image under the 7 other
   rotations, flips and transposes; an image whose *given* label fits another orientation much better
   (probability >= ``orientation_min_prob`` there and >= ``orientation_min_ratio`` times the upright one) is an
   orientation outlier — unless the upright prediction and the given label are mirror twins (6/9, b/d/p/q,
   n/u, M/W ...: :data:`MIRROR_TWINS`), where a plain label error explains the image without a rotation.
4. **One kind per flagged image** (:func:`classify_kind`, in this order): ``case`` — given and suggested
   label are the two cases of one of the 15 letters EMNIST merges (c/C, o/O, s/S ...), not a label error;
   ``orientation``; ``digit_letter`` — both in one digit look-alike group (:data:`DIGIT_LOOKALIKES`: 0/O/o,
   1/l/I/i ...); ``wrong_label`` — the rest. Every kind except ``case`` counts as a likely error.
5. **One experiment**: retrain the full model's recipe on the training part *without* its likely errors
   (removed, not relabelled: a relabel would feed the auditing model's own guesses back as targets, and its
   guesses are least reliable on exactly these look-alike images) and score both models on the original test
   part and on a cleaned test part (test minus its likely errors).

Artifacts in the output folder::

    audit-config.json                    the settings; a rerun with other settings is refused
    folds/fold-<k>-of-<K>.npz            out-of-fold probabilities + orientation scores of fold k
    full-model/                          run folder of the full model (charclf.load_model-able)
    heldout.npz                          val/test probabilities + orientation scores of the full model
    byclass-test-label-issues.csv        one row per flagged image (see CSV_COLUMNS)
    clean-model/ (+ clean-model-removed.json)   the experiment's model and the images it did not see
    label-audit.json                     rates, per class, health summaries, test ceiling, experiment, provenance

Resumable step by step: a finished fold, model or file is loaded, not recomputed; a killed model run resumes
from its last epoch. Nothing is deleted but the resume state of a model run this code has just finished, and
a file this code did not write is never touched. ``--rewrite-report`` recomputes the CSV and the JSON from the
cached probabilities.

Modules, by concern: :mod:`.settings` (settings, constants, file names), :mod:`.data` (the bundle with official
indices, the folds), :mod:`.scoring` (orientations, cleanlab, kinds), :mod:`.steps` (the resumable folds, full
model and experiment), :mod:`.report` (rates, ceiling, the CSV), :mod:`.estimate` (measured rates, runtime) and
:mod:`.audit` (:func:`run_audit` and the command). The notebook's tables live in
:mod:`charclf.study.label_audit_tables`.
"""
from __future__ import annotations

from charclf.experiments.label_audit.audit import STEPS, build_parser, estimate, main, run_audit
from charclf.experiments.label_audit.data import AuditData, fold_path, load_audit_data, stratified_folds
from charclf.experiments.label_audit.estimate import estimate_seconds, measure_rates
from charclf.experiments.label_audit.report import (
    describe,
    issue_images,
    load_issues,
    same_issues,
    summarize,
    test_ceiling,
    write_issues_csv,
)
from charclf.experiments.label_audit.scoring import (
    audit_part,
    classify_kind,
    orient,
    orientation_outliers,
    score_part,
    sort_issues,
)
from charclf.experiments.label_audit.settings import (
    CLEAN_REMOVED_NAME,
    CLEAN_RUN,
    CONFIG_NAME,
    CSV_COLUMNS,
    CSV_NAME,
    DEFAULT_OUT,
    DIGIT_LOOKALIKES,
    ERROR_KINDS,
    FOLD_METHODS,
    FULL_RUN,
    HELDOUT_NAME,
    KINDS,
    LEGACY_FOLD_METHOD,
    MIRROR_TWINS,
    NOT_ERROR_KINDS,
    NOTEBOOK_RUN,
    ORIENTATIONS,
    PARTS,
    RESULTS_NAME,
    AuditSettings,
    train_config,
)
from charclf.experiments.label_audit.steps import check_config, run_experiment, run_folds, run_full_model

__all__ = [
    "STEPS", "build_parser", "estimate", "main", "run_audit", "AuditData", "fold_path", "load_audit_data",
    "stratified_folds", "estimate_seconds", "measure_rates", "describe", "issue_images", "load_issues",
    "same_issues", "summarize", "test_ceiling", "write_issues_csv", "audit_part", "classify_kind", "orient",
    "orientation_outliers", "score_part", "sort_issues", "CLEAN_REMOVED_NAME", "CLEAN_RUN", "CONFIG_NAME",
    "CSV_COLUMNS", "CSV_NAME", "DEFAULT_OUT", "DIGIT_LOOKALIKES", "ERROR_KINDS", "FOLD_METHODS", "FULL_RUN",
    "HELDOUT_NAME", "KINDS", "LEGACY_FOLD_METHOD", "MIRROR_TWINS", "NOT_ERROR_KINDS", "NOTEBOOK_RUN",
    "ORIENTATIONS", "PARTS", "RESULTS_NAME", "AuditSettings", "train_config", "check_config", "run_experiment",
    "run_folds", "run_full_model"
]
