"""EMNIST-MNIST test less the source model's training images: transfer_to_mnist scores it, and
tools/rescore_emnist_mnist_disjoint.py adds it to earlier results without retraining or changing what they hold."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from synth import gz, make_emnist_dir  # noqa: E402
from test_transfer import _fast_config, digits_bundle  # noqa: E402

from charclf.data import load_data, official_file  # noqa: E402
from charclf.data.idx import idx_bytes  # noqa: E402
from charclf.data.overlap import images_also_in  # noqa: E402
from charclf.errors import DataError  # noqa: E402
from charclf.experiments.transfer import (DISJOINT_COLUMN, DISJOINT_KEY, emnist_mnist_disjoint_test,  # noqa: E402
                                          transfer_to_mnist)
from charclf.models import create_model  # noqa: E402
from charclf.models.hub import save_pretrained  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
LABELS = [str(i) for i in range(10)] + [chr(c) for c in range(65, 91)] + [chr(c) for c in range(97, 123)]


def _write_emnist_mnist_test(root: Path, images: np.ndarray) -> None:
    """Replace the data dir's EMNIST-MNIST test file by ``images`` (upright), stored transposed as NIST does."""
    labels = (np.arange(len(images)) % 10).astype(np.uint8)
    (root / "emnist" / official_file("mnist", "test", "images")).write_bytes(
        gz(idx_bytes(np.ascontiguousarray(images.transpose(0, 2, 1)))))
    (root / "emnist" / official_file("mnist", "test", "labels")).write_bytes(gz(idx_bytes(labels)))


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    """A data dir whose EMNIST-MNIST test file (40 images) holds 3 images of the ByClass holdout train part,
    2 of val and 2 of test; a source model trained on that protocol; and a transfer comparison from it."""
    tmp = tmp_path_factory.mktemp("leaky")
    root = make_emnist_dir(tmp / "data", splits=("byclass", "mnist"), n=130, mnist=False, holdout=True)
    bundle = load_data("byclass", "holdout", root, cache=False)
    rng = np.random.default_rng(5)
    others = rng.integers(0, 256, size=(33, 28, 28), dtype=np.uint8)
    images = np.concatenate([bundle.train.images[:3].numpy(), bundle.val.images[:2].numpy(),
                             bundle.test.images[:2].numpy(), others])
    _write_emnist_mnist_test(root, images)
    torch.manual_seed(0)
    source = save_pretrained(create_model("lenet", num_classes=62), tmp / "source", architecture="lenet",
                             num_classes=62, labels=LABELS, mean=0.17, std=0.33, protocol="holdout",
                             extra={"split": "byclass"})
    (source / "metrics.json").write_text(json.dumps({"data": bundle.describe()}))  # what fit records
    out = tmp / "out"
    df = transfer_to_mnist(source, digits_bundle(), epochs=1, config=_fast_config(), out_dir=out, data_dir=root,
                           baseline_recipe=None)
    return root, source, out, df


def test_transfer_scores_emnist_mnist_less_the_source_training_images(leaky):
    root, source, out, df = leaky
    facts = json.loads((out / "results.json").read_text())[DISJOINT_KEY]
    assert (facts["n_total"], facts["n_dropped"], facts["n"]) == (40, 5, 35)
    assert facts["dropped_by_part"] == {"train": 3, "val": 2}
    assert facts["kept_also_in_source_test_part"] == 2  # never trained on: kept
    assert facts["source_data"]["split"] == "byclass" and facts["source_data"]["parts"] == ["train", "val"]
    assert "byte-identical" in facts["rule"] and df.attrs[DISJOINT_KEY] == facts
    rows = json.loads((out / "results.json").read_text())["runs"]
    assert all(0 <= r[DISJOINT_COLUMN] <= 1 and 0 <= r["emnist_mnist_test_acc"] <= 1 for r in rows)
    assert "5 of them are byte-identical" in df.attrs["emnist_mnist_test"]
    kept, _ = emnist_mnist_disjoint_test(source, root)
    bundle = load_data("byclass", "holdout", root, cache=False)
    trained = torch.cat([bundle.train.images, bundle.val.images])
    assert len(kept) == 35 and not images_also_in(kept.images, trained).any()
    assert images_also_in(bundle.test.images[:2], kept.images).all()  # the source's test part stays


def test_a_source_trained_on_another_index_file_is_not_cut_by_this_one(leaky, tmp_path):
    root, source, _, _ = leaky
    bare = shutil.copytree(source, tmp_path / "bare")
    (bare / "metrics.json").unlink()  # config.json only: made with the shipped index file, not this data dir's
    kept, facts = emnist_mnist_disjoint_test(bare, root)
    assert kept is None and facts["n"] is None and "holdout index file" in facts["note"]
    (bare / "config.json").write_text(json.dumps({**json.loads((bare / "config.json").read_text()), "split": None}))
    assert "neither the data it was trained on" in emnist_mnist_disjoint_test(bare, root)[1]["note"]


def test_rescore_tool_adds_the_field_once_and_refuses_to_change_a_recorded_number(leaky, tmp_path, capsys):
    import rescore_emnist_mnist_disjoint as tool

    root, _, out, _ = leaky
    results = json.loads((out / "results.json").read_text())
    earlier = {**results, "runs": [{k: v for k, v in r.items() if k != DISJOINT_COLUMN} for r in results["runs"]]}
    earlier.pop(DISJOINT_KEY)  # a results file from before the disjoint scoring
    path = tmp_path / "results.json"
    path.write_text(json.dumps(earlier))
    assert tool.main([str(path), "--data-dir", str(root)]) == 0
    rescored = json.loads(path.read_text())
    assert [r[DISJOINT_COLUMN] for r in rescored["runs"]] == [r[DISJOINT_COLUMN] for r in results["runs"]]
    assert {k: v for k, v in rescored.items() if k not in ("runs", DISJOINT_KEY)} == \
        {k: v for k, v in earlier.items() if k != "runs"}  # nothing recorded changed
    assert rescored[DISJOINT_KEY]["n"] == 35 and rescored[DISJOINT_KEY]["rows_not_scored"] == {}
    assert tool.main([str(path), "--data-dir", str(root)]) == 0 and "unchanged" in capsys.readouterr().out

    tampered = json.loads(path.read_text())
    tampered["runs"][0][DISJOINT_COLUMN] = 0.123
    path.write_text(json.dumps(tampered))
    before = path.read_bytes()
    assert tool.main([str(path), "--data-dir", str(root)]) == 1
    printed = capsys.readouterr().out
    assert "already records" in printed and "Fix:" in printed and path.read_bytes() == before

    tampered["runs"][0].pop(DISJOINT_COLUMN)
    tampered["runs"][0]["emnist_mnist_test_acc"] = 0.5  # weights that did not make the recorded number
    path.write_text(json.dumps(tampered))
    with pytest.raises(DataError, match="not the weights the number came from"):
        tool.rescore(path, root)


def test_rescore_tool_lists_rows_without_weights_and_writes_no_number_for_them(leaky, tmp_path):
    import rescore_emnist_mnist_disjoint as tool

    root, _, out, _ = leaky
    results = json.loads((out / "results.json").read_text())
    gone = shutil.copytree(out / "scratch", tmp_path / "scratch")
    (gone / "model.safetensors").unlink()
    runs = [{k: v for k, v in r.items() if k != DISJOINT_COLUMN} for r in results["runs"]]
    runs[1]["run_dir"] = str(gone)
    path = tmp_path / "results.json"
    path.write_text(json.dumps({**{k: v for k, v in results.items() if k != DISJOINT_KEY}, "runs": runs}))
    new, _ = tool.rescore(path, root)
    assert DISJOINT_COLUMN in new["runs"][0] and DISJOINT_COLUMN not in new["runs"][1]
    assert list(new[DISJOINT_KEY]["rows_not_scored"]) == ["scratch"]
    [first_pass] = new[DISJOINT_KEY]["scored_by"]
    assert first_pass["rows"] == [runs[0]["run"]]

    path.write_text(json.dumps(new))  # the weights come back: a later pass scores the row and says so
    shutil.copy(out / "scratch" / "model.safetensors", gone / "model.safetensors")
    again, _ = tool.rescore(path, root)
    assert DISJOINT_COLUMN in again["runs"][1] and again[DISJOINT_KEY]["rows_not_scored"] == {}
    assert again[DISJOINT_KEY]["scored_by"][0] == first_pass  # the first pass is kept
    assert again[DISJOINT_KEY]["scored_by"][1]["rows"] == ["scratch"]
