"""Methods tried on the real-world set's dev part: other trained models, test-time translation (TTA) and an
average over seeds, each as ``charclf predict`` would answer (the package's preprocessing, every character
equally likely), against the shipped recipe.

    python tools/realworld_dev_methods.py --dir data/realworld       # writes outputs/realworld/dev-methods.json
    charclf realworld-dev-methods --dir data/realworld              # the same, from a clone of the repository

Only the dev part is read (``charclf.data.realworld_parts``): a method that wins here is then scored once on the
held-out part by ``charclf evaluate-images`` before it ships. Each image is preprocessed once and every model
scores the same 28x28 arrays. Run folders saved before ``fit`` recorded their training class counts get them
rebuilt from their data (``tools/add_class_counts.py``'s ``training_counts``), in memory only: no run folder is
changed. An arm with seeds reports the mean +- std over them and the seed average (the mean of their
probabilities); the paired change against the shipped recipe is per seed. Repo-only tool.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

RUNS = "outputs/runs/full"
SHIPPED = "minivision_v3-nearest"
# arm -> (run folders under RUNS, what differs from the shipped recipe). Every arm trained on the holdout protocol.
ARMS = {
    SHIPPED: ([f"11_beyond/minivision_v3-nearest-seed{s}" for s in range(3)], "the shipped recipe"),
    "minivision_v3-capture": ([f"11_beyond/minivision_v3-capture-seed{s}" for s in range(3)],
                              "capture augmentation on half the training images"),
    "minivision_v3_s2d-nearest": ([f"11_beyond/minivision_v3_s2d-nearest-seed{s}" for s in range(3)],
                                  "a space-to-depth stem"),
    "minivision_v3 (notebook 04)": ([f"04_training/minivision_v3-seed{s}" for s in range(3)],
                                    "Mini-Vision V3's own recipe"),
    "minivision_s": ([f"11_beyond/minivision_s-seed{s}" for s in range(3)], "the small model (~57k parameters)"),
    "vgg": ([f"04_training/vgg-seed{s}" for s in range(3)], "the six-CNN study's VGG"),
    "alexnet": (["04_training/alexnet-seed0"], "the six-CNN study's AlexNet (1 seed)"),
    "resnet": (["04_training/resnet-seed0"], "the six-CNN study's ResNet (1 seed)"),
    "efficientnet_b2-28px": (["09_efficientnet/efficientnet_b2-28px-seed0"], "EfficientNet-B2 from scratch (1 seed)"),
}
PART = "dev"
# The study's ensemble (notebook 11): the members its selection method, chosen on held-out EMNIST val halves,
# picked (repeats weigh double), each with the TTA setting of its own record, as the ensemble scores EMNIST.
ENSEMBLE_RESULTS = "11_beyond/ensemble/results.json"


def dev_images(root: Path, workers: int = 1):
    """The dev part's rows and their preprocessed uint8 (N, 28, 28) arrays (a refused image: None)."""
    from charclf.apps import realworld as ev
    from charclf.data.realworld import read_manifest
    from charclf.data.realworld_parts import part_of

    rows = [r for r in read_manifest() if part_of(r.source, r.path) == PART]
    ev.require_local(root, rows)
    items = ev.build_items(rows, root, variants=())
    ev.preprocess_items(items, root, workers)
    return rows, [it["x"] for it in items]


def with_counts(model, run_dir: Path):
    """The model, its config given ``train_class_counts`` rebuilt from its data when the folder lacks them."""
    from charclf.class_prior import COUNTS_KEY

    if COUNTS_KEY not in model.charclf_config:
        from add_class_counts import training_counts  # tools/ is on the path when this script runs

        model.charclf_config = {**model.charclf_config, COUNTS_KEY: training_counts(run_dir)}
    return model


def scores(probs: np.ndarray, rows, refused: np.ndarray, labels, merge) -> dict:
    """top-1, merged top-1 and lower case merged top-1 of ``probs`` (a refused image counts wrong), by
    ``apps.realworld.score``, as evaluate-images counts them."""
    from charclf.apps.realworld import score

    entries = [{"label": r.label, "top": [] if bad else [(labels[int(p.argmax())], float(p.max()))]}
               for r, p, bad in zip(rows, probs, refused)]
    lower = [e for e, r in zip(entries, rows) if r.kind == "lower"]
    whole = score(entries, merge)
    return {"top1": whole["top1"], "merged_top1": whole["merged_top1"],
            "lower_merged_top1": score(lower, merge)["merged_top1"]}


def measure(root: Path, workers: int = 1, arms=None, runs_root: Path | None = None) -> dict:
    from charclf.apps.predict import model_probs
    from charclf.apps.realworld import merged_char
    from charclf.eval.record import RunRecord
    from charclf.models.hub import load_model
    from charclf.provenance import REPO_ROOT, repo_relative

    arms = ARMS if arms is None else arms
    runs_root = runs_root or REPO_ROOT / RUNS
    rows, xs = dev_images(root, workers)
    refused = np.array([x is None for x in xs])
    images = np.stack([np.zeros((28, 28), np.uint8) if x is None else x for x in xs])
    out = {}
    for arm, (runs, what) in arms.items():
        per_seed, probs = [], {False: [], True: []}
        for run in runs:
            run_dir = runs_root / run
            model = with_counts(load_model(run_dir), run_dir)
            labels = model.charclf_config["labels"]
            merge = merged_char(labels)
            record = RunRecord.load(run_dir)
            seed = {"run": repo_relative(run_dir), "precision": f"{record.precision} / val {record.val_precision}"}
            for tta in (False, True):
                p = model_probs(model, images, tta=tta, prior="uniform")
                probs[tta].append(p)
                seed["tta" if tta else "plain"] = scores(p, rows, refused, labels, merge)
            per_seed.append(seed)
        entry = {"what": what, "seeds": per_seed, "precision": ", ".join(sorted({s["precision"] for s in per_seed}))}
        for mode in ("plain", "tta"):
            for metric in ("top1", "merged_top1", "lower_merged_top1"):
                values = [s[mode][metric] for s in per_seed]
                entry.setdefault(mode, {})[metric] = {  # sample std over seeds, as every mean +- std here
                    "mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else None}
        if len(runs) > 1:
            entry["seed_average"] = {("tta" if tta else "plain"): scores(np.mean(probs[tta], 0), rows, refused,
                                                                         labels, merge) for tta in (False, True)}
        out[arm] = entry
    ensembled = ensemble_arm(runs_root, images, rows, refused)
    if ensembled is not None:
        out["ensemble (notebook 11)"] = ensembled
    from charclf.data.realworld_parts import split_facts

    # Every arm: the full profile's runs on the holdout protocol (RUNS); each seed names its own run and seed.
    return {"profile": "full", "protocol": "holdout", "part": PART, "parts_split": split_facts(), "n": len(rows), "refused": int(refused.sum()),
            "kinds": {k: sum(r.kind == k for r in rows) for k in ("digit", "upper", "lower")},
            "prior": "uniform", "shipped": SHIPPED, "arms": out}


def ensemble_arm(runs_root: Path, images: np.ndarray, rows, refused: np.ndarray) -> dict | None:
    """The study's chosen ensemble (``ENSEMBLE_RESULTS``'s ``cv`` selection, else ``greedy``) on the dev images:
    the mean of its members' probabilities under every character equally likely, each member with its record's
    TTA (None when the ensemble was never built; a member whose weights are missing or differ from those it
    recorded is a ``DataError``)."""
    from charclf.apps.predict import model_probs
    from charclf.apps.realworld import merged_char
    from charclf.eval.record import RunRecord
    from charclf.models.hub import load_model
    from charclf.provenance import read_json

    from charclf.errors import DataError
    from charclf.experiments.ensemble import weights_digest

    path = runs_root / ENSEMBLE_RESULTS
    if not path.is_file():
        return None
    results = read_json(path, "restore it from git")
    kind = "cv" if "cv" in results else "greedy"
    members = results[kind]["members"]
    recorded = {m["member"]: m.get("weights_sha256") for m in results["members"]}
    for member in sorted(set(members)):  # the ensemble's own members, or no arm: never other weights under its name
        weights = runs_root / member / "model.safetensors"
        if not weights.is_file() or weights_digest(runs_root / member) != recorded.get(member):
            raise DataError(weights, "is missing, or not the weights the study's ensemble chose (retrained since?)",
                            "restore the member's weights from git, or render notebook 11 to rebuild the ensemble")
    probs, labels, precisions = {}, None, set()
    for member in sorted(set(members)):
        run_dir = runs_root / member
        model = with_counts(load_model(run_dir), run_dir)
        labels = model.charclf_config["labels"]
        record = RunRecord.load(run_dir)
        precisions.add(f"{record.precision} / val {record.val_precision}")
        probs[member] = model_probs(model, images, tta=record.tta, prior="uniform")
    mean = np.mean([probs[m] for m in members], axis=0)
    return {"what": f"the study's ensemble ({kind} selection on EMNIST val, {len(members)} votes of "
                    f"{len(set(members))} runs, each with its record's TTA)", "members": members,
            "precision": ", ".join(sorted(precisions)),
            "plain": scores(mean, rows, refused, labels, merged_char(labels)),
            "members_alone": {m: scores(probs[m], rows, refused, labels, merged_char(labels))["merged_top1"]
                              for m in sorted(probs)}}


def main(argv=None) -> int:
    from charclf.apps.realworld import provenance
    from charclf.argtypes import COUNT, Parser
    from charclf.data.realworld import MANIFEST_PATH, default_dir
    from charclf.errors import CharclfError
    from charclf.fileio import refuse_to_replace, write_json
    from charclf.provenance import REPO_ROOT

    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=None, help="the fetched set (default: <data dir>/realworld)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "outputs/realworld/dev-methods.json")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier artifact at --out")
    parser.add_argument("--workers", type=COUNT, default=1, help="preprocessing processes (default 1)")
    args = parser.parse_args(argv)
    root = Path(args.dir) if args.dir else default_dir()
    try:
        refuse_to_replace(args.out, overwrite=args.overwrite)
        import time

        start = time.perf_counter()
        result = measure(root, args.workers)
        prov = provenance(REPO_ROOT / "model_hub/default", MANIFEST_PATH, root, time.perf_counter() - start,
                          prior="uniform")
        for key in ("model", "model_weights_sha256", "model_protocol"):  # the arms name their own runs
            prov.pop(key, None)
        write_json(args.out, {**result, "provenance": {**prov, "tool": "tools/realworld_dev_methods.py"}})
    except CharclfError as err:
        print(f"realworld_dev_methods: error: {err}")
        return 1
    for arm, entry in result["arms"].items():
        if "members" in entry:  # the ensemble: one score, no seeds
            print(f"{arm:<30} merged {entry['plain']['merged_top1']:.1%}")
            continue
        p, t = entry["plain"]["merged_top1"], entry["tta"]["merged_top1"]
        avg = entry.get("seed_average", {}).get("plain", {}).get("merged_top1")
        print(f"{arm:<30} merged {p['mean']:.1%} (TTA {t['mean']:.1%})" + (f", seed average {avg:.1%}" if avg else ""))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
