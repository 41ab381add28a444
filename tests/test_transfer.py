"""Transfer to MNIST: generic head replacement, and the transfer / scratch / Mini-Vision-V2 comparison."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from charclf.data import CharDataset, DataBundle
from charclf.errors import ConfigError, DataError
from charclf.experiments.transfer import find_heads, replace_head, transfer_to_mnist
from charclf.models import create_model, list_models
from charclf.models.hub import load_model, save_pretrained
from charclf.train.config import AugmentConfig
from charclf.train.recipes import get_recipe

DIGITS = tuple("0123456789")


pytestmark = pytest.mark.usefixtures("one_thread")


def digits_bundle(n_train: int = 60, n_val: int = 20, n_test: int = 20, seed: int = 0) -> DataBundle:
    """Tiny learnable 10-class data shaped like classic MNIST: digit k is a bright bar at row 2 + 2k."""
    g = torch.Generator().manual_seed(seed)

    def part(n: int, name: str) -> CharDataset:
        labels = torch.arange(n) % 10
        images = torch.randint(0, 30, (n, 28, 28), generator=g).to(torch.uint8)
        for i, k in enumerate(labels.tolist()):
            images[i, 3 + 2 * k, 4:24] = 240
        return CharDataset(images, labels, DIGITS, "classic-mnist", name, "official")

    return DataBundle(part(n_train, "train"), part(n_val, "val"), part(n_test, "test"), "classic-mnist", "official",
                      DIGITS)


def emnist_source(tmp_path: Path, arch: str = "lenet", orientation: str = "upright") -> Path:
    """A model folder as an EMNIST ByClass training leaves it (62 classes)."""
    torch.manual_seed(0)
    model = create_model(arch, num_classes=62)
    labels = [str(i) for i in range(10)] + [chr(c) for c in range(65, 91)] + [chr(c) for c in range(97, 123)]
    return save_pretrained(model, tmp_path / "source", architecture=arch, num_classes=62, labels=labels,
                           mean=0.17, std=0.33, protocol="holdout", extra={"orientation": orientation})


@pytest.mark.parametrize("name", list_models())
def test_replace_head_on_every_registered_model(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=62)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    heads = find_heads(model)
    replace_head(model, 10, seed=0)
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 1, 28, 28))
    assert out.shape == (2, 10)
    after = model.state_dict()
    # Only the head layers changed; every other tensor is the EMNIST-trained one.
    changed = {k for k in after if k not in before or after[k].shape != before[k].shape
               or not torch.equal(after[k], before[k])}
    assert changed == {f"{h}.{p}" for h in heads for p in ("weight", "bias") if f"{h}.{p}" in after}
    for h in heads:
        assert model.get_submodule(h).out_features == 10


def test_find_heads_is_the_last_linear_for_plain_nets_and_all_heads_for_ensnet():
    vgg = create_model("vgg", num_classes=62)
    linears = [n for n, m in vgg.named_modules() if isinstance(m, nn.Linear)]
    assert find_heads(vgg) == [linears[-1]]
    assert len(find_heads(create_model("ensnet", num_classes=62))) == 11  # major + 10 sub-classifiers


def test_replace_head_is_seeded_and_refuses_headless_models():
    a, b = create_model("lenet", num_classes=62), create_model("lenet", num_classes=62)
    b.load_state_dict(a.state_dict())
    replace_head(a, 10, seed=3)
    replace_head(b, 10, seed=3)
    sb = b.state_dict()
    for key, value in a.state_dict().items():
        assert torch.equal(value, sb[key]), key
    conv_head = nn.Sequential(nn.Conv2d(1, 62, 28), nn.Flatten())
    with pytest.raises(ConfigError, match="no nn.Linear"):
        replace_head(conv_head, 10)
    with pytest.raises(ConfigError, match="positive integer"):
        replace_head(create_model("lenet"), 0)


def _fast_config(**overrides):
    return get_recipe("byclass_finetune", batch_size=20, augment=AugmentConfig(), **overrides)


def test_transfer_to_mnist_compares_three_runs_and_writes_results(tmp_path):
    src = emnist_source(tmp_path)
    source_weights = load_model(src).state_dict()
    df = transfer_to_mnist(src, digits_bundle(), epochs=1, config=_fast_config(), out_dir=tmp_path / "out",
                           data_dir=tmp_path / "no-data")
    assert list(df.run) == ["transfer", "scratch", "minivision_v2"]
    assert list(df.model) == ["lenet", "lenet", "minivision_v2"]
    assert (df.epochs == 1).all() and df.test_acc.between(0, 1).all() and df.best_val_acc.between(0, 1).all()
    assert df.emnist_mnist_test_acc.isna().all() and "not evaluated" in df.attrs["emnist_mnist_test"]
    # The Mini-Vision-V2 baseline ran with its own recipe, for the same budget.
    v2 = json.loads((tmp_path / "out" / "minivision_v2" / "train_config.json").read_text())
    assert (v2["optimizer"]["name"], v2["optimizer"]["momentum"], v2["scheduler"]["step_size"]) == ("sgd", 0.8, 3)
    assert v2["epochs"] == 1
    # The transfer run started from the EMNIST weights: its trained conv weights are near them, scratch's not.
    transfer = load_model(tmp_path / "out" / "transfer").state_dict()
    scratch = load_model(tmp_path / "out" / "scratch").state_dict()
    key = next(k for k in source_weights if k.startswith("features") and k.endswith("weight"))
    d_transfer = (transfer[key] - source_weights[key]).norm()
    d_scratch = (scratch[key] - source_weights[key]).norm()
    assert d_transfer < d_scratch
    assert load_model(tmp_path / "out" / "transfer").charclf_config["num_classes"] == 10
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["run"] for r in results["runs"]] == list(df.run)
    assert results["runs"][0]["emnist_mnist_test_acc"] is None
    assert results["source_architecture"] == "lenet" and results["git_sha"] and results["seed"] == 0
    assert "upright" in results["orientation"]


def test_transfer_evaluates_on_the_emnist_mnist_test_file_when_present(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from synth import make_emnist_dir

    root = make_emnist_dir(tmp_path / "data", splits=("mnist",), n=40, mnist=False)
    df = transfer_to_mnist(emnist_source(tmp_path), digits_bundle(), epochs=1, config=_fast_config(),
                           out_dir=tmp_path / "out", data_dir=root)
    assert df.emnist_mnist_test_acc.between(0, 1).all()
    assert "40 images" in df.attrs["emnist_mnist_test"]
    assert all(not math.isnan(r["emnist_mnist_test_acc"])
               for r in json.loads((tmp_path / "out" / "results.json").read_text())["runs"])


def test_transfer_refuses_transposed_models_and_non_digit_data(tmp_path):
    with pytest.raises(DataError, match="upright"):
        transfer_to_mnist(emnist_source(tmp_path, orientation="transposed"), digits_bundle(), epochs=1,
                          out_dir=tmp_path / "out")
    letters = digits_bundle()
    letters = DataBundle(letters.train, letters.val, letters.test, "letters", "official", tuple("abcdefghij"))
    with pytest.raises(DataError, match="digits"):
        transfer_to_mnist(emnist_source(tmp_path / "b"), letters, epochs=1, out_dir=tmp_path / "out")
