"""Add the training images' class counts to model folders saved before ``fit`` recorded them.

    python tools/add_class_counts.py model_hub/default outputs/runs/full/11_beyond/minivision_v3-nearest-seed2
    charclf class-counts DIR...                         # the same, from a clone of the repository
    python tools/add_class_counts.py DIR... --write     # add them

``charclf predict`` divides a model's training prior out (``charclf.class_prior``), which needs the counts in the
folder's ``config.json`` under ``train_class_counts``. ``fit`` writes them for every new run. For an older folder,
this tool rebuilds them from the data the run trained on: the split and protocol in its ``config.json``, cut to
``max_train_samples`` with the run's seed as ``fit`` cut it (``train_config.json``). Without ``--write`` it only
prints what it would add. It adds the one key and changes nothing else. A folder whose counts are already there
and equal is left as it is. A folder whose counts differ is refused. Repo-only tool: not part of the package.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


from charclf.class_prior import COUNTS_KEY
from charclf.errors import CharclfError, DataError
from charclf.fileio import write_json
from charclf.provenance import read_json

FIX = "restore the file from git or the run folder it came from"


def training_counts(model_dir: Path, data_dir=None) -> list[int]:
    """The class counts of the images the model in ``model_dir`` trained on, rebuilt from the data."""
    from charclf.data import load_data, stratified_subset

    config = read_json(model_dir / "config.json", FIX)
    train_config_path = model_dir / config.get("train_config", "train_config.json")
    if "split" not in config or not train_config_path.is_file():
        raise DataError(model_dir, "does not say which data it trained on (config.json's 'split', and "
                        "train_config.json)", "add the counts by hand, or retrain: fit writes them")
    train_config = read_json(train_config_path, FIX)
    bundle = load_data(config["split"], config.get("protocol", "holdout"), data_dir)
    if list(bundle.classes) != list(config["labels"]):
        raise DataError(model_dir / "config.json", f"labels differ from the {config['split']} split's",
                        "check that this folder's config.json belongs to its weights")
    train = bundle.train  # cut as fit cuts it (TrainConfig.max_train_samples, the run's seed)
    if train_config.get("max_train_samples") is not None:
        train = stratified_subset(train, train_config["max_train_samples"], train_config["seed"])
    # What the run's record says it trained on must be what was rebuilt (a profile's subset, another data folder).
    record_path = model_dir / "metrics.json"
    record = read_json(record_path, FIX) if record_path.is_file() else {}
    if record.get("train_samples") is not None and record["train_samples"] != len(train):
        raise DataError(record_path, f"says the model trained on {record['train_samples']:,} images, but the data "
                        f"rebuilt here has {len(train):,}", "pass the data folder it trained on (--data-dir), or "
                        "add the counts by hand")
    return [int(c) for c in train.class_counts()]


def main(argv=None) -> int:
    from charclf.argtypes import Parser  # one-line errors, no option given twice

    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="model folders (config.json + model.safetensors)")
    parser.add_argument("--write", action="store_true", help="add the counts (default: only show them)")
    parser.add_argument("--data-dir", default=None, help="the data the models trained on (default: "
                        "$CHARCLF_DATA_DIR, then data/)")
    args = parser.parse_args(argv)
    failed = 0
    for model_dir in map(Path, args.dirs):
        try:
            counts = training_counts(model_dir, args.data_dir)
            path = model_dir / "config.json"
            config = read_json(path, FIX)
            if config.get(COUNTS_KEY) == counts:
                print(f"{path}: already records these counts")
                continue
            if config.get(COUNTS_KEY) is not None:
                raise DataError(path, f"records other {COUNTS_KEY} than its data gives",
                                "check which data this model trained on; the tool changes nothing here")
            print(f"{path}: {sum(counts):,} training images, {len(counts)} classes"
                  + ("" if args.write else " (pass --write to add them)"))
            if args.write:
                # One key added at the end; the rest of the file keeps its content and order.
                write_json(path, {**config, COUNTS_KEY: counts})
        except CharclfError as err:
            print(err, file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
