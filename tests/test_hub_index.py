"""model_hub/README.md's table is built from the folders, so republishing a slot cannot leave it stale."""
from __future__ import annotations

import json

import pytest
from records import write_fake_run

from charclf.apps.hub_index import hub_index_markdown
from charclf.errors import DataError


def _model(folder, title, **record):
    write_fake_run(folder, **record)
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "README.md").write_text(f"# {title}\n\nthe card\n")


def test_the_table_reads_each_folders_record_card_and_seeds_largest_first(tmp_path):
    _model(tmp_path / "tiny", "tiny one", model="charnet_xs", params=29_534, best_val_acc=0.8646, test_acc=0.8611,
           tta=True)
    _model(tmp_path / "default", "the default", model="minivision_v3", params=404_222, best_val_acc=0.8703,
           test_acc=0.8709)
    (tmp_path / "default" / "seeds.json").write_text(json.dumps({"n": 3, "test_acc_mean": 0.8706,
                                                                 "test_acc_std": 0.0007}))
    (tmp_path / "notes").mkdir()  # a folder without weights is no model
    lines = hub_index_markdown(tmp_path).splitlines()
    assert len(lines) == 4 and lines[2].startswith("| `default` | `minivision_v3` | the default | 404,222 | 87.03% |")
    assert "| 87.09% (3 seeds: 87.06% ± 0.07%) |" in lines[2]
    assert lines[3].startswith("| `tiny` | `charnet_xs` | tiny one | 29,534 | 86.46% | 86.11% with TTA |")
    # A republished slot changes the table with it.
    _model(tmp_path / "tiny", "tiny two", model="charnet_xs", params=29_534, best_val_acc=0.87, test_acc=0.866)
    assert "| tiny two | 29,534 | 87.00% | 86.60% |" in hub_index_markdown(tmp_path)


def test_a_model_without_its_card_or_with_damaged_seeds_is_one_line_naming_the_file(tmp_path):
    _model(tmp_path / "small", "small", model="minivision_s", params=97_022)
    (tmp_path / "small" / "seeds.json").write_text("{not json")
    with pytest.raises(DataError, match="seeds.json.*not a readable seeds summary"):
        hub_index_markdown(tmp_path)
    (tmp_path / "small" / "seeds.json").unlink()
    (tmp_path / "small" / "README.md").unlink()
    with pytest.raises(DataError, match="README.md.*model card is missing"):
        hub_index_markdown(tmp_path)
