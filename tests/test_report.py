"""The README's results come from artifacts: check the table is built from run folders and the README block is replaced."""
import json

import pytest

from charclf import report


def _fake_run(folder, *, test_acc, protocol="holdout", arch="lenet"):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architecture": arch, "num_classes": 62, "labels": ["x"] * 62,
                                                    "mean": 0.1, "std": 0.3, "protocol": protocol}))
    (folder / "metrics.json").write_text(json.dumps({
        "test_acc": test_acc, "best_val_acc": 0.5, "epochs_run": 3, "train_time_s": 12.0, "images_per_s": 900.0,
        "data": {"split": "byclass", "protocol": protocol, "sizes": {"train": 1000, "val": 100, "test": 100}},
        "evaluation": {"test": {"merged47_accuracy": 0.61, "f1_weighted": 0.55}},
        "run_metadata": {"git_sha": "abcdef1234567", "seed": 0, "machine": {"device": "cpu"}}}))


def test_table_rows_come_from_run_folders(tmp_path):
    _fake_run(tmp_path / "runs" / "quick" / "a", test_acc=0.4321)
    _fake_run(tmp_path / "runs" / "quick" / "b", test_acc=0.6789, arch="lenet5_keras")
    (tmp_path / "runs" / "quick" / "not-a-run").mkdir()
    df = report.run_rows(tmp_path / "runs")
    assert sorted(df["test_acc"]) == [0.4321, 0.6789]
    assert set(df["model"]) == {"lenet", "lenet5_keras"}
    assert df.loc[df["model"] == "lenet", "params"].item() == 35_814  # counted from the registry, not typed


def test_markdown_names_protocol_and_artifact(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    _fake_run(tmp_path / "runs" / "quick" / "a", test_acc=0.4321)
    md = report.results_markdown(tmp_path / "runs")
    assert "43.21%" in md and "holdout protocol" in md and "quick profile" in md
    assert "61.00%" in md  # merged-47 from the evaluation block


def test_write_readme_replaces_only_the_marked_block(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    _fake_run(tmp_path / "runs" / "cpu" / "a", test_acc=0.8)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.START}\nOLD-BLOCK\n{report.END}\noutro\n")
    report.write_readme(readme, tmp_path / "runs")
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "OLD-BLOCK" not in text and "80.00%" in text
    readme.write_text("no markers")
    with pytest.raises(ValueError):
        report.write_readme(readme, tmp_path / "runs")


def test_train_images_counts_the_images_trained_on(tmp_path):
    # An MNIST transfer run: the data's train part holds 54,000 images, fit trained on a 3,000-image subset.
    _fake_run(tmp_path / "runs" / "quick" / "a", test_acc=0.9)
    path = tmp_path / "runs" / "quick" / "a" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["data"]["sizes"]["train"] = 54_000
    path.write_text(json.dumps({**metrics, "train_samples": 3000}))
    assert report.run_rows(tmp_path / "runs")["train_images"].tolist() == [3000]
    assert "| 3,000 |" in report.results_markdown(tmp_path / "runs")
    path.write_text(json.dumps(metrics))  # a run written before fit recorded train_samples: the part's size
    assert report.run_rows(tmp_path / "runs")["train_images"].tolist() == [54_000]


@pytest.mark.parametrize("metrics, meta, expected", [
    ({"precision": "bf16"}, {}, "bf16"),  # recorded by the run
    ({}, {"config": {"amp": "auto"}, "machine": {"device": "cpu"}}, "fp32"),  # older runs: auto = bf16 on CUDA only
    ({}, {"config": {"amp": "auto"}, "machine": {"device": "cuda:0"}}, "bf16"),
    ({}, {"config": {"amp": "bf16"}, "machine": {"device": "cpu"}}, "bf16"),
    ({}, {}, None),
])
def test_precision_column(metrics, meta, expected):
    assert report.run_precision(metrics, meta) == expected
