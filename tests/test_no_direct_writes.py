"""Every file charclf and its tools write goes through ``charclf.fileio`` (a temporary file renamed over the
target once complete), so a kill or a full disk never leaves half a file where a result, a notebook or a
manifest was. This scans the sources for the ways around it: ``.write_text(``, ``.write_bytes(``, an
``open(..., "w" / "wb" / "a" ...)`` and library writers that open the path themselves (``nbformat.write``). Writing into the temporary path that ``atomic_path`` yields is the atomic
way itself and passes; anything else must be converted, or named in ``ALLOWED`` with the reason it is safe."""
from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCANNED = ("charclf", "tools")
WRITE_METHODS = ("write_text", "write_bytes")
# Writers that take the path as their first argument: matplotlib's savefig, PIL's Image.save. (``.save(`` is
# matched only where its receiver is named like an image: a RunRecord's save is atomic itself.)
PATH_ARG_METHODS = ("savefig",)
IMAGE_NAMES = re.compile(r"(image|img|sheet|canvas|picture|drawing)", re.I)
# Writers called as ``module.write(obj, path)``, which truncate the path and then write it.
OBJECT_PATH_WRITERS = ("nbformat.write", "jupytext.write")
# open()'s mode strings that write, append or create (tarfile's "w:gz" too)
WRITE_MODE = re.compile(r"^[rbtU]*[wax+][rwaxbtU+]*(:\w*)?$")

# (file, function) -> why writing in place there is safe. Keep it short: each entry is a reviewed exception.
ALLOWED = {
    ("charclf/data/download.py", "_fetch"): "appends to the download's .part file, which is resumed by design and "
                                            "renamed into place only once its checksum holds",
    ("tools/bench_predict_latency.py", "main"): "draws its test image into a TemporaryDirectory it just made",
}


def _mode_strings(node: ast.expr | None) -> list[str] | None:
    """The string constants a mode argument can take (``"ab" if have else "wb"`` -> both); None: not a literal."""
    if node is None:
        return []
    found = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return found or None


def _atomic_names(tree: ast.AST) -> list[tuple[str, int, int]]:
    """(name, first line, last line) of every ``with atomic_path(...) as name`` block."""
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                call = item.context_expr
                func = getattr(call, "func", None)
                name = getattr(func, "id", None) or getattr(func, "attr", None)
                if name == "atomic_path" and isinstance(item.optional_vars, ast.Name):
                    spans.append((item.optional_vars.id, node.lineno, node.end_lineno))
    return spans


def direct_writes(source: str) -> list[tuple[int, str, str]]:
    """(line, enclosing function, what) for each write in ``source`` that bypasses ``charclf.fileio``."""
    tree = ast.parse(source)
    atomic = _atomic_names(tree)
    owner = {}  # id(node) -> the innermost function holding it (ast.walk visits outer functions first)
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                if node is not fn:
                    owner[id(node)] = fn.name
    hits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        target = None
        if isinstance(func, ast.Attribute) and func.attr in WRITE_METHODS:
            what, target = f".{func.attr}(", func.value
        elif isinstance(func, ast.Attribute) and (func.attr in PATH_ARG_METHODS or (
                func.attr == "save" and IMAGE_NAMES.search(ast.unparse(func.value)))):
            what, target = f".{func.attr}(", node.args[0] if node.args else None
        elif ast.unparse(func) in OBJECT_PATH_WRITERS:
            what, target = f"{ast.unparse(func)}(", node.args[1] if len(node.args) > 1 else None
        elif (isinstance(func, ast.Name) and func.id == "open") or (isinstance(func, ast.Attribute)
                                                                   and func.attr == "open"):
            builtin = isinstance(func, ast.Name)
            # open(file, mode) and gzip.open(file, mode); Path.open(mode): the mode is the first argument there.
            mode_arg = next((k.value for k in node.keywords if k.arg == "mode"), None)
            if mode_arg is None:
                candidates = node.args[1:2] if builtin else node.args[:2]
                modes = [m for a in candidates for m in (_mode_strings(a) or [])]
                if builtin and len(node.args) > 1 and _mode_strings(node.args[1]) is None:
                    modes = ["?"]  # a mode computed at run time: cannot be judged, so it is not trusted
            else:
                modes = _mode_strings(mode_arg) or ["?"]
            writes = [m for m in modes if m == "?" or WRITE_MODE.match(m)]
            if not writes:
                continue
            what = f"open(..., {writes[0]!r})"
            target = node.args[0] if node.args and builtin else (func.value if not builtin else None)
        else:
            continue
        if isinstance(target, ast.Name) and any(name == target.id and first <= node.lineno <= last
                                                for name, first, last in atomic):
            continue  # the temporary file atomic_path renames over the target once complete
        hits.append((node.lineno, owner.get(id(node), "<module>"), what))
    return sorted(hits)


def test_the_scanner_finds_direct_writes_and_passes_atomic_ones():
    source = '''
def bad(path, out, have):
    out.write_text("x")
    path.write_bytes(b"x")
    with open(path, "w", newline="") as fh: pass
    with open(path, "ab" if have else "wb") as fh: pass
    with open(path, mode) as fh: pass
    path.open("a")
    tarfile.open(path, "w:gz")
    fig.savefig(path)
    sheet.save(path)
    nbformat.write(nb, path)

def good(path, cache):
    with open(path, "rb") as fh: pass
    with open(path) as fh: pass
    with atomic_path(cache) as tmp, open(tmp, "wb") as fh: pass
    with atomic_path(path) as tmp:
        tmp.write_text("x")
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp)
        sheet.save(tmp)
    with atomic_path(path) as tmp:
        nbformat.write(nb, tmp)
    record.save(path)
'''
    hits = direct_writes(source)
    assert [(line, fn) for line, fn, _ in hits] == [(3, "bad"), (4, "bad"), (5, "bad"), (6, "bad"), (7, "bad"),
                                                   (8, "bad"), (9, "bad"), (10, "bad"), (11, "bad"), (12, "bad")]


def test_every_write_goes_through_fileio():
    found, used = [], set()
    for top in SCANNED:
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel == "charclf/fileio.py":  # the atomic writer itself
                continue
            for line, fn, what in direct_writes(path.read_text(encoding="utf-8")):
                if (rel, fn) in ALLOWED:
                    used.add((rel, fn))
                else:
                    found.append(f"{rel}:{line} ({fn}): {what}")
    assert not found, ("these write a file in place, so a kill or a full disk leaves half of it: "
                       + "; ".join(found) + ". Fix: write through charclf.fileio (atomic_write_text, "
                       "write_json, atomic_path), or add the function to ALLOWED with the reason it is safe")
    assert used == set(ALLOWED), f"ALLOWED names functions that no longer write in place: {set(ALLOWED) - used}"
