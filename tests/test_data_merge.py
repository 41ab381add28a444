"""ByClass -> ByMerge/Balanced class merging."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from synth import mapping_text

from charclf.data import MERGED_LETTERS, byclass_to_bymerge_index, merge_classes
from charclf.data.official import OFFICIAL_MAPPINGS, parse_mapping

BYCLASS = OFFICIAL_MAPPINGS["byclass"]


def test_merged_letters_are_the_15_case_ambiguous_ones():
    assert MERGED_LETTERS == "cijklmopsuvwxyz" and len(set(MERGED_LETTERS)) == 15


@pytest.mark.parametrize("split", ["bymerge", "balanced"])
def test_merge_gives_the_official_47_classes_in_order(split):
    # NIST's emnist-bymerge/balanced-mapping.txt, written out (the real files are compared in test_data_real).
    official = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt")
    _, merged = merge_classes(np.arange(62), BYCLASS)
    assert merged == official == OFFICIAL_MAPPINGS[split] == parse_mapping(mapping_text(split))[0]


def test_index_maps_each_byclass_label_to_its_merged_character():
    index = byclass_to_bymerge_index()
    merged = OFFICIAL_MAPPINGS["bymerge"]
    assert index.shape == (62,) and index.dtype == np.int64
    for label, char in enumerate(BYCLASS):
        want = char.upper() if char in MERGED_LETTERS else char
        assert merged[index[label]] == want
    # unmerged lower-case letters keep their own class
    assert merged[index[BYCLASS.index("a")]] == "a" and merged[index[BYCLASS.index("c")]] == "C"


def test_merge_classes_keeps_the_input_type():
    labels = np.array([BYCLASS.index(c) for c in "0Zzcab"])
    out_np, classes = merge_classes(labels, BYCLASS)
    out_t, _ = merge_classes(torch.as_tensor(labels), BYCLASS)
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.int64
    assert "".join(classes[i] for i in out_np) == "0ZZCab"
    np.testing.assert_array_equal(out_t.numpy(), out_np)


def test_merging_an_already_merged_list_changes_nothing():
    index, merged = merge_classes(np.arange(47), OFFICIAL_MAPPINGS["balanced"])
    assert merged == OFFICIAL_MAPPINGS["balanced"]
    np.testing.assert_array_equal(index, np.arange(47))
