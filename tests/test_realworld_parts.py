"""The real-world set's dev and held-out parts: what shares a hand or a photo stays in one part, each source is
halved by groups, and the goals are judged on the held-out part."""
from __future__ import annotations

from collections import Counter, defaultdict

from charclf.data.realworld import read_manifest
from charclf.data.realworld_parts import PARTS, part_of, split_group
from charclf.eval.realworld_scores import part_verdict


def test_a_writer_or_a_photo_never_spans_both_parts():
    parts = defaultdict(set)
    for row in read_manifest():
        parts[(row.source, split_group(row.source, row.path))].add(part_of(row.source, row.path))
    assert all(len(p) == 1 for p in parts.values())
    cards = {g for s, g in parts if s == "photo_cards"}
    assert len(cards) == 6  # the six photographed cards, each one group of 15 cells
    assert split_group("tablet_chars74k", "Img/img011-028.png") == split_group("tablet_chars74k", "Img/img062-028.png")


def test_each_source_is_halved_by_groups_and_every_kind_is_in_both_parts():
    groups = defaultdict(Counter)
    seen = set()
    for row in read_manifest():
        key = (row.source, split_group(row.source, row.path))
        if key not in seen:
            seen.add(key)
            groups[row.source][part_of(row.source, row.path)] += 1
    assert all(abs(c["dev"] - c["heldout"]) <= 1 for c in groups.values())
    kinds = Counter((row.kind, part_of(row.source, row.path)) for row in read_manifest())
    assert all(kinds[(k, p)] >= 50 for k in ("digit", "upper", "lower") for p in PARTS)


def test_a_row_outside_the_package_manifest_gets_a_stable_part():
    first = part_of("my_source", "scans/a.png")
    assert first in PARTS and all(part_of("my_source", "scans/a.png") == first for _ in range(3))
    assert {part_of("my_source", f"scans/{i}.png") for i in range(20)} == set(PARTS)


def test_goals_are_judged_on_the_held_out_part_with_its_standard_error():
    held = part_verdict(0.95, 0.80, 400, 0.88)  # the whole set would pass; the held-out part decides
    assert held["met"] is False and held["verdict"].startswith("not met on the held-out part (-8.0 points, n=400")
    close = part_verdict(0.90, 0.875, 400, 0.88)  # 0.5 points short, 1 s.e. 1.7
    assert close["verdict"].startswith("not met, within noise on the held-out part")
    old = part_verdict(0.90, None, None, 0.88)  # an artifact from before the split
    assert old["met"] is True and "in-sample" in old["verdict"]


def test_the_split_is_frozen_in_the_package_and_artifacts_record_which():
    from charclf.data.realworld_parts import PARTS_PATH, draw_parts, frozen_parts, split_facts

    rows = read_manifest()
    assert frozen_parts() == draw_parts(rows)  # the file is the rule's draw over the committed manifest
    # Adding a group never moves one already placed: the file decides for every group it lists.
    extra = rows + [rows[0].__class__(id="new", source="photo_pen", label="a", capture="photo",
                                      path="PNG/SMALL_a_000new.png", url="http://x", sha256="0" * 64)]
    redrawn = draw_parts(extra)  # a fresh draw would move groups...
    assert any(redrawn[k] != v for k, v in frozen_parts().items())
    assert all(part_of(s, p) == frozen_parts()[(s, split_group(s, p))] for s, p in  # ...the frozen file does not
               [(r.source, r.path) for r in rows])
    facts = split_facts()
    assert facts["file"].endswith("parts.csv") and len(facts["sha256"]) == 64 and PARTS_PATH.is_file()


def test_a_clustered_standard_error_counts_a_writer_once():
    from charclf.apps.realworld import clustered_se

    independent = clustered_se([True, False] * 50, [str(i) for i in range(100)])
    assert abs(independent - (0.25 / 100) ** 0.5 * (100 / 99) ** 0.5) < 1e-12  # one image a group: binomial
    by_writer = clustered_se([True] * 50 + [False] * 50, ["a"] * 50 + ["b"] * 50)
    assert by_writer > 5 * independent  # two writers, each all right or all wrong: barely two observations
    assert clustered_se([True, False], ["a", "a"]) is None  # one group: no spread to measure
    verdict = part_verdict(0.9, 0.87, 400, 0.88, se=0.03)["verdict"]
    assert verdict.startswith("not met, within noise on the held-out part") and "clustered by writer" in verdict


def test_a_damaged_split_file_or_manifest_is_one_line_naming_it(tmp_path):
    import pytest

    from charclf.data.realworld_parts import frozen_parts
    from charclf.errors import DataError

    for name, body in (("binary.csv", b"source,group,part\n\xff\xfe\n"), ("columns.csv", b"a,b\n1,2\n"),
                       ("part.csv", b"source,group,part\ns,g,test\n")):
        (tmp_path / name).write_bytes(body)
        with pytest.raises(DataError, match=name) as err:
            frozen_parts(tmp_path / name)
        assert "\n" not in str(err.value) and "git checkout charclf/data/realworld/parts.csv" in str(err.value)
    (tmp_path / "manifest.csv").write_bytes(b"id,source\n\xff\n")
    with pytest.raises(DataError, match="is not UTF-8 text"):
        read_manifest(tmp_path / "manifest.csv")
