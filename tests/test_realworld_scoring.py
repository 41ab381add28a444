"""``charclf evaluate-images`` on a tiny synthetic set with known answers (a stub model, the real preprocessing)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import string

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from denied import deny_writes_in

from charclf.data import realworld as rw
from charclf.apps import realworld as ev

LABELS = list(string.digits + string.ascii_uppercase + string.ascii_lowercase)
RANKING = "O0oQD"  # the stub model's answer for every image, best first


class StubModel(nn.Module):
    """Always ranks O > 0 > o > Q > D > the rest, whatever the image."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # predict_logits reads the device from a parameter
        logits = torch.full((len(LABELS),), -10.0)
        for rank, char in enumerate(RANKING):
            logits[LABELS.index(char)] = 10.0 - rank
        self.register_buffer("logits", logits)
        self.charclf_config = {"labels": LABELS, "mean": 0.0, "std": 1.0}

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1) + 0 * self.anchor


def ring(size=(60, 80)) -> np.ndarray:
    h, w = size[1], size[0]
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot((yy - h / 2) / (h * 0.35), (xx - w / 2) / (w * 0.35))
    return np.where(np.abs(r - 1) < 0.18, 0, 255).astype(np.uint8)


@pytest.fixture()
def tiny_set(tmp_path, monkeypatch):
    """Six images: O (right), 0 (top-5), o (top-5, merged right), x (wrong), a crop of a two-glyph photo (O), blank;
    of a source "s" whose licence lets figures show its images."""
    monkeypatch.setitem(rw.SOURCES, "s", {"redistribute": True})
    root = tmp_path / "set"
    (root / "s").mkdir(parents=True)
    arr = ring()
    files = {"O.png": arr, "zero.png": arr, "o.png": arr, "x.png": arr,
             "page.png": np.concatenate([arr, np.full_like(arr, 255), 255 - (255 - arr) // 2], axis=1),
             "blank.png": np.full_like(arr, 255)}
    for name, a in files.items():
        Image.fromarray(a).save(root / "s" / name)
    sha = {n: hashlib.sha256((root / "s" / n).read_bytes()).hexdigest() for n in files}
    spec = [("O.png", "O", "tablet", None), ("zero.png", "0", "tablet", None), ("o.png", "o", "photo", None),
            ("x.png", "x", "photo", None), ("page.png", "O", "photo", (0, 0, 60, 80)),
            ("blank.png", "A", "scan", None)]
    rows = [rw.ManifestRow(id=f"s-{i}", source="s", label=label, capture=cap, path=name,
                           url=f"http://127.0.0.1:1/{name}", sha256=sha[name], crop=crop)
            for i, (name, label, cap, crop) in enumerate(spec)]
    manifest = rw.write_manifest(rows, tmp_path / "manifest.csv")
    return root, manifest, rows


def test_score_counts_top1_top5_and_case_merging():
    merge = ev.merged_char(LABELS)
    assert merge["o"] == "O" and merge["c"] == "C" and merge["a"] == "a" and merge["0"] == "0"
    entries = [{"label": "O", "top": [("O", .9)]}, {"label": "o", "top": [("O", .9)]},
               {"label": "0", "top": [("O", .9), ("0", .1)]}, {"label": "a", "top": []}]
    assert ev.score(entries, merge) == {"n": 4, "top1": 0.25, "top5": 0.5, "merged_top1": 0.5}
    assert ev.score([], merge)["top1"] is None


def test_evaluate_known_answers_through_the_real_preprocessing(tiny_set):
    root, _, rows = tiny_set
    metrics, entries = ev.evaluate(StubModel(), rows, root, variants=("shadowed", "ruled"))
    assert metrics["overall"] == {"n": 6, "top1": 2 / 6, "top5": 4 / 6, "merged_top1": 3 / 6}
    assert metrics["wrong_confidence"]["n_wrong"] == 3  # 0, o, x answered O; the blank has no answer
    # softmax of the stub logits 10, 9, 8, 7, 6, -10...: the top answer always gets 0.64
    assert metrics["wrong_confidence"]["at_least_0.9"] == 0 and 0.6 < metrics["wrong_confidence"]["median"] < 0.7
    assert metrics["preprocess_failures"] == 1  # the blank image: refused, counted wrong, never dropped
    assert metrics["capture"]["tablet"] == {"n": 2, "top1": 0.5, "top5": 1.0, "merged_top1": 0.5}
    assert metrics["kind"]["lower"]["merged_top1"] == 0.5  # o right once merged, x wrong
    assert metrics["synthetic"]["shadowed"]["n"] == 2 and metrics["synthetic_base"]["n"] == 2
    parts = metrics["parts"]  # every image counts in exactly one part, its synthetic copies in the same one
    assert sum(parts[p]["overall"]["n"] for p in ("dev", "heldout")) == 6
    assert sum(parts[p]["synthetic"]["ruled"]["n"] for p in ("dev", "heldout")) == 2
    for e in entries:
        assert parts[e["part"]]["overall"]["n"] >= 1
    blank = next(e for e in entries if e["id"] == "s-5")
    assert blank["top"] == [] and "blank image" in blank["error"]
    crop = next(e for e in entries if e["id"] == "s-4" and e["variant"] == "original")
    # The crop holds only the left ring: the model input is one centred ring, not the whole page.
    assert crop["x"].shape == (28, 28) and crop["x"][:, :3].max() < 60 and crop["x"][:, -3:].max() < 60


def test_variants_darken_the_left_and_draw_blue_lines():
    page = Image.fromarray(np.full((100, 200), 255, np.uint8))
    shade = np.asarray(ev.shadowed(page))
    assert shade[50, 0, 0] < 80 and shade[50, -1, 0] == 255
    lined = np.asarray(ev.ruled(page)).astype(int)
    blue_rows = np.flatnonzero((lined[:, 0, 2] - lined[:, 0, 0]) > 50)
    assert len(blue_rows) >= 8 and np.all(lined[:, 0, 0][lined[:, 0, 2] == 255] >= 150)
    ink = Image.fromarray(np.zeros((100, 200), np.uint8))
    assert np.asarray(ev.ruled(ink)).max() == 0  # ink stays ink under the ruling


def test_run_evaluation_writes_artifact_with_provenance_and_gallery(tiny_set, tmp_path, monkeypatch):
    root, manifest, _ = tiny_set
    monkeypatch.setattr("charclf.models.hub.load_model", lambda path: StubModel())
    monkeypatch.setitem(rw.SOURCES, "s", {"repo": "o/s", "commit": "c" * 40, "url": "u", "licence": "CC0",
                                          "capture": "tablet", "labels": "names"})
    out = tmp_path / "out" / "stub.json"
    artifact = ev.run_evaluation(tmp_path, root, manifest, out, variants=("ruled",))
    saved = json.loads(out.read_text())
    assert saved["metrics"] == json.loads(json.dumps(artifact["metrics"]))
    assert saved["counts"] == {"digit": 1, "upper": 3, "lower": 2}
    assert saved["sources"]["s"]["licence"] == "CC0" and saved["sources"]["s"]["images"] == 6
    prov = saved["provenance"]
    assert prov["git_sha"] and prov["manifest_sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert len(prov["preprocessing"]["source_sha256"]) == 64
    wrong = {(e["id"], e["variant"]) for e in saved["errors"]}
    assert ("s-1", "original") in wrong and ("s-0", "original") not in wrong
    assert next(e for e in saved["errors"] if e["id"] == "s-2")["merged_ok"] is True
    gallery = Image.open(out.with_suffix(".png"))
    assert gallery.size[0] > 100 and gallery.size[1] > 50
    assert "overall" in ev.format_summary(saved)


def test_an_incomplete_set_is_refused_with_the_fetch_command(tiny_set, tmp_path):
    root, manifest, rows = tiny_set
    (root / "s" / "x.png").unlink()
    with pytest.raises(rw.DataError, match=r"1 files missing.*Fix: run `charclf data fetch-realworld"):
        ev.require_local(root, rows)


@pytest.mark.slow  # spawns two worker processes (~5 s on 2 shared cores)
def test_preprocessing_in_worker_processes_matches_one_process(tiny_set):
    root, _, rows = tiny_set
    one, two = ev.build_items(rows, root, ()), ev.build_items(rows, root, ())
    ev.preprocess_items(one, root, workers=1)
    ev.preprocess_items(two, root, workers=2)
    for a, b in zip(one, two):
        assert a["error"] == b["error"]
        assert (a["x"] is None and b["x"] is None) or np.array_equal(a["x"], b["x"])


def test_default_out_names_the_model_path(monkeypatch, tmp_path):
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    from charclf.provenance import REPO_ROOT

    assert ev.default_out(REPO_ROOT / "model_hub" / "default") == tmp_path / "realworld" / "model_hub-default.json"


def test_a_replacement_preprocessing_is_used_for_every_image(tiny_set):
    """Ablations swap one step: the replacement, not imageprep's, must reach every image (originals, crops,
    variants) and its refusals must be reported like imageprep's."""
    root, _, rows = tiny_set
    seen = []

    def fake(image):
        seen.append(type(image).__name__)
        return np.zeros((28, 28), np.uint8)

    metrics, entries = ev.evaluate(StubModel(), rows, root, variants=("ruled",), preprocess=fake)
    assert len(seen) == len(entries) == 6 + 2
    assert metrics["preprocess_failures"] == 0  # the fake accepts the blank image imageprep refuses


# -- the ablation, the goals table and the steps figure (charclf.apps.realworld_report) ----------------------
def test_ablation_scores_one_row_per_step_and_resumes(tiny_set, tmp_path, monkeypatch):
    from charclf.apps import realworld_report as rep

    root, manifest, _ = tiny_set
    monkeypatch.setattr("charclf.models.hub.load_model", lambda path: StubModel())
    calls = []
    real = rep.evaluate

    def spy(model, rows, root, *, variants, workers, preprocess, prior):
        calls.append(preprocess.keywords["disable"])
        return real(model, rows, root, variants=variants, workers=workers, preprocess=preprocess, prior=prior)

    monkeypatch.setattr(rep, "evaluate", spy)
    (tmp_path / "model.safetensors").write_bytes(b"stub")  # rows are reused only for the same weights' hash
    before = tmp_path / "before.json"
    before.write_text(json.dumps({"metrics": {"overall": {"n": 6, "top1": 0.1, "top5": 0.2, "merged_top1": 0.3},
                                              "kind": {"lower": {"n": 2, "merged_top1": 0.0}}},
                                  "provenance": {"preprocessing": {"version": None}}}))
    out = tmp_path / "ablation.json"
    art = rep.ablation(tmp_path, root, manifest, out, steps=("remove_lines", "thin"), variants=("ruled",),
                       before=before, log=lambda *_: None)
    assert calls == [("remove_lines",), ("thin",), ()]  # each step off once, then all steps on
    # Two of the steps scored: their rows are there, and the artifact does not call itself the whole ablation.
    assert [r["disabled"] for r in art["rows"]] == ["none", "remove_lines", "thin"] and not art["complete"]
    row = art["rows"][1]
    assert row["n"] == 6 and row["merged_top1"] == 3 / 6 and row["ruled_merged"] == 0.5
    assert row["kind=lower"] == 0.5 and row["preprocess_failures"] == 1  # the blank image
    parts = {f"part={p}" for p in ("dev", "heldout")}  # each row by part too: does a step hold on held-out?
    assert parts <= set(row) and all(0 <= row[p] <= 1 for p in parts)
    assert art["reference"]["before"]["merged_top1"] == 0.3
    assert art["provenance"]["preprocessing"]["version"] and len(art["provenance"]["preprocessing"]["package_sha256"]) == 64
    table = rep.ablation_table(json.loads(out.read_text()))
    assert list(table.index) == ["old preprocessing (before)", "none", "remove_lines", "thin"]
    assert {"part=dev", "part=heldout"} <= set(table.columns)
    assert table.loc["old preprocessing (before)", "Δ merged"] == pytest.approx(0.3 - 0.5)
    calls.clear()  # a rerun with the same model, manifest and preprocessing scores nothing again
    rep.ablation(tmp_path, root, manifest, out, steps=("remove_lines", "thin"), variants=("ruled",),
                 log=lambda *_: None)
    assert calls == []



def _ablation_spy(monkeypatch, rep, on_call=None):
    """A stub model for ``ablation`` and the list of steps it scored (``on_call`` runs before each row)."""
    monkeypatch.setattr("charclf.models.hub.load_model", lambda path: StubModel())
    calls, real = [], rep.evaluate

    def spy(model, rows, root, *, variants, workers, preprocess, prior):
        calls.append(preprocess.keywords["disable"])
        if on_call is not None:
            on_call()
        return real(model, rows, root, variants=variants, workers=workers, preprocess=preprocess, prior=prior)

    monkeypatch.setattr(rep, "evaluate", spy)
    return calls


def test_an_ablation_write_that_fails_midway_keeps_the_rows_written_before(tiny_set, tmp_path, monkeypatch):
    """The artifact is rewritten after every row (minutes each): a kill or full disk during a rewrite must leave
    the previous rows readable, so the rerun resumes instead of refusing a truncated file."""
    import errno
    from pathlib import Path

    from charclf.apps import realworld_report as rep
    from charclf.errors import WriteError

    root, manifest, _ = tiny_set
    calls = _ablation_spy(monkeypatch, rep)
    (tmp_path / "model.safetensors").write_bytes(b"stub")
    out = tmp_path / "ablation.json"
    real_write, writes = Path.write_text, []

    def half_then_full_disk(self, text, *args, **kwargs):  # the second rewrite dies halfway through
        writes.append(self)
        if len(writes) == 2:
            real_write(self, text[: len(text) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", half_then_full_disk)
    with pytest.raises(WriteError, match="disk full"):
        rep.ablation(tmp_path, root, manifest, out, steps=("remove_lines", "thin"), variants=("ruled",),
                     log=lambda *_: None)
    monkeypatch.setattr(Path, "write_text", real_write)
    assert [r["disabled"] for r in json.loads(out.read_text())["rows"]] == ["remove_lines"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".ablation")) == []  # no temp left
    calls.clear()
    art = rep.ablation(tmp_path, root, manifest, out, steps=("remove_lines", "thin"), variants=("ruled",),
                       log=lambda *_: None)
    assert calls == [("thin",), ()]  # resumed: the kept row is not scored again
    assert [r["disabled"] for r in art["rows"]] == ["none", "remove_lines", "thin"]


def test_a_damaged_ablation_is_refused_with_its_fix_and_replaced_under_overwrite(tiny_set, tmp_path, monkeypatch):
    from charclf.apps import realworld_report as rep
    from charclf.errors import DataError

    root, manifest, _ = tiny_set
    out = tmp_path / "ablation.json"
    damaged = b'{"rows": [{"disabled": "remove_lines", "n": 6, "top'
    out.write_bytes(damaged)
    seen = []
    calls = _ablation_spy(monkeypatch, rep, on_call=lambda: seen.append(out.read_bytes()))
    with pytest.raises(DataError) as err:
        rep.ablation(tmp_path, root, manifest, out, steps=("thin",), variants=("ruled",), log=lambda *_: None)
    msg = str(err.value)
    assert msg.startswith(f"{out}: is not valid JSON") and "--ablation" in msg and "--overwrite" in msg
    assert calls == [] and out.read_bytes() == damaged  # refused before any work, nothing changed
    art = rep.ablation(tmp_path, root, manifest, out, steps=("thin",), variants=("ruled",), overwrite=True,
                       log=lambda *_: None)
    assert calls == [("thin",), ()] and [r["disabled"] for r in art["rows"]] == ["none", "thin"]
    assert seen[0] == damaged  # kept until the first new row replaced it whole
    assert json.loads(out.read_text())["rows"] == art["rows"]


def test_an_ablation_into_an_unwritable_folder_is_refused_before_any_row(tiny_set, tmp_path, monkeypatch):
    from charclf.apps import realworld_report as rep
    from charclf.errors import WriteError

    root, manifest, _ = tiny_set
    calls = _ablation_spy(monkeypatch, rep)
    locked = tmp_path / "locked"
    locked.mkdir()
    deny_writes_in(monkeypatch, locked)
    with pytest.raises(WriteError, match="permission denied"):
        rep.ablation(tmp_path, root, manifest, locked / "ablation.json", steps=("thin",), variants=("ruled",),
                     log=lambda *_: None)
    assert calls == []



def test_goals_table_reads_every_number_from_the_artifacts(tmp_path):
    import pandas as pd

    from charclf.apps import realworld_report as rep

    model = tmp_path / "model_hub" / "m"
    model.mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"weights")
    (model / "metrics.json").write_text(json.dumps({"evaluation": {"test": {"accuracy": 0.871}}}))
    sha = hashlib.sha256(b"weights").hexdigest()

    def artifact(overall, photo, lower, shadowed, ruled, weights=sha):
        return {"metrics": {"overall": {"top1": overall - 0.1, "merged_top1": overall},
                            "capture": {"photo": {"merged_top1": photo}}, "kind": {"lower": {"merged_top1": lower}},
                            "synthetic": {"shadowed": {"merged_top1": shadowed}, "ruled": {"merged_top1": ruled}}},
                "provenance": {"model": "model_hub/m", "model_weights_sha256": weights}}

    table = rep.goals_table(artifact(0.7, 0.7, 0.6, 0.05, 0.2, weights="0" * 64), artifact(0.9, 0.8, 0.85, 0.8, 0.7),
                            repo_root=tmp_path)
    assert table.loc["merged top-1, overall", "after"] == 0.9 and table.loc["merged top-1, overall", "met"]
    assert table["met"].tolist() == [True, True, False, True, True, False, False]  # EMNIST: one seed, no seeds.json
    emnist = table.loc[rep.EMNIST_GOAL[1]]
    assert emnist["after"] == 0.871 and pd.isna(emnist["before"])  # other weights: not read from this card
    assert emnist["verdict"] == "not met: one seed (no seeds.json beside the model), a goal needs 3"
    assert not emnist["met"]  # the verdict decides the column
    (model / "seeds.json").write_text(json.dumps({"n": 3, "test_acc_mean": 0.8705, "test_acc_std": 0.001}))
    emnist = rep.goals_table(artifact(0.7, 0.7, 0.6, 0.05, 0.2), artifact(0.9, 0.8, 0.85, 0.8, 0.7),
                             repo_root=tmp_path).loc[rep.EMNIST_GOAL[1]]
    assert emnist["verdict"].startswith("met, within noise (3-seed mean 87.05% ± 0.10%")  # the seeds decide
    assert emnist["met"]


def test_steps_figure_shows_each_example_through_every_step(tiny_set):
    from charclf.apps import realworld_report as rep
    from charclf.apps.imageprep import STEPS

    root, _, rows = tiny_set
    examples = rep.pick_examples(rows, variants=("ruled",))
    assert examples[0] == (rows[0], "original") and examples[-1] == (rows[0], "ruled")
    fig = rep.steps_figure(examples[:1] + examples[-1:], root)
    axes = fig.axes
    assert len(axes) == 2 * (len(STEPS) + 2)  # as given, no step, then one column per step switched on
    assert axes[1].get_title() == "no step" and axes[-1].images  # the full preprocessing drew an image


def test_figures_withhold_the_images_of_a_source_whose_licence_forbids_redistribution(tiny_set, tmp_path,
                                                                                      monkeypatch):
    from charclf.apps import realworld as app
    from charclf.apps import realworld_report as rep

    root, _, rows = tiny_set
    monkeypatch.setitem(rw.SOURCES, "closed", {"redistribute": False})
    closed = [dataclasses.replace(r, source="closed") for r in rows]
    assert rep.pick_examples(closed + rows[1:3], variants=("ruled",)) == [(rows[1], "original"), (rows[1], "ruled")]
    assert rep.pick_examples(closed + rows[2:3], variants=("ruled",)) == [(rows[2], "original")]  # no tablet: no copy
    assert rep.pick_examples(closed, variants=("ruled",)) == []
    errors = [{"id": r.id, "variant": "original", "source": r.source, "label": r.label, "capture": r.capture,
               "path": r.path, "crop": r.crop, "pred": "x", "conf": 0.5} for r in (closed[0], rows[0])]
    seen = np.full((28, 28), 255, dtype=np.uint8)
    gallery = app.failure_gallery(errors, {(e["id"], "original"): {"x": seen} for e in errors}, root,
                                  tmp_path / "g.png")
    sheet = np.asarray(Image.open(gallery).convert("L"))
    x0, y0 = app._gallery_cell(0)
    x1, y1 = app._gallery_cell(1)
    withheld = sheet[y0 + 14:y0 + 14 + app.THUMB, x0 + app.THUMB + 2:x0 + 2 * app.THUMB + 2]
    shown = sheet[y1 + 14:y1 + 14 + app.THUMB, x1 + app.THUMB + 2:x1 + 2 * app.THUMB + 2]
    assert (shown == 255).all() and not (withheld == 255).any()  # the closed source's 28x28 is greyed out
    assert app.withhold_unshowable(gallery, errors) == [0]


def test_cli_ablation_also_writes_the_step_figure_notebook_10_shows(tiny_set, tmp_path, monkeypatch, capsys):
    """`charclf evaluate-images --ablation` leaves every artifact of notebook 10's real-handwriting section that
    the scoring does not: the ablation JSON and steps.png beside it (one row per source, then the variants)."""
    from charclf.apps.cli import main
    from charclf.apps.realworld_report import STEPS_FIGURE

    root, manifest, _ = tiny_set
    monkeypatch.setattr("charclf.models.hub.load_model", lambda path: StubModel())
    (tmp_path / "model.safetensors").write_bytes(b"stub")  # a rerun resumes only for the same weights' hash
    out = tmp_path / "report" / "ablation.json"
    argv = ["evaluate-images", "--ablation", "--dir", str(root), "--manifest", str(manifest), "--model", str(tmp_path),
            "--steps", "thin", "--workers", "1", "--out", str(out)]
    assert main(argv) == 0
    first = json.loads(out.read_text())
    assert [r["disabled"] for r in first["rows"]] == ["none", "thin"] and not first["complete"]  # one step of all
    # A rerun on the same inputs with another step adds its row and keeps the first call's.
    assert main(argv[:-5] + ["remove_specks", "--workers", "1", "--out", str(out)]) == 0
    second = json.loads(out.read_text())
    assert [r["disabled"] for r in second["rows"]] == ["none", "remove_specks", "thin"]  # in the steps' order
    assert second["rows"][-1] == first["rows"][-1] and not second["complete"]
    figure = Image.open(out.parent / STEPS_FIGURE)
    # the tiny set has one source and one tablet drawing: 1 original + 2 variants = 3 rows of 1.6 inches at 110 dpi
    assert figure.size[1] == round((1.6 * 3 + 0.6) * 110)
    assert STEPS_FIGURE in capsys.readouterr().out
    # A figure already there (an earlier one, or someone's file of that name) is kept without --overwrite.
    (out.parent / STEPS_FIGURE).write_bytes(b"mine")
    assert main(argv) == 0 and (out.parent / STEPS_FIGURE).read_bytes() == b"mine"
    assert "kept the existing" in capsys.readouterr().out
    # --before named but missing, or of another shape: one line naming it, nothing written.
    before = json.loads(out.read_text())
    for bad in (tmp_path / "nope.json", tmp_path / "list.json", tmp_path / "other.json"):
        (tmp_path / "list.json").write_text("[1, 2]")
        (tmp_path / "other.json").write_text('{"a": 1}')
        assert main(argv + ["--before", str(bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and str(bad) in err and "Traceback" not in err, err
    assert json.loads(out.read_text()) == before


def test_error_kinds_sort_each_mistake_once():
    from charclf.apps.realworld_report import ERROR_KINDS, error_kind, error_kinds_table, top_confusions

    assert error_kind("c", "C", True) == ERROR_KINDS[0]
    assert error_kind("a", "A", False) == "case only (ByMerge keeps the cases apart)"
    assert error_kind("o", "0", False) == "letter read as a digit"
    assert error_kind("1", "l", False) == "digit read as a letter"
    assert error_kind("r", "n", False) == "another letter" and error_kind("7", "1", False) == "another digit"

    def err(label, pred, kind, merged_ok=False, variant="original"):
        return {"label": label, "pred": pred, "kind": kind, "merged_ok": merged_ok, "variant": variant}

    artifact = {"metrics": {"kind": {"digit": {"n": 4}, "lower": {"n": 5}}},
                "errors": [err("o", "0", "lower"), err("o", "0", "lower"), err("c", "C", "lower", True),
                           err("r", "n", "lower"), err("7", "1", "digit"),
                           err("o", "0", "lower", variant="shadowed")]}  # a synthetic copy: not counted
    table = error_kinds_table(artifact)
    assert table.loc["lower", "wrong"] == 4 and table.loc["lower", "letter read as a digit"] == 2
    assert table.loc["lower", ERROR_KINDS[0]] == 1 and table.loc["digit", "another digit"] == 1
    assert top_confusions(artifact, "lower")["count"].to_dict() == {"o → 0": 2, "r → n": 1}  # no case slip


def test_a_prior_the_model_cannot_use_is_refused_before_any_image_is_preprocessed(tiny_set, tmp_path, monkeypatch):
    from charclf.errors import ConfigError

    root, manifest, _ = tiny_set
    monkeypatch.setattr("charclf.models.hub.load_model", lambda path: StubModel())  # no class counts recorded

    def must_not_run(*args, **kwargs):
        raise AssertionError("preprocessed before the prior was checked")

    monkeypatch.setattr(ev, "preprocess_items", must_not_run)
    out = tmp_path / "out" / "stub.json"
    with pytest.raises(ConfigError, match="--prior train"):
        ev.run_evaluation(tmp_path, root, manifest, out, variants=("ruled",), prior="uniform")
    assert not out.exists() and not out.with_suffix(".png").exists()


def test_an_artifact_describes_only_the_weights_now_at_its_model_path(tmp_path):
    from charclf.eval.realworld_scores import describes_current_weights

    model = tmp_path / "model_hub" / "m"
    model.mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"weights")
    prov = {"model": "model_hub/m", "model_weights_sha256": hashlib.sha256(b"weights").hexdigest()}
    assert describes_current_weights({"provenance": prov}, tmp_path)
    (model / "model.safetensors").write_bytes(b"another model, published since")
    assert not describes_current_weights({"provenance": prov}, tmp_path)
    for missing in ("model", "model_weights_sha256"):  # nothing ties such an artifact to any weights
        assert not describes_current_weights({"provenance": {**prov, missing: None}}, tmp_path)
    (model / "model.safetensors").unlink()
    assert not describes_current_weights({"provenance": prov}, tmp_path)
    assert not describes_current_weights({}, tmp_path)


def test_notebook_10_reads_an_artifact_only_while_it_describes_the_weights_there(tmp_path):
    from charclf.errors import DataError
    from charclf.eval.realworld_scores import read_current_artifact

    model = tmp_path / "model_hub" / "m"
    model.mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"weights")
    artifact = {"metrics": {}, "provenance": {"model": "model_hub/m",
                                              "model_weights_sha256": hashlib.sha256(b"weights").hexdigest()}}
    path = tmp_path / "scores.json"
    path.write_text(json.dumps(artifact))
    assert read_current_artifact(path, tmp_path) == artifact
    (model / "model.safetensors").write_bytes(b"another model, published since")
    with pytest.raises(DataError, match=r"scores.json.*no longer at 'model_hub/m'.*evaluate-images --model model_hub/m"):
        read_current_artifact(path, tmp_path)
