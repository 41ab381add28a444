"""The model zoo: every registered model builds, runs forward/backward, and has its published size."""
from __future__ import annotations

import copy
import sys
import urllib.error

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from charclf.errors import ConfigError, DataError, UnknownNameError
from charclf.models import (
    architecture_kwargs,
    create_model,
    describe_models,
    list_models,
    model_summary,
    register_model,
    registry,
)
from charclf.models import efficientnet as effnet

CONTRACT_NAMES = ["lenet", "alexnet", "vgg", "resnet", "spinalnet", "ensnet", "minivision_v2", "minivision_v3",
                  "lenet5_keras", "efficientnet_b2", "efficientnet_b3"]


def _batch(n: int = 2) -> torch.Tensor:
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_registry_has_every_contract_name_and_own_models():
    names = list_models()
    assert set(CONTRACT_NAMES) <= set(names)
    assert list_models("charnet_*") == ["charnet_l", "charnet_m", "charnet_s", "charnet_xs"]
    assert names == sorted(names)


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("num_classes", [10, 47, 62])
def test_forward_shape_and_finite(name, num_classes):
    torch.manual_seed(0)
    model = create_model(name, num_classes=num_classes).eval()
    with torch.no_grad():
        out = model(_batch())
    assert out.shape == (2, num_classes)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list_models())
def test_backward_reaches_every_parameter(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=62).train()
    loss = F.cross_entropy(model(_batch()), torch.tensor([3, 61]))
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    missing = [n for n, g in grads.items() if g is None]
    assert not missing, f"{name}: parameters unused by forward: {missing[:5]}"
    assert all(torch.isfinite(g).all() for g in grads.values())
    assert any(g.abs().sum() > 0 for g in grads.values())


@pytest.mark.parametrize("name,num_classes,expected", [
    ("minivision_v2", 10, 824_650),     # Mini-Vision-V2 model card (MNIST)
    ("minivision_v3", 47, 400_367),     # Mini-Vision-V3 model card (EMNIST Balanced)
    ("lenet5_keras", 47, 64_851),       # the Keras LeNet-5 model summary
])
def test_published_parameter_counts(name, num_classes, expected):
    assert model_summary(create_model(name, num_classes=num_classes))["params"] == expected


# Not published counts: the sizes each model file documents, pinned so a layout change is noticed (the study
# tables and model cards quote them).
@pytest.mark.parametrize("name,expected", [
    ("lenet", 35_814), ("alexnet", 1_849_070), ("vgg", 1_463_678), ("resnet", 707_886), ("spinalnet", 386_050),
    ("ensnet", 26_944_101), ("efficientnet_b2", 7_787_776), ("efficientnet_b3", 10_790_806),
    ("charnet_xs", 29_534), ("charnet_s", 98_734), ("charnet_m", 2_773_278), ("charnet_l", 9_695_070),
    ("minivision_s", 97_022), ("minivision_s_gap", 95_990), ("minivision_v3_s2d", 405_086), ("minivision_xs", 9_670),
])
def test_documented_parameter_counts_at_62_classes(name, expected):
    model = create_model(name, num_classes=62)
    assert model_summary(model)["params"] == expected
    assert f"{expected:,}" in sys.modules[type(model).__module__].__doc__  # the docs say the same number


def test_study_layouts_match_the_issue():
    vgg = create_model("vgg")
    widths = [m.out_channels for m in vgg.modules() if isinstance(m, nn.Conv2d)]
    assert widths == [16, 32, 64, 64, 128, 128, 128, 128]
    resnet = create_model("resnet")
    assert [b.conv1.out_channels for b in resnet.stages] == [16, 16, 32, 32, 64, 64, 128, 128]
    spinal = create_model("spinalnet")
    assert [layer.out_features for layer in spinal.spinal] == [50] * 4
    assert [m.kernel_size for m in spinal.modules() if isinstance(m, nn.Conv2d)] == [(5, 5), (5, 5)]
    ensnet = create_model("ensnet")
    assert max(m.out_channels for m in ensnet.modules() if isinstance(m, nn.Conv2d)) == 2000
    assert len(ensnet.classifiers) == 10 and ensnet.weights.shape == (11,)
    lenet = create_model("lenet")
    assert any(isinstance(m, nn.BatchNorm1d) for m in lenet.modules())
    assert lenet.avgpool.output_size == 3


@pytest.mark.parametrize("name,budget", [("charnet_s", 100_000), ("charnet_xs", 30_000), ("minivision_s", 100_000),
                                         ("minivision_s_gap", 100_000)])
def test_small_charnets_fit_their_parameter_budgets(name, budget):
    assert model_summary(create_model(name, num_classes=62))["params"] <= budget


def test_minivision_v3_s2d_is_mini_vision_v3_but_for_a_lossless_14px_stem():
    s2d, mv3 = create_model("minivision_v3_s2d", num_classes=62), create_model("minivision_v3", num_classes=62)
    shapes = lambda m: {k: v.shape for k, v in m.state_dict().items() if not k.startswith("features.0.")}
    assert shapes(s2d) == shapes(mv3)  # blocks 2-3 and the head are Mini-Vision-V3's
    stem = s2d.features[0]
    x = torch.arange(28 * 28, dtype=torch.float32).reshape(1, 1, 28, 28)
    patches = stem[0](x)  # space-to-depth keeps every pixel: a permutation of the image
    assert patches.shape == (1, 4, 14, 14) and torch.equal(patches.flatten().sort().values, x.flatten())
    assert stem[1].in_channels == 4 and s2d.features[:1](x).shape == (1, 32, 14, 14)


@pytest.mark.parametrize("name", ["minivision_v2", "minivision_v3"])
def test_minivision_pool_before_relu_is_the_model_cards_function(name):
    """Mini-Vision computes Conv -> MaxPool -> ReLU -> BN for speed; the card lists Conv -> ReLU -> MaxPool -> BN.
    Same weights in the card's order must give the same logits and gradients (and the same state_dict keys)."""
    torch.manual_seed(0)
    fast = create_model(name)
    card = copy.deepcopy(fast)
    for block in card.features:
        assert isinstance(block[1], nn.MaxPool2d) and isinstance(block[2], nn.ReLU)
        block[1], block[2] = block[2], block[1]  # back to the card's order
    assert list(card.state_dict()) == list(fast.state_dict())
    x = torch.randn(16, 1, 28, 28)
    torch.testing.assert_close(fast.eval()(x), card.eval()(x), rtol=0, atol=0)
    fast.train(), card.train()  # batch statistics; dropout draws the same mask from the same seed
    torch.manual_seed(1)
    out_fast = fast(x)
    torch.manual_seed(1)
    out_card = card(x)
    out_fast.square().sum().backward()
    out_card.square().sum().backward()
    torch.testing.assert_close(out_fast, out_card)
    for (key, p_fast), p_card in zip(fast.named_parameters(), card.parameters()):
        torch.testing.assert_close(p_fast.grad, p_card.grad, msg=key)


def test_sizes_are_ordered_small_to_large():
    params = {n: model_summary(create_model(n))["params"] for n in list_models("charnet_*")}
    assert params["charnet_xs"] < params["charnet_s"] < params["charnet_m"] < params["charnet_l"]
    assert 1_000_000 <= params["charnet_m"] <= 3_000_000


def test_unknown_name_lists_close_matches():
    with pytest.raises(UnknownNameError) as info:
        create_model("vgg16")
    msg = str(info.value)
    assert "'vgg16'" in msg and "Did you mean: vgg" in msg
    assert isinstance(info.value, KeyError) and isinstance(info.value, ConfigError)


def test_bad_kwargs_and_num_classes_are_config_errors():
    with pytest.raises(ConfigError, match="conv_bn"):
        create_model("vgg", convbn=True)            # typo: the message lists the accepted keyword
    for bad in (0, 2.5, True, "62"):
        with pytest.raises(ConfigError, match="num_classes"):
            create_model("lenet", num_classes=bad)
    assert create_model("lenet", num_classes=np.int64(47))(_batch()).shape == (2, 47)   # numpy ints are fine
    with pytest.raises(ConfigError, match="major_input"):
        create_model("ensnet", major_input="everything")


def test_model_kwargs_change_the_model():
    plain = model_summary(create_model("vgg"))["params"]
    with_bn = model_summary(create_model("vgg", conv_bn=True))["params"]
    assert with_bn - plain == 16 + 32 + 64 + 64 + 4 * 128      # BN adds 2 per channel, drops 1 conv bias


def test_register_model_refuses_duplicates_and_accepts_new(monkeypatch):
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))

    def vgg(num_classes=62):  # same registry name as the real VGG, another function
        return nn.Linear(784, num_classes)

    with pytest.raises(ConfigError, match="already registered"):
        register_model(vgg)

    def toy_mlp(num_classes=62):
        return nn.Sequential(nn.Flatten(), nn.Linear(784, num_classes))

    assert register_model(toy_mlp) is toy_mlp
    assert register_model(toy_mlp) is toy_mlp        # the same function again (a notebook reload) is fine
    assert "toy_mlp" in list_models("toy_*")
    assert create_model("toy_mlp", num_classes=5)(_batch()).shape == (2, 5)

    def no_classes():
        return nn.Identity()

    with pytest.raises(ConfigError, match="num_classes"):
        register_model(no_classes)


def test_list_models_pattern():
    assert list_models("efficientnet_b?") == ["efficientnet_b2", "efficientnet_b3"]
    assert list_models("minivision_v?") == ["minivision_v2", "minivision_v3"]
    assert list_models("minivision_s*") == ["minivision_s", "minivision_s_gap"]
    assert list_models("no_such_model*") == []


def test_model_summary_counts_macs_by_hand():
    conv, fc = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(4 * 28 * 28, 10)
    toy = nn.Sequential(conv, nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), fc).train()
    info = model_summary(toy)
    # conv: 28*28 outputs x 4 channels x (1*3*3) MACs; linear: 3136 x 10; BN/ReLU count 0
    assert info["macs"] == 28 * 28 * 4 * 9 + 3136 * 10
    assert info["params"] == (4 * 9 + 4) + 8 + (3136 * 10 + 10)
    assert info["trainable_params"] == info["params"]
    assert info["output_shape"] == (1, 10)
    assert toy.training                                                  # mode restored
    assert model_summary(toy, (3, 1, 28, 28))["macs"] == info["macs"]   # per image, not per batch


def test_model_summary_shared_and_grouped_and_frozen():
    shared = nn.Linear(8, 8)
    model = nn.Sequential(nn.Flatten(), shared, nn.ReLU(), shared)        # one module used twice
    info = model_summary(model, (1, 8))
    assert info["macs"] == 2 * 64 and info["params"] == 72
    depthwise = nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False)
    assert model_summary(depthwise, (1, 6, 10, 10))["macs"] == 10 * 10 * 6 * 9
    depthwise.weight.requires_grad_(False)
    assert model_summary(depthwise, (1, 6, 10, 10))["trainable_params"] == 0


def test_model_summary_efficientnet_counts_at_112_px():
    model = create_model("efficientnet_b2", num_classes=62)
    info = model_summary(model)
    stem = model.net.features[0][0]
    assert stem.in_channels == 1
    # the stem (stride 2) runs on the 112 px resized image: 56*56 outputs, not 14*14
    stem_macs = 56 * 56 * stem.out_channels * 9
    assert info["macs"] > 100 * stem_macs
    assert info["output_shape"] == (1, 62)


def test_describe_models_dataframe():
    df = describe_models(47, names=["lenet5_keras", "minivision_v3"])
    assert list(df.columns) == ["name", "params", "trainable_params", "macs", "output_shape"]
    assert df.set_index("name").loc["lenet5_keras", "params"] == 64_851
    assert df.set_index("name").loc["minivision_v3", "output_shape"] == (1, 47)


def test_ensnet_all_logits_combine_with_learnable_weights():
    model = create_model("ensnet", num_classes=47).eval()
    x = _batch()
    with torch.no_grad():
        all_logits = model.all_logits(x)
        combined = model(x)
    assert all_logits.shape == (2, 11, 47)
    torch.testing.assert_close(combined, (all_logits * model.weights.view(1, -1, 1)).sum(1))
    study = create_model("ensnet", num_classes=62, major_input="first_slice")
    assert study.classifier_major.in_features == 200 * 9
    assert model.classifier_major.in_features == 2000 * 9


@pytest.mark.parametrize("name", list_models("charnet_*"))
def test_charnet_channels_last_bf16(name):
    model = create_model(name).eval().to(memory_format=torch.channels_last)
    x = _batch().to(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.shape == (2, 62) and torch.isfinite(out.float()).all()


# --- EfficientNet pretrained weights: never touch the network in tests ---------------------------------

@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty hub cache and weights dir, and a download that fails like a machine without internet."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv("CHARCLF_WEIGHTS_DIR", raising=False)

    def no_network(weights):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(effnet, "_download_state_dict", no_network)
    return tmp_path


@pytest.fixture(scope="module")
def b2_state_file(tmp_path_factory):
    """A randomly initialised torchvision EfficientNet-B2 state dict under torchvision's file name."""
    torch.manual_seed(0)
    state = torchvision.models.efficientnet_b2(weights=None).state_dict()
    path = tmp_path_factory.mktemp("weights") / "efficientnet_b2_rwightman-c35c1473.pth"
    torch.save(state, path)
    return path, state


@pytest.mark.parametrize("error", [OSError("network unreachable"), urllib.error.URLError("no route"),
                                   RuntimeError("invalid hash value")])
def test_efficientnet_download_failure_warns_and_falls_back(offline, monkeypatch, error):
    def failing(weights):
        raise error

    monkeypatch.setattr(effnet, "_download_state_dict", failing)
    with pytest.warns(effnet.PretrainedWeightsWarning, match="RANDOMLY INITIALISED") as record:
        model = create_model("efficientnet_b2", num_classes=47, pretrained=True)
    # Only our warning: a garbage-collected event loop from another test can emit a ResourceWarning inside this block.
    (msg,) = [str(w.message) for w in record if issubclass(w.category, effnet.PretrainedWeightsWarning)]
    assert "efficientnet_b2_rwightman-c35c1473.pth" in msg and "weights_path" in msg
    assert model.pretrained_from is None
    assert model.net.features[0][0].in_channels == 1
    with torch.no_grad():
        assert model.eval()(_batch()).shape == (2, 47)


def test_efficientnet_no_pretrained_never_downloads(offline, monkeypatch, recwarn):
    monkeypatch.setattr(effnet, "_download_state_dict", lambda w: pytest.fail("download attempted"))
    model = create_model("efficientnet_b3", num_classes=10)
    assert model.pretrained_from is None
    assert not [w for w in recwarn if issubclass(w.category, effnet.PretrainedWeightsWarning)]


def test_efficientnet_local_weights_sum_stem_over_rgb(offline, b2_state_file):
    path, state = b2_state_file
    model = create_model("efficientnet_b2", num_classes=62, pretrained=True, weights_path=str(path))
    assert model.pretrained_from == str(path)
    stem = model.net.features[0][0].weight
    assert stem.shape == (32, 1, 3, 3)
    torch.testing.assert_close(stem, state["features.0.0.weight"].sum(dim=1, keepdim=True))
    # the rest of the backbone is the file's, the head is new
    torch.testing.assert_close(model.net.features[1][0].block[0][0].weight, state["features.1.0.block.0.0.weight"])
    assert model.net.classifier[-1].out_features == 62


def test_efficientnet_finds_file_in_weights_dir(offline, monkeypatch, b2_state_file):
    path, state = b2_state_file
    monkeypatch.setenv("CHARCLF_WEIGHTS_DIR", str(path.parent))
    monkeypatch.setattr(effnet, "_download_state_dict", lambda w: pytest.fail("download attempted"))
    model = create_model("efficientnet_b2", num_classes=62, pretrained=True)
    assert model.pretrained_from == str(path)
    torch.testing.assert_close(model.net.features[0][0].weight, state["features.0.0.weight"].sum(1, keepdim=True))


def test_architecture_kwargs_drop_init_only_keywords(offline):
    kwargs = {"pretrained": True, "weights_path": "/gone/efficientnet_b2.pth", "dropout": 0.1}
    assert architecture_kwargs(kwargs) == {"dropout": 0.1}
    # rebuilding from the stripped kwargs needs neither the file nor the network
    model = create_model("efficientnet_b2", num_classes=62, **architecture_kwargs(kwargs))
    assert model.pretrained_from is None and model.net.classifier[0].p == 0.1


def test_efficientnet_bad_local_files_are_clear_errors(offline, tmp_path, b2_state_file):
    with pytest.raises(DataError, match="does not exist"):
        create_model("efficientnet_b2", pretrained=True, weights_path=str(tmp_path / "missing.pth"))
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="cannot be read"):
        create_model("efficientnet_b2", pretrained=True, weights_path=str(broken))
    with pytest.raises(DataError, match="does not hold efficientnet_b3"):   # a B2 file given to B3
        create_model("efficientnet_b3", pretrained=True, weights_path=str(b2_state_file[0]))


@pytest.mark.parametrize("kwargs", [{"widths": "abc"}, {"widths": 5}, {"dropout": "x"}])
def test_a_keyword_with_a_value_the_model_cannot_use_is_one_config_error(kwargs):
    from charclf.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot be built with") as err:
        create_model("minivision_s", num_classes=62, **kwargs)
    assert "Fix: give values of the defaults' kinds" in str(err.value) and "\n" not in str(err.value)
