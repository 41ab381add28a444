"""Reading the real-world scores that ``charclf evaluate-images`` writes: one home for where a run's score lives,
how an artifact is read (one clear line when it is missing or broken) and how a metric is looked up in it.

The writer is :mod:`charclf.apps.realworld`; the readers are the report (:mod:`charclf.apps.realworld_report`) and
the paired comparison of notebook 11's runs (:mod:`charclf.study.realworld_pairs`)."""
from __future__ import annotations

from pathlib import Path

from charclf.paths import outputs_dir

# The real-handwriting issue's goals: (key, what, where in an artifact's metrics, target), read by the report
# (notebook 10) and the README's row. Targets are the specification; every measured value comes from an artifact.
GOALS = (
    ("merged_top1", "merged top-1, overall", ("overall", "merged_top1"), 0.88),
    ("top1", "top-1, overall", ("overall", "top1"), 0.78),
    ("photo_merged", "photographed on paper (pen, and marker cards): merged top-1", ("capture", "photo", "merged_top1"),
     0.85),
    ("lower_merged", "lower case: merged top-1", ("kind", "lower", "merged_top1"), 0.82),
    ("shadowed_merged", "shadowed copies (synthetic): merged top-1", ("synthetic", "shadowed", "merged_top1"), 0.75),
    ("ruled_merged", "ruled-paper copies (synthetic): merged top-1", ("synthetic", "ruled", "merged_top1"), 0.75),
)


def read_artifact(path: Path) -> dict:
    """The JSON artifact at ``path``; a missing or broken one is a DataError naming the file and the fix."""
    from charclf.provenance import read_json

    return read_json(path, f"score the model again with `charclf evaluate-images --out {path}`")


def describes_current_weights(artifact: dict, repo_root: Path | None = None) -> bool:
    """Whether ``artifact`` (an ``evaluate-images`` result) scored the weights now at its model path: the sha256 of
    ``<repo_root>/<provenance.model>/model.safetensors`` equals its ``provenance.model_weights_sha256``. An
    artifact is read by its path (``model_hub-default.json``), but ``charclf publish --write`` may have put another
    model into that folder since: its numbers then belong to weights that are no longer there. False too when the
    artifact names no model or no hash, or the weights file is gone: nothing ties its numbers to these weights."""
    from charclf.data.download import file_digest
    from charclf.provenance import REPO_ROOT

    prov = artifact.get("provenance") if isinstance(artifact, dict) else None
    model, recorded = dig(prov or {}, ("model",)), dig(prov or {}, ("model_weights_sha256",))
    if not model or not recorded:
        return False
    weights = (repo_root or REPO_ROOT) / str(model) / "model.safetensors"
    try:
        return file_digest(weights, "sha256") == recorded
    except OSError:  # no weights file (a checkout without model_hub/, or it was removed)
        return False


def read_current_artifact(path: Path, repo_root: Path | None = None) -> dict:
    """:func:`read_artifact`, refused in one line when the artifact no longer describes the weights at its model
    path (:func:`describes_current_weights`): a report must not credit one model's real-world score to another."""
    from charclf.errors import DataError

    artifact = read_artifact(path)
    if not describes_current_weights(artifact, repo_root):
        prov = artifact.get("provenance") or {}
        raise DataError(path, f"scored weights with sha256 {str(prov.get('model_weights_sha256'))[:12]}..., which "
                        f"are no longer at {prov.get('model')!r} (or it names no model)",
                        f"score the model there again: charclf evaluate-images --model {prov.get('model')} --out "
                        f"{path} --overwrite (with the options the file records)")
    return artifact


def part_verdict(whole: float | None, held: float | None, n_held: int | None, target: float,
                 se: float | None = None) -> dict:
    """``met`` and ``verdict`` of a real-world goal: judged on the held-out part where the artifact has one, with
    its standard error standing in for the std a goal with seeds has: ``se`` as the artifact records it (clustered
    by writer or photo, ``apps.realworld.clustered_se``), else the binomial one (an artifact from before, which
    treats the images as independent). Without a held-out part, on the whole set, in-sample."""
    from charclf.eval.seeds import GOAL_SEEDS, verdict

    if held is not None and n_held:
        kind = "clustered by writer or photo" if se is not None else "binomial"
        se = se if se is not None else (held * (1 - held) / n_held) ** 0.5
        margin, words = verdict(held, target, se, seeds=GOAL_SEEDS)  # no seeds: the s.e. is its spread
        return {"met": words.startswith("met"),
                "verdict": f"{words} on the held-out part ({100 * margin:+.1f} points, n={n_held}, 1 s.e. "
                           f"{100 * se:.1f}, {kind}; one set, no seeds)"}
    if whole is None:
        return {"met": None, "verdict": None}
    # An artifact from before the split: in-sample, since the preprocessing was developed on this same set.
    return {"met": bool(whole >= target), "verdict": ("met" if whole >= target else "not met")
            + " (one set, no std; in-sample: the preprocessing was developed on it)"}


def dig(tree: dict, keys: tuple):
    """``tree[keys[0]][keys[1]]...``, or None where a key is absent (an older artifact lacks a slice)."""
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def run_artifact(folder: str, run: str, root: Path | None = None) -> Path:
    """Where ``charclf evaluate-images --model <run folder>`` keeps run ``run``'s score (``run`` like
    ``11_beyond/minivision_v3-capture-seed0``; ``folder``: the runs' folder under outputs/runs/, ``full`` or
    ``full-official``, :func:`charclf.paths.runs_folder`)."""
    return (root or outputs_dir()) / "realworld" / "runs" / folder / f"{run}.json"
