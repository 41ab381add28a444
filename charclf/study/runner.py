"""``charclf study``: execute the numbered notebooks in order (notebook 00, whose findings table reads what the
others write, last) and print a summary of the results they wrote.

    charclf study                                 # render the committed full-profile runs (minutes, trains nothing)
    charclf study --profile quick --train         # every notebook, small honest subsets, minutes on a CPU
    charclf study --profile full --train --only 04,07   # train what is missing: hours on a CPU

Without ``--train`` the notebooks only load finished results (``$CHARCLF_RENDER_ONLY=1``): a notebook that
needs a run, a search or an experiment not trained yet stops at that cell, is reported as not rendered, and
keeps its committed copy; the others are executed and written. ``--train`` trains what is missing (a killed
run resumes where it stopped).

Each notebook has one cell tagged ``parameters`` (PROFILE, DATA_DIR, PROTOCOL, SEED, RETRAIN). The runner
replaces that cell's code with the values asked for — no papermill needed — executes the notebook with
nbclient (kernel ``python3``, working directory ``notebooks/``), strips run noise (:mod:`charclf.study.nbstrip`) and
writes the executed copy in place. The committed parameters cell keeps its defaults (so that the paired
``.py`` and nbmake in CI see the same notebook); the values a run used are shown as that cell's output.

Data: missing official files are downloaded before the first notebook runs (NIST's ~535 MB archive, and
classic MNIST for notebook 08), with a progress bar, into the data folder; ``--no-download`` (or
``CHARCLF_NO_DOWNLOAD=1``) keeps the clear "file not found" errors instead. The data folder reaches the
notebooks as ``$CHARCLF_DATA_DIR``, so executed notebooks never record this machine's paths.

Cached runs: notebooks load finished runs from ``outputs/runs/<profile>/`` instead of retraining. ``--retrain``
(or ``CHARCLF_RETRAIN=1`` in the environment, which CI sets) trains everything again.

A notebook that fails otherwise stops the study with an error naming the notebook and the cell; its partly
executed copy (and the figures it drew) goes to a temporary folder, and the committed notebook and figures are
left untouched. Figures join ``outputs/figures/`` only with the executed notebook that drew them.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from charclf.argtypes import SECONDS, SEED
from charclf.errors import CharclfError, ConfigError, NotTrainedYet
from charclf.paths import FIGURES_ENV, figures_dir, runs_dir, runs_folder
from charclf.study.profiles import PROFILES
from charclf.study.runs import RENDER_ENV, RETRAIN_ENV

PARAMETERS_TAG = "parameters"
PARAMETER_NAMES = ("PROFILE", "DATA_DIR", "PROTOCOL", "SEED", "RETRAIN")
DEFAULT_KERNEL = "python3"
# The notebook whose findings table reads the artifacts the other notebooks write (notebook 11 rebuilds the
# ensemble when runs were added, notebook 10 rescoring real handwriting ...): executed after them, so that one
# `charclf study` leaves it showing this render's artifacts, not the previous render's.
FINDINGS_NOTEBOOK = "00_setup_and_data"
STUDY_METADATA_KEY = "charclf_study"


class StudyError(CharclfError):
    """A study notebook is missing, malformed, or failed while executing."""


class NotebookNeedsTraining(StudyError):
    """A notebook executed to render stopped at a result not trained yet (its cell raised ``NotTrainedYet``)."""


def notebooks_dir() -> Path:
    from charclf.provenance import REPO_ROOT

    return REPO_ROOT / "notebooks"


# -- finding and reading notebooks ----------------------------------------------------------------------
def execution_order(paths: list[Path]) -> list[Path]:
    """``paths`` in the order to execute them: numbered order, but :data:`FINDINGS_NOTEBOOK` last."""
    return sorted(paths, key=lambda p: p.stem == FINDINGS_NOTEBOOK)  # stable: the others keep their order


def find_notebooks(directory: str | Path, only: str | list[str] | None = None) -> list[Path]:
    """The study notebooks ``NN_name.ipynb`` (or their paired ``.py``) in order; ``only`` selects by number."""
    directory = Path(directory)
    if not directory.is_dir():
        raise StudyError(f"{directory}: the notebooks folder does not exist. Fix: run `charclf study` from a "
                         "clone of the repository, or pass --notebooks-dir")
    stems = sorted({p.stem for p in directory.glob("[0-9][0-9]_*.ipynb")}
                   | {p.stem for p in directory.glob("[0-9][0-9]_*.py")})
    if not stems:
        raise StudyError(f"{directory}: no notebooks named NN_<name>.ipynb. Fix: pass the folder holding them")
    if only:
        wanted = [w.strip() for w in (only.split(",") if isinstance(only, str) else only) if w.strip()]
        chosen = []
        for w in wanted:
            hits = [s for s in stems if s == w or s.split("_", 1)[0] == w.zfill(2)]
            if not hits:
                raise ConfigError(f"--only {w!r}: no such notebook in {directory}. Fix: use one of "
                                  f"{', '.join(s.split('_', 1)[0] for s in stems)}")
            chosen += [h for h in hits if h not in chosen]
        stems = sorted(chosen)
    return [directory / f"{s}.ipynb" for s in stems]


def kernel_config():
    """The kernel manager's settings: an encrypted or local transport, never plain TCP. ipykernel >= 7 warns on
    every start ("Kernel is running over TCP without encryption") when the manager neither provisions CurveZMQ
    keys nor uses IPC; jupyter_client provisions the keys under ``transport_encryption="auto"`` for a kernelspec
    that declares curve support, so the warning (and the plain-text socket) go away at their source."""
    import zmq
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    config = Config()
    if "transport_encryption" in KernelManager.class_trait_names() and zmq.has("curve"):
        config.KernelManager.transport_encryption = "auto"
    elif os.name == "posix":  # older jupyter_client or a libzmq without curve: Unix sockets, not TCP
        config.KernelManager.transport = "ipc"
    return config


def read_source_notebook(ipynb: Path):
    """The notebook to execute: built from the paired ``.py`` when there is one (the source people edit). A
    damaged .ipynb is one line naming it (:func:`~charclf.study.nbstrip.read_notebook`)."""
    from charclf.study.nbstrip import read_notebook

    py = ipynb.with_suffix(".py")
    if py.exists():
        import jupytext

        nb = jupytext.read(py)
        if ipynb.exists():  # keep the committed notebook's metadata (kernelspec, pairing)
            nb.metadata = {**read_notebook(ipynb).metadata, **nb.metadata}
    elif ipynb.exists():
        nb = read_notebook(ipynb)
    else:
        raise StudyError(f"{ipynb}: neither the notebook nor its paired .py exists")
    nb.metadata.setdefault("kernelspec", {"name": DEFAULT_KERNEL, "display_name": "Python 3 (ipykernel)",
                                          "language": "python"})
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


# -- parameters -----------------------------------------------------------------------------------------
def parameters_cell_index(nb, name: str = "notebook") -> int:
    hits = [i for i, c in enumerate(nb.cells) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    if len(hits) != 1:
        raise StudyError(f"{name}: expected exactly one cell tagged {PARAMETERS_TAG!r}, found {len(hits)}. "
                         f"Fix: tag the cell that sets {', '.join(PARAMETER_NAMES)} (and only that one)")
    return hits[0]


def parameters_source(params: dict) -> str:
    lines = ["# Parameters injected by `charclf study`"]
    lines += [f"{key} = {value!r}" for key, value in params.items()]
    return "\n".join(lines)


def inject_parameters(nb, params: dict, name: str = "notebook") -> tuple[int, str]:
    """Replace the parameters cell's code with ``params``; returns (cell index, the original source)."""
    index = parameters_cell_index(nb, name)
    cell = nb.cells[index]
    original = cell.source
    cell.source = parameters_source(params)
    return index, original


# -- execution ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NotebookResult:
    name: str
    path: Path
    seconds: float
    not_rendered: str | None = None  # why a render left this notebook's committed copy as it was


def execute_notebook(src: Path, params: dict, *, out_path: Path | None = None, cwd: Path | None = None,
                     kernel_name: str = DEFAULT_KERNEL, timeout: int | None = None,
                     env: dict | None = None) -> NotebookResult:
    """Execute one notebook with ``params`` injected and write the stripped copy to ``out_path`` (default: in place).

    Raises :class:`StudyError` naming the notebook and the failing cell; the committed file is then untouched.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    from charclf.fileio import atomic_write_text
    from charclf.study.nbstrip import notebook_text, strip_notebook

    src = Path(src)
    out_path = Path(out_path) if out_path else src
    nb = read_source_notebook(src)
    index, original = inject_parameters(nb, params, src.name)
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, allow_errors=False,
                            resources={"metadata": {"path": str(cwd or src.parent)}}, config=kernel_config())
    # The kernel inherits our environment, except that figures must render inline even where the caller
    # set MPLBACKEND=Agg (CI does): the executed notebooks are the report.
    env = {**os.environ, **(env or {}), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    if params.get("RETRAIN"):
        env[RETRAIN_ENV] = "1"  # inside a notebook the environment wins over the parameter: make them agree
    # Figures are staged and join the figures folder only with the written notebook: a notebook that stops
    # (failed, or not rendered for want of training) leaves no figure of its partial run beside the committed ones.
    figures = Path(env[FIGURES_ENV]) if env.get(FIGURES_ENV) else figures_dir()
    staging = Path(tempfile.mkdtemp(prefix="charclf-study-"))
    env[FIGURES_ENV] = str(staging / "figures")
    start = time.perf_counter()
    try:
        client.execute(env=env)
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        failed = _failed_cell(nb)
        dump = staging / src.name  # beside the figures the partial run drew
        atomic_write_text(dump, notebook_text(nb))
        where = (f"cell {failed} ({_first_line(nb.cells[failed].source)!r})" if failed is not None
                 else "a cell (kernel died or timed out)")
        raised = _cell_error(nb, failed)
        if raised is not None and raised[0] == NotTrainedYet.__name__:
            raise NotebookNeedsTraining(f"{src.name} needs a result not trained yet, at {where}: "
                                        f"{raised[1].strip()}") from err
        detail = f"{raised[0]}: {raised[1]}" if raised else (str(err).strip().splitlines() or [""])[-1]
        raise StudyError(f"notebook {src.name} failed at {where}: {detail}. The partly executed copy with the "
                         f"full traceback is {dump}; the committed notebook was not changed") from err
    seconds = time.perf_counter() - start
    # Keep the committed defaults in the code (the paired .py and nbmake see them) and show what ran.
    cell = nb.cells[index]
    cell.source = original
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=(
        "charclf study executed this notebook with:\n" + parameters_source(params).split("\n", 1)[1] + "\n"))]
    nb.metadata[STUDY_METADATA_KEY] = {"parameters": params}
    strip_notebook(nb)
    atomic_write_text(out_path, notebook_text(nb))  # a kill mid-write must not truncate the committed notebook
    _move_figures(staging / "figures", figures)
    shutil.rmtree(staging, ignore_errors=True)
    return NotebookResult(name=src.stem, path=out_path, seconds=seconds)


def _move_figures(staged: Path, figures: Path) -> None:
    """Move an executed notebook's figures into the figures folder (replacing that notebook's earlier ones)."""
    if not staged.is_dir():
        return
    figures.mkdir(parents=True, exist_ok=True)
    for path in sorted(staged.iterdir()):
        shutil.move(str(path), str(figures / path.name))


def _failed_cell(nb) -> int | None:
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return i
    return None


def _cell_error(nb, index: int | None) -> tuple[str, str] | None:
    """``(exception type name, message)`` of the error the cell raised in the kernel, or None. The exception lives
    in the kernel's process: its type's name, as nbclient reports it, is what can be matched here."""
    if index is None:
        return None
    for out in nb.cells[index].outputs:
        if out.get("output_type") == "error":
            return out.get("ename") or "", out.get("evalue") or ""
    return None


def _first_line(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return (lines[0] if lines else source.strip()[:80])[:80]


def refuse_unusable_setup(out_dir: str | Path | None, kernel_name: str) -> None:
    """Before any notebook runs (and any download): an ``out_dir`` that cannot hold the executed notebooks (a
    file, or not writable) and a kernel that is not installed are one line each, not a traceback after the
    first notebook's work."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    from charclf.errors import unknown_name
    from charclf.fileio import check_writable

    if out_dir is not None:
        check_writable(out_dir, "--out-dir")
    kernels = KernelSpecManager()
    try:
        kernels.get_kernel_spec(kernel_name)
    except NoSuchKernel:
        raise unknown_name("Jupyter kernel (--kernel)", kernel_name, list(kernels.find_kernel_specs())) from None


STUDY_DATA = (("byclass", None), ("classic-mnist", "official"))  # (dataset, protocol; None: the study's)


def fetch_study_data(data_dir=None, protocol: str = "holdout", *, echo=print) -> None:
    """Download what the study's notebooks load (ByClass under ``protocol``, classic MNIST) if it is missing,
    in this process, so the progress bar shows in the terminal rather than inside a notebook."""
    from charclf.data.download import ensure_data, missing_files

    for dataset, proto in STUDY_DATA:
        if missing_files(dataset, proto or protocol, data_dir):
            echo(f"[study] {dataset}: official files missing, downloading them first", flush=True)
            ensure_data(dataset, proto or protocol, data_dir)


def run_study(profile: str = "quick", *, only=None, data_dir=None, protocol: str = "holdout", seed: int = 0,
              retrain: bool = False, notebooks: str | Path | None = None, out_dir: str | Path | None = None,
              kernel_name: str = DEFAULT_KERNEL, timeout: int | None = None, echo=print,
              download: bool = True, train: bool = True) -> list[NotebookResult]:
    """Execute the study notebooks in order (:func:`execution_order`: the findings notebook last); stops at the
    first failure (a :class:`StudyError`).

    ``download=False`` sets ``$CHARCLF_NO_DOWNLOAD=1`` for the notebooks: a missing file is then an error.
    ``train=False`` renders: the notebooks load finished results only (``$CHARCLF_RENDER_ONLY=1``), and one that
    needs a result not trained yet is left as committed (its result says why) while the study goes on.
    """
    from charclf.data import resolve_data_dir
    from charclf.data.download import NO_DOWNLOAD_ENV
    from charclf.data.official import DATA_ENV

    if profile not in PROFILES:
        from charclf.errors import unknown_name

        raise unknown_name("profile", profile, list(PROFILES))
    directory = Path(notebooks) if notebooks else notebooks_dir()
    paths = find_notebooks(directory, only)
    refuse_unusable_setup(out_dir, kernel_name)
    # The data folder travels as $CHARCLF_DATA_DIR (absolute, as the kernels run in notebooks/), and the
    # injected DATA_DIR stays None: the executed notebooks, which are committed, never name this machine's paths.
    if retrain and not train:
        raise ConfigError("retrain=True asks to train everything again, train=False to train nothing. "
                          "Fix: pass train=True (`charclf study --train --retrain`)")
    env = {DATA_ENV: str(resolve_data_dir(data_dir).resolve()), RENDER_ENV: "0" if train else "1"}
    if not download:
        env[NO_DOWNLOAD_ENV] = "1"
    params = {"PROFILE": profile, "DATA_DIR": None, "PROTOCOL": protocol, "SEED": int(seed),
              "RETRAIN": bool(retrain)}
    results = []
    ordered = execution_order(paths)
    if ordered != paths:
        echo(f"[study] {FINDINGS_NOTEBOOK} runs last: its findings read what the other notebooks write", flush=True)
    for path in ordered:
        echo(f"[study] {path.name} ({profile} profile, {protocol} protocol) ...", flush=True)
        out = Path(out_dir) / path.name if out_dir else None
        started = time.perf_counter()
        try:
            result = execute_notebook(path, params, out_path=out, cwd=directory, kernel_name=kernel_name,
                                      timeout=timeout, env=env)
        except NotebookNeedsTraining as err:
            if train:  # cannot happen unless a notebook forces rendering itself: never hide it
                raise
            result = NotebookResult(name=path.stem, path=path, seconds=time.perf_counter() - started,
                                    not_rendered=str(err))
            echo(f"[study] {path.name}: NOT rendered, its committed copy is unchanged — {err}", flush=True)
        else:
            echo(f"[study] {path.name}: done in {result.seconds:.1f} s -> {result.path}", flush=True)
        results.append(result)
    return results


# -- the summary ----------------------------------------------------------------------------------------
def summarize_runs(runs_dir: str | Path):
    """One row per run record under ``runs_dir``: model, params, accuracies, time (a results JSON of an
    experiment, such as 06's results.json, is not a run record and is not listed)."""
    import pandas as pd

    from charclf.eval.record import load_records

    runs_dir = Path(runs_dir)
    rows = [{"run": str(path.relative_to(runs_dir)), "model": r.model, "params": r.params, "val_acc": r.val_acc,
             "test_acc": r.test_acc, "time_s": r.train_time_s} for path, r in load_records(runs_dir).items()]
    return pd.DataFrame(rows, columns=["run", "model", "params", "val_acc", "test_acc", "time_s"])


def format_summary(df, profile: str, protocol: str = "holdout") -> str:
    if df.empty:
        return f"no finished runs (metrics.json) under outputs/runs/{runs_folder(profile, protocol)}/"
    shown = df.copy()
    for col in ("val_acc", "test_acc"):
        shown[col] = shown[col].map(lambda v: "-" if v is None or v != v else f"{100 * float(v):.2f}%")
    shown["params"] = shown["params"].map(lambda v: "-" if v is None or v != v else f"{int(v):,}")
    shown["time_s"] = shown["time_s"].map(lambda v: "-" if v is None or v != v else f"{float(v):.1f}")
    title = f"Results of the {profile} profile ({protocol} protocol; accuracies on its val/test parts)"
    return title + "\n" + shown.to_string(index=False)


# -- CLI ------------------------------------------------------------------------------------------------
def rendered_notebooks_dir(out_dir, profile: str, protocol: str, seed: int) -> Path | None:
    """Where ``charclf study`` writes the executed notebooks: ``out_dir`` when given; in place (None) for the
    holdout protocol at seed 0, whose render the committed notebooks are; else beside them, in
    ``outputs/study/notebooks-<profile>[-official]-seed<N>/``, so another protocol's or seed's render never
    replaces them."""
    from charclf.paths import outputs_dir

    if out_dir is not None:
        return Path(out_dir)
    if protocol == "holdout" and seed == 0:
        return None
    return outputs_dir() / "study" / f"notebooks-{runs_folder(profile, protocol)}-seed{seed}"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("study", help="execute the study notebooks (quick or full profile)",
                              description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", choices=sorted(PROFILES), default="full",
                   help="full (default): the complete protocol (training it takes hours on a CPU); quick: small "
                        "subsets, the CI smoke test (training it takes minutes)")
    p.add_argument("--train", action="store_true",
                   help="train what is missing (default: only render the finished results under "
                        "outputs/runs/<profile>/; a notebook that needs a missing one keeps its committed copy)")
    p.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 04,07")
    p.add_argument("--data-dir", default=None, help="EMNIST/MNIST folder (default: $CHARCLF_DATA_DIR, then data/)")
    p.add_argument("--protocol", choices=("holdout", "official"), default="holdout")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--retrain", action="store_true",
                   help="with --train: train everything again instead of loading finished runs")
    p.add_argument("--no-download", action="store_true",
                   help="never download missing data (default: fetch NIST's ~535 MB archive and classic MNIST "
                        "into the data folder first; also off with CHARCLF_NO_DOWNLOAD=1)")
    p.add_argument("--notebooks-dir", default=None, help="folder of the NN_*.ipynb notebooks (default: notebooks/)")
    p.add_argument("--out-dir", default=None,
                   help="write executed copies here instead of in place (default for another protocol or seed: "
                        "outputs/study/notebooks-<profile>[-official]-seed<N>/)")
    p.add_argument("--kernel", default=DEFAULT_KERNEL, help="Jupyter kernel name (default: python3)")
    p.add_argument("--timeout", type=SECONDS, default=None, help="seconds allowed per cell (default: no limit)")
    p.set_defaults(func=run)
    return p


def _previous_timings(path: Path) -> dict:
    """``notebook_seconds`` of the timings file ``path`` ({} when there is none); a damaged one is a DataError."""
    from charclf.errors import DataError
    from charclf.provenance import read_json

    if not path.is_file():
        return {}
    fix = "move it aside (it is rewritten with this run's times), or restore it with git"
    saved = read_json(path, fix)
    seconds = saved.get("notebook_seconds", {}) if isinstance(saved, dict) else None
    if not isinstance(seconds, dict):
        raise DataError(path, "is not a study timings file (no notebook_seconds object)", fix)
    return seconds


def run(args) -> int:
    from charclf.data.download import downloads_allowed
    from charclf.fileio import write_json
    from charclf.paths import outputs_dir
    from charclf.provenance import run_metadata

    if args.retrain and not args.train:
        raise ConfigError("--retrain trains everything again, but without --train `charclf study` only renders. "
                          "Fix: `charclf study --train --retrain`")
    started = time.perf_counter()
    download = downloads_allowed() and not args.no_download
    out_dir = rendered_notebooks_dir(args.out_dir, args.profile, args.protocol, args.seed)
    if out_dir is not None and args.out_dir is None:
        print(f"[study] the {args.protocol} protocol at seed {args.seed}: executed copies go to {out_dir} "
              "(the committed notebooks are the holdout protocol's at seed 0)")
    refuse_unusable_setup(out_dir, args.kernel)
    # The timings file this run adds to, read before any notebook runs: a damaged one is one line now, not a
    # traceback after the whole study has run. With --only, the other notebooks' last times are kept, so the file
    # always covers the whole study; rendering (loading finished runs) is timed apart from training.
    kind = "timings" if args.train else "render-timings"
    path = outputs_dir() / "study" / f"{runs_folder(args.profile, args.protocol)}-{kind}.json"
    previous = _previous_timings(path)
    if download:
        fetch_study_data(args.data_dir, args.protocol)
    results = run_study(args.profile, only=args.only, data_dir=args.data_dir, protocol=args.protocol,
                        seed=args.seed, retrain=args.retrain, notebooks=args.notebooks_dir, out_dir=out_dir,
                        kernel_name=args.kernel, timeout=args.timeout, download=download, train=args.train)
    total = time.perf_counter() - started
    timings = {r.name: round(r.seconds, 1) for r in results if r.not_rendered is None}
    every = dict(sorted({**previous, **timings}.items()))
    write_json(path, run_metadata(profile=args.profile, protocol=args.protocol, seed=args.seed,
                                  retrain=args.retrain, notebook_seconds=every,
                                  total_seconds=round(sum(every.values()), 1),
                                  last_run={"notebooks": list(timings), "seconds": round(total, 1)}))
    print("\nNotebook execution times:")
    for name, secs in timings.items():
        print(f"  {name:<32} {secs:8.1f} s")
    print(f"  {'total':<32} {total:8.1f} s\n")
    skipped = [r for r in results if r.not_rendered is not None]
    if skipped:
        print(f"Not rendered ({len(skipped)}: results not trained yet; their committed copies are unchanged): "
              + ", ".join(r.name for r in skipped) + f". Train them with `charclf study --profile {args.profile} "
              "--train --only NN`.\n")
    print(format_summary(summarize_runs(runs_dir(args.profile, args.protocol)), args.profile, args.protocol))
    return 0
