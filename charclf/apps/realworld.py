"""``charclf evaluate-images``: score a model on the real-world handwriting set, as a user's images would be.

Every image goes through the package's own path for a user's file — ``charclf.apps.imageprep`` (``load_image``,
``preprocess_image``) and ``charclf.apps.predict.predict_arrays`` — so the numbers measure what ``charclf
predict`` does, preprocessing included. Reported: top-1, top-5 and merged top-1 (the 15 letters whose cases look
alike, c i j k l m o p s u v w x y z, folded as EMNIST ByMerge does, via ``charclf.data.merge``), overall and by
source, capture type and digit/upper/lower, for the whole set and for each of its two parts (dev, where
choices are made, and heldout: ``charclf.data.realworld_parts``), plus every error. Two synthetic slices test
capture conditions the sources lack: the tablet drawings under a left-to-right shadow, and on light-blue ruled
lines. They are scored apart and never mixed into the overall numbers.

The JSON artifact (with provenance: git SHA, model, preprocessing source hash, manifest hash) and a failure
gallery PNG go to ``outputs/realworld/``.

``SAMPLE_DIR`` is a small committed copy of the set (a few dozen images of the two MIT-licensed sources, the
original bytes with each source's LICENSE; ``charclf evaluate-images --sample``): it is scored the same way,
offline, by a fresh clone, a pip install and the tests. The other sources state no licence and are never copied.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from charclf.class_prior import PRIOR_WORDS, recorded_prior
from charclf.data.download import file_digest
from charclf.data.realworld import MANIFEST_DIR
from charclf.data.realworld_parts import PARTS, part_of, split_facts, split_group
from charclf.errors import CharclfError, DataError
from charclf.fileio import atomic_path, atomic_write_text

VARIANTS = ("shadowed", "ruled")
SYNTHETIC_FROM = "tablet"  # the variants are made from clean drawings, so the condition is the only change
SHADOW_RANGE = (0.25, 1.0)  # illumination at the left and right edges (1 = full light)
RULE_COLOUR = (150, 190, 235)  # light-blue notebook ruling
RULE_SPACING = 0.1  # of the image height
RULE_WIDTH = 0.004  # of the image height (at least 1 px)
GALLERY_MAX = 160
THUMB = 56
SAMPLE_DIR = MANIFEST_DIR / "sample"  # laid out like a fetched set: <source>/<path in the source repository>
SAMPLE_MANIFEST = SAMPLE_DIR / "manifest.csv"  # rows copied verbatim from manifest.csv (same ids, URLs, sha256)


# -- synthetic capture conditions -----------------------------------------------------------------------------
def shadowed(image: Image.Image) -> Image.Image:
    """The page lit unevenly: brightness falls linearly from the right edge to ``SHADOW_RANGE[0]`` at the left."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    light = np.linspace(*SHADOW_RANGE, rgb.shape[1], dtype=np.float32)[None, :, None]
    return Image.fromarray(np.clip(rgb * light, 0, 255).astype(np.uint8))


def ruled(image: Image.Image) -> Image.Image:
    """Light-blue horizontal lines under the ink, as on notebook paper (a multiply blend: ink stays ink)."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    h = rgb.shape[0]
    paper = np.ones_like(rgb)
    step, width = max(4, round(RULE_SPACING * h)), max(1, round(RULE_WIDTH * h))
    for top in range(step // 2, h, step):
        paper[top:top + width] = np.asarray(RULE_COLOUR, dtype=np.float32) / 255.0
    return Image.fromarray(np.clip(rgb * paper, 0, 255).astype(np.uint8))


VARIANT_FUNCS = {"shadowed": shadowed, "ruled": ruled}


# -- loading the set ------------------------------------------------------------------------------------------
def load_row_image(row, root: Path) -> Image.Image:
    """The row's image as a user would hand it over: the whole file, or the crop the manifest names."""
    from charclf.apps.imageprep import load_image

    image = load_image(row.local_path(root))
    return image.crop(row.crop) if row.crop else image


def require_local(root: Path, rows) -> None:
    from charclf.data.realworld import check_local

    status = check_local(root, rows)
    bad = len(status["missing"]) + len(status["mismatch"])
    if bad:
        first = (status["missing"] + status["mismatch"])[0]
        sample = Path(root).resolve() == SAMPLE_DIR.resolve()
        if sample:  # the committed copy: fetching into the package folder would be the wrong fix
            fix = "restore it with `git checkout charclf/data/realworld/sample` (or reinstall charclf)"
        else:
            fix = (f"run `charclf data fetch-realworld --dir {root}` (add --from-mirror DIR to read git snapshots "
                   "instead of the internet)")
        raise DataError(root, f"the real-world {'sample' if sample else 'set'} is incomplete: "
                              f"{len(status['missing'])} files missing and {len(status['mismatch'])} with a wrong "
                              f"sha256 (first: {first})", fix)


def build_items(rows, root: Path, variants=VARIANTS) -> list[dict]:
    """One item per scored image: the originals, then each synthetic variant of the tablet drawings."""
    items = [{"row": r, "variant": "original"} for r in rows]
    for v in variants:
        items += [{"row": r, "variant": v} for r in rows if r.capture == SYNTHETIC_FROM]
    return items


def _prepare(job: tuple) -> tuple[np.ndarray | None, str | None]:
    """One item's (uint8 28x28, None) or (None, the one-line reason preprocessing refused it).

    Whole files go in by path, exactly as ``charclf predict FILE`` does; crops and variants as PIL images.
    """
    row, variant, root, preprocess_image = job
    if preprocess_image is None:
        from charclf.apps.imageprep import preprocess_image
    try:
        if variant == "original" and not row.crop:
            return preprocess_image(row.local_path(root)), None
        image = load_row_image(row, root)
        if variant != "original":
            image = VARIANT_FUNCS[variant](image)
        return preprocess_image(image), None
    except CharclfError as err:
        return None, " ".join(str(err).split())


def preprocess_items(items: list[dict], root: Path, workers: int = 1, preprocess=None) -> None:
    """Fill each item's ``x`` and ``error``; ``workers`` > 1 spreads the images over processes (the large
    tablet drawings take ~0.2 s each on one core, the whole set several minutes).

    ``preprocess`` replaces ``imageprep.preprocess_image`` (path or image -> uint8 28x28), e.g.
    ``functools.partial(preprocess_image, normalize_strokes=False)`` for an ablation row; with workers it must
    pickle (a module-level function or a partial of one), since a monkeypatch would not reach the workers.
    """
    jobs = [(it["row"], it["variant"], root, preprocess) for it in items]
    if workers > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the parent may hold torch's thread pools, which a forked child can deadlock on.
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(_prepare, jobs, chunksize=8))
    else:
        results = [_prepare(job) for job in jobs]
    for item, (x, error) in zip(items, results):
        item["x"], item["error"] = x, error


# -- metrics --------------------------------------------------------------------------------------------------
def merged_char(labels) -> dict[str, str]:
    """Character -> its ByMerge class (lower case of the 15 look-alike letters folded into upper case)."""
    from charclf.data.merge import merge_map

    labels = tuple(labels)
    index, merged = merge_map(labels)
    return {c: merged[i] for c, i in zip(labels, index)}


def score(entries: list[dict], merge: dict[str, str]) -> dict:
    """top-1 / top-5 / merged top-1 of entries ``{"label", "top": [(char, p), ...]}`` (empty top = wrong)."""
    n = len(entries)
    if n == 0:
        return {"n": 0, "top1": None, "top5": None, "merged_top1": None}
    top5 = sum(e["label"] in [c for c, _ in e["top"][:5]] for e in entries)
    return {"n": n, "top1": sum(map(_right, entries)) / n, "top5": top5 / n,
            "merged_top1": sum(_merged_right(e, merge) for e in entries) / n}


def _right(entry: dict) -> bool:
    """Whether the entry's top answer is its label (no answer: wrong)."""
    return bool(entry["top"]) and entry["top"][0][0] == entry["label"]


def _merged_right(entry: dict, merge: dict[str, str]) -> bool:
    """Whether the entry's top answer is its label up to the case-merged look-alikes of ``merge``."""
    return bool(entry["top"]) and merge.get(entry["top"][0][0]) == merge.get(entry["label"], entry["label"])


def wrong_confidence(entries: list[dict]) -> dict:
    """How sure the model was when wrong: the median top probability of wrong answers, and how many were
    at least 90% sure (a confident wrong answer hides the ambiguity from the user)."""
    conf = [e["top"][0][1] for e in entries if e["top"] and e["top"][0][0] != e["label"]]
    return {"n_wrong": len(conf), "median": float(np.median(conf)) if conf else None,
            "at_least_0.9": sum(c >= 0.9 for c in conf)}


def slices(entries: list[dict], merge: dict[str, str], keys=("source", "capture", "kind"), scorer=None) -> dict:
    scorer = scorer or score
    out = {}
    for key in keys:
        groups = defaultdict(list)
        for e in entries:
            groups[e[key]].append(e)
        out[key] = {name: scorer(group, merge) for name, group in sorted(groups.items())}
    return out


def clustered_se(right: list[bool], groups: list[str]) -> float | None:
    """The standard error of an accuracy whose images come in groups that are not independent (one writer's
    characters, one photo's cells): the cluster-robust variance of a mean, sum over groups of the squared sum of
    their residuals over n^2, times G / (G - 1). None with fewer than two groups. With one image per group it is
    the binomial s.e. (times sqrt(n / (n - 1)))."""
    n, by = len(right), defaultdict(float)
    if n == 0:
        return None
    acc = sum(right) / n
    for r, g in zip(right, groups):
        by[g] += r - acc
    k = len(by)
    if k < 2:
        return None
    return float(np.sqrt(k / (k - 1) * sum(v * v for v in by.values())) / n)


def score_with_se(entries: list[dict], merge: dict[str, str]) -> dict:
    """:func:`score`, plus the clustered s.e. (:func:`clustered_se`, by ``split_group``) of top-1 and merged
    top-1: what a part's goal is judged against."""
    groups = [e["group"] for e in entries]
    return {**score(entries, merge), "top1_se": clustered_se([_right(e) for e in entries], groups),
            "merged_top1_se": clustered_se([_merged_right(e, merge) for e in entries], groups)}


def evaluate(model, rows, root: Path, *, variants=VARIANTS, workers: int = 1,
             preprocess=None, prior: str = "auto") -> tuple[dict, list[dict]]:
    """(metrics, entries): every scored image with its label, prediction and slice keys, predicted under
    ``prior`` as ``charclf predict --prior`` does (``metrics["prior"]`` says which it was)."""
    from charclf.class_prior import resolve_prior

    from charclf.apps.predict import predict_arrays

    used_prior = resolve_prior(model.charclf_config, prior)  # refused before minutes of preprocessing
    items = build_items(rows, root, variants)
    preprocess_items(items, root, workers, preprocess)
    good = [it for it in items if it["x"] is not None]
    ranked = predict_arrays(model, np.stack([it["x"] for it in good]), top=5, prior=used_prior) if good else []
    for it, top in zip(good, ranked):
        it["top"] = top
    entries = []
    for it in items:
        r = it["row"]
        entries.append({"id": r.id, "source": r.source, "capture": r.capture, "kind": r.kind, "label": r.label,
                        "part": part_of(r.source, r.path), "group": split_group(r.source, r.path),
                        "variant": it["variant"], "path": r.path, "crop": list(r.crop) if r.crop else None,
                        "top": [(c, round(p, 4)) for c, p in it.get("top", [])], "error": it.get("error"),
                        "x": it["x"]})
    merge = merged_char(model.charclf_config["labels"])
    originals = [e for e in entries if e["variant"] == "original"]
    metrics = {"prior": used_prior, "overall": score(originals, merge), **slices(originals, merge),
               "synthetic": {v: score([e for e in entries if e["variant"] == v], merge) for v in variants},
               "synthetic_base": score([e for e in originals if e["capture"] == SYNTHETIC_FROM], merge),
               "preprocess_failures": sum(e["error"] is not None for e in originals),
               "wrong_confidence": wrong_confidence(originals),
               "parts": {part: part_metrics([e for e in entries if e["part"] == part], merge, variants)
                         for part in PARTS},
               "parts_split": split_facts()}
    return metrics, entries


def part_metrics(entries: list[dict], merge: dict[str, str], variants=VARIANTS) -> dict:
    """One part's (``charclf.data.realworld_parts``) overall, slices and synthetic copies (of its own drawings),
    each with the clustered s.e. of its accuracies (:func:`score_with_se`)."""
    originals = [e for e in entries if e["variant"] == "original"]
    return {"overall": score_with_se(originals, merge), **slices(originals, merge, scorer=score_with_se),
            "synthetic": {v: score_with_se([e for e in entries if e["variant"] == v], merge) for v in variants}}


def error_list(entries: list[dict], merge: dict[str, str]) -> list[dict]:
    out = []
    for e in entries:
        if e["top"] and e["top"][0][0] == e["label"]:
            continue
        pred = e["top"][0][0] if e["top"] else None
        out.append({k: e[k] for k in ("id", "variant", "source", "capture", "kind", "part", "label", "path", "crop")}
                   | {"pred": pred, "conf": e["top"][0][1] if e["top"] else None,
                      "merged_ok": pred is not None and merge.get(pred) == merge.get(e["label"]),
                      "top5": e["top"], "error": e["error"]})
    return out


# -- artifacts ------------------------------------------------------------------------------------------------
GALLERY_COLS, GALLERY_CELL = 8, (2 * THUMB + 6, THUMB + 16)


def _gallery_cell(i: int) -> tuple[int, int]:
    return (i % GALLERY_COLS) * GALLERY_CELL[0], (i // GALLERY_COLS) * GALLERY_CELL[1]


def _withhold(draw, x: int, y: int) -> None:
    """Grey out a gallery cell's two images (the input and the 28x28 made from it), keeping its label line."""
    draw.rectangle((x, y + 14, x + 2 * THUMB + 2, y + 14 + THUMB), fill=(225, 225, 225))
    draw.text((x + 4, y + 14 + THUMB // 2 - 6), "not shown: licence", fill=(90, 90, 90))


def withhold_unshowable(path: Path, errors: list[dict]) -> list[int]:
    """Grey out, in an existing gallery PNG drawn from ``errors`` (its artifact's list), the cells of sources
    whose licence does not let a committed figure show their images (``may_show``); returns their indices."""
    from PIL import ImageDraw

    from charclf.data.realworld import may_show

    sheet = Image.open(path).convert("RGB")
    draw = ImageDraw.Draw(sheet)
    hidden = [i for i, err in enumerate(errors[:GALLERY_MAX]) if not may_show(err["source"])]
    for i in hidden:
        _withhold(draw, *_gallery_cell(i))
    with atomic_path(path, suffix=".png") as tmp:
        sheet.save(tmp)
    return hidden


def _paste_cell(sheet, err: dict, entry: dict, root: Path, x: int, y: int) -> None:
    """A gallery cell's two images: the input as given (blank when it cannot be read) and the 28x28 it became."""
    from charclf.data.realworld import ManifestRow

    try:
        row = ManifestRow(id=err["id"], source=err["source"], label=err["label"], capture=err["capture"],
                          path=err["path"], url="", sha256="0" * 64, crop=tuple(err["crop"]) if err["crop"] else None)
        image = load_row_image(row, root)
        if err["variant"] != "original":
            image = VARIANT_FUNCS[err["variant"]](image)
        image = image.convert("RGB")
        image.thumbnail((THUMB, THUMB))
        sheet.paste(image, (x, y + 14))
    except CharclfError:
        pass
    if entry["x"] is not None:
        seen = Image.fromarray(entry["x"]).resize((THUMB, THUMB), Image.NEAREST).convert("RGB")
        sheet.paste(seen, (x + THUMB + 2, y + 14))


def failure_gallery(errors: list[dict], entries_by_key: dict, root: Path, path: Path) -> Path:
    """A PNG grid: for each wrong prediction, the input as given, the 28x28 the model saw, and label -> guess.
    Images of a source whose licence does not allow redistribution are greyed out (the label line stays)."""
    from PIL import ImageDraw

    from charclf.data.realworld import may_show

    shown = errors[:GALLERY_MAX]
    rows_n = max(1, -(-len(shown) // GALLERY_COLS))
    sheet = Image.new("RGB", (GALLERY_COLS * GALLERY_CELL[0], rows_n * GALLERY_CELL[1]), "white")
    draw = ImageDraw.Draw(sheet)
    for i, err in enumerate(shown):
        x, y = _gallery_cell(i)
        entry = entries_by_key[(err["id"], err["variant"])]
        if not may_show(err["source"]):
            _withhold(draw, x, y)
        else:
            _paste_cell(sheet, err, entry, root, x, y)
        guess = f"{err['pred']} {err['conf']:.2f}" if err["pred"] is not None else "refused"
        tag = "" if err["variant"] == "original" else f" {err['variant'][:3]}"
        draw.text((x + 1, y + 1), f"{err['label']}->{guess}{tag}", fill=(200, 0, 0))
    with atomic_path(path, suffix=".png") as tmp:
        sheet.save(tmp)
    return path


def package_sha256(folder: Path) -> str:
    """One hash over every module of a package (imageprep is a package: its __init__ alone misses the steps)."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def provenance(model_dir: Path, manifest: Path, root: Path, seconds: float, prior: str = "train") -> dict:
    """Where an artifact's numbers come from; ``prior`` is the resolved one (``uniform`` or ``train``)."""
    from charclf.apps import imageprep
    from charclf.provenance import repo_relative, run_metadata

    return run_metadata(
        model=repo_relative(model_dir),
        model_weights_sha256=file_digest(weights, "sha256") if (weights := model_dir / "model.safetensors").is_file()
        else None,
        preprocessing={"module": "charclf.apps.imageprep",
                       "version": getattr(imageprep, "PREPROCESS_VERSION", None),
                       "source_sha256": file_digest(Path(imageprep.__file__), "sha256"),
                       "package_sha256": package_sha256(Path(imageprep.__file__).parent)},
        manifest=repo_relative(manifest), manifest_sha256=file_digest(manifest, "sha256"), data_dir=repo_relative(root),
        synthetic={"from": SYNTHETIC_FROM, "shadow_range": SHADOW_RANGE, "rule_colour": RULE_COLOUR,
                   "rule_spacing": RULE_SPACING, "rule_width": RULE_WIDTH},
        # predict_logits and the numpy path both score in float32, whatever precision trained the model
        inference_precision="fp32", model_protocol=_model_protocol(model_dir), prior=prior,
        seconds=round(seconds, 1))


def _model_protocol(model_dir: Path) -> str | None:
    """The EMNIST protocol the scored model trained under, from its config.json (None when unreadable)."""
    try:
        return json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8")).get("protocol")
    except (OSError, ValueError, AttributeError):
        return None


def default_out(model_dir: Path, prior: str = "auto") -> Path:
    """``outputs/realworld/<model path, '/' -> '-'>.json``, e.g. model_hub-default.json; a study run's folder
    ``outputs/runs/<profile>/<group>/<run>`` keeps its place: ``outputs/realworld/runs/<profile>/<group>/<run>.json``
    (where notebook 10's paired table reads it). A ``prior`` other than the model's default (``auto``) adds
    ``-prior-<prior>`` to the name, so the two scorings of one model sit side by side."""
    path = _default_out(model_dir)
    if prior != "auto":
        from charclf.class_prior import resolve_prior
        from charclf.models.hub import read_model_config

        config = read_model_config(model_dir)
        if resolve_prior(config, prior) != resolve_prior(config, "auto"):
            path = path.with_name(f"{path.stem}-prior-{prior}{path.suffix}")
    return path


def _default_out(model_dir: Path) -> Path:
    from charclf.paths import outputs_dir
    from charclf.provenance import repo_relative

    runs = outputs_dir() / "runs"
    try:
        inside = Path(model_dir).resolve().relative_to(runs.resolve())
    except ValueError:
        inside = None
    if inside is not None and len(inside.parts) >= 3:
        from charclf.eval.realworld_scores import run_artifact

        return run_artifact(inside.parts[0], Path(*inside.parts[1:]).as_posix())
    name = repo_relative(model_dir).strip("/").replace("/", "-").lstrip(".-") or "model"
    return outputs_dir() / "realworld" / f"{name}.json"


def run_evaluation(model_dir: Path, root: Path, manifest: Path, out: Path, *, variants=VARIANTS,
                   workers: int = 1, preprocess=None, prior: str = "auto") -> dict:
    from charclf.data.realworld import SOURCES, read_manifest
    from charclf.models.hub import load_model

    start = time.perf_counter()
    rows = read_manifest(manifest)
    require_local(root, rows)
    model = load_model(model_dir)
    metrics, entries = evaluate(model, rows, root, variants=variants, workers=workers, preprocess=preprocess,
                                prior=prior)
    merge = merged_char(model.charclf_config["labels"])
    errors = error_list(entries, merge)
    gallery = out.with_suffix(".png")
    failure_gallery(errors, {(e["id"], e["variant"]): e for e in entries}, root, gallery)
    used = sorted({r.source for r in rows})
    artifact = {"metrics": metrics,
                "sources": {s: SOURCES.get(s, {}) | {"images": sum(r.source == s for r in rows)} for s in used},
                "counts": {k: sum(r.kind == k for r in rows) for k in ("digit", "upper", "lower")},
                "errors": errors, "gallery": gallery.name,
                "provenance": provenance(model_dir, manifest, root, time.perf_counter() - start,
                                         prior=metrics["prior"])}
    if preprocess is not None:  # an ablation: say which preprocessing replaced imageprep's
        artifact["provenance"]["preprocessing"]["replaced_by"] = repr(preprocess)
    # One line per error keeps the committed artifact readable in a diff and a third of the indented size.
    head = json.dumps({k: v for k, v in artifact.items() if k != "errors"}, indent=1)
    body = ",\n".join(json.dumps(e, separators=(",", ":")) for e in errors)
    # Atomic: under --overwrite the earlier artifact stays whole until this one is complete.
    atomic_write_text(out, f'{head[:-2]},\n "errors": [\n{body}\n ]\n}}\n')
    return artifact


def format_summary(artifact: dict) -> str:
    m = artifact["metrics"]

    def line(name, s):
        if not s["n"]:
            return f"  {name:<22} {0:>5}"
        return f"  {name:<22} {s['n']:>5}  {s['top1']:6.1%}  {s['top5']:6.1%}  {s['merged_top1']:6.1%}"

    out = [f"  prior: {recorded_prior(m)} ({PRIOR_WORDS[recorded_prior(m)]})",
           f"  {'slice':<22} {'n':>5}  {'top-1':>6}  {'top-5':>6}  {'merged':>6}", line("overall", m["overall"])]
    for key in ("kind", "capture", "source"):
        out += [line(f"{key}={name}", s) for name, s in m[key].items()]
    out.append(line(f"{SYNTHETIC_FROM} (clean)", m["synthetic_base"]))
    out += [line(f"synthetic={v}", s) for v, s in m["synthetic"].items()]
    out += [line(f"part={part}", s["overall"]) for part, s in (m.get("parts") or {}).items()]
    wc = m.get("wrong_confidence") or {}
    if wc.get("n_wrong"):
        out.append(f"  wrong answers: {wc['n_wrong']}, median confidence {wc['median']:.2f}, "
                   f"{wc['at_least_0.9']} at >= 0.9; refused by the preprocessing: {m['preprocess_failures']}")
    return "\n".join(out)
