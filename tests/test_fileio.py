"""charclf.fileio: where earlier results are kept aside."""
from __future__ import annotations


def test_kept_aside_path_never_names_an_existing_file_and_keeps_dotted_folder_names(tmp_path):
    from charclf.fileio import kept_aside_path

    (tmp_path / "results.json").write_text("{}")
    first = kept_aside_path(tmp_path / "results.json", "T1", file=True)
    assert first.name == "results-T1.json"
    first.write_text("{}")
    assert kept_aside_path(tmp_path / "results.json", "T1", file=True).name == "results-T1-2.json"
    assert kept_aside_path(tmp_path / "charnet_s-w1.5-seed0", "T1").name == "charnet_s-w1.5-seed0-T1"
