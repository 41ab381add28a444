"""Run records for tests that need a finished run folder without training one."""
from __future__ import annotations

import json
from pathlib import Path

from charclf.eval.record import RunRecord


def fake_record(*, test_acc: float = 0.49, model: str = "lenet", protocol: str = "holdout", seed: int = 0,
                tta: bool = False, **changes) -> RunRecord:
    test = {"accuracy": test_acc, "n": 100, "merged47_accuracy": 0.61, "f1_weighted": 0.55, "tta": tta,
            "precision": "fp32"}
    base = dict(model=model, params=35_814, macs=280_000,
                data={"split": "byclass", "protocol": protocol, "num_classes": 62,
                      "sizes": {"train": 1000, "val": 100, "test": 100}},
                train_samples=1000, recipe=None, config={"model": model, "seed": seed, "tta": tta},
                precision="fp32", channels_last=True, device="cpu", world_size=1, mean=0.17, std=0.33,
                best_epoch=2, best_val_acc=0.5, best_val_loss=1.2, final_val_acc=0.5, final_val_loss=1.2,
                epochs_run=3, train_time_s=12.0, wall_time_s=13.0, images_per_s=900.0, tta=tta,
                evaluation={"test_tta" if tta else "test": test},
                provenance={"git_sha": "abcdef1234567", "seed": seed, "created_utc": "2026-01-01T00:00:00+00:00",
                            "machine": {"device": "cpu", "cpu_count": 2}, "protocol": protocol})
    return RunRecord(**{**base, **changes})


def write_fake_run(folder: Path, *, history: bool = True, **record_kw) -> RunRecord:
    """A finished run folder: metrics.json (a RunRecord), history.csv and a model config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    record = fake_record(**record_kw)
    record.save(folder)
    (folder / "config.json").write_text(json.dumps({"architecture": record.model, "num_classes": 62,
                                                    "labels": [f"c{i}" for i in range(62)], "mean": 0.17, "std": 0.33,
                                                    "protocol": record.data["protocol"],
                                                    "train_class_counts": [10] * 62}))
    if history:
        (folder / "history.csv").write_text("epoch,val_acc,epoch_time_s\n1,0.5,1.0\n")
    return record
