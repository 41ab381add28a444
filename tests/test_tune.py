"""Hyperparameter search: real short trainings, reproducible sampling, exact budgets under kills and races."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

optuna = pytest.importorskip("optuna")

from charclf.data import CharDataset, DataBundle  # noqa: E402
from charclf.errors import ConfigError  # noqa: E402
from charclf.experiments.tune import (  # noqa: E402
    BYCLASS_GRID,
    CONTINUOUS_SPACE,
    SearchSpace,
    _requeue,
    load_or_create_study,
    make_sampler,
    make_storage,
    optimize_exactly,
    plot_search,
    run_search,
    surplus_reason,
)

REPO = Path(__file__).resolve().parents[1]
from synth import QUADRANT_CLASSES as CLASSES  # noqa: E402
from synth import quadrant_bundle

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def tmp_path(tmp_path):
    """SQLite commits fsync; on a RAM disk (when there is one) a study's bookkeeping costs ~1 ms, not ~15."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="charclf-tune-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def tiny_bundle(n_train: int = 64, n_val: int = 32, n_test: int = 32, seed: int = 0) -> DataBundle:
    return quadrant_bundle(n_train, n_val, n_test, seed)


def cheap_objective(space: SearchSpace):
    """A deterministic stand-in for a training: smallest at lr 0.01 and momentum 0.9."""
    def objective(trial):
        p = space.suggest(trial)
        return abs(math.log10(p["lr"]) + 2) + abs(p["momentum"] - 0.9) + 1e-3 * p["batch_size"]
    return objective


def param_tuples(result_or_study, names) -> list[tuple]:
    study = getattr(result_or_study, "study", result_or_study)
    trials = sorted(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)), key=lambda t: t.number)
    return [tuple(t.params[k] for k in names) for t in trials]


def test_search_on_tiny_data_trains_and_returns_best_params(tmp_path):
    data = tiny_bundle()
    result = run_search("lenet", data, space=BYCLASS_GRID, n_trials=4, epochs_per_trial=2, out_dir=tmp_path,
                        seed=0, progress=False)
    df = result.trials_dataframe()
    assert len(df) == 4 and (df.state == "COMPLETE").all() and (df.epochs == 2).all()
    for t in result.study.trials:  # the val loss of every epoch reached the pruner; the last is the score
        assert sorted(t.intermediate_values) == [1, 2]
        assert [t.intermediate_values[e] for e in (1, 2)] == pytest.approx(t.user_attrs["val_loss_per_epoch"])
        assert t.value == pytest.approx(t.intermediate_values[2])
    assert df.val_loss.notna().all() and (df.val_loss > 0).all()
    assert df.best_val_acc.between(0, 1).all()
    # The best parameters are those of the lowest validation loss, and come from the ByClass grid.
    best_row = df.loc[df.val_loss.idxmin()]
    assert result.best_params == {k: best_row[k] for k in BYCLASS_GRID.names}
    for name, choices in BYCLASS_GRID.params.items():
        assert result.best_params[name] in choices
    cfg = result.best_config(epochs=7)
    assert (cfg.optimizer.lr, cfg.batch_size, cfg.epochs, cfg.model) == \
        (result.best_params["lr"], result.best_params["batch_size"], 7, "lenet")
    summary = json.loads((tmp_path / "search.json").read_text())
    assert summary["best_params"] == result.best_params and summary["finished"] == 4
    assert summary["protocol"] == "holdout" and summary["git_sha"] and summary["seed"] == 0
    assert (tmp_path / "trials.csv").exists() and (tmp_path / "study.db").exists()


def test_diverging_trial_is_pruned_not_fatal(tmp_path):
    space = SearchSpace({"lr": (1e9,), "momentum": (0.99,)}, n_iter=1, name="explode")
    result = run_search("lenet", tiny_bundle(), space=space, n_trials=1, epochs_per_trial=1, out_dir=tmp_path,
                        pruner=None, progress=False)
    df = result.trials_dataframe()
    assert list(df.state) == ["PRUNED"] and bool(df.diverged.iloc[0])
    assert json.loads((tmp_path / "search.json").read_text())["best_params"] is None


def test_median_pruning_stops_a_bad_training_after_its_first_epoch():
    """fit reports each epoch's val loss; a trial worse than the median is stopped inside fit."""
    from charclf.experiments.tune import fit_objective
    from charclf.train.config import AugmentConfig
    from charclf.train.recipes import get_recipe

    space = SearchSpace({"lr": (0.05, 1e-6)}, n_iter=2)
    base = get_recipe("byclass_study", batch_size=8, augment=AugmentConfig())
    objective = fit_objective("lenet", tiny_bundle(128, 32, 32), base, space, epochs_per_trial=3)
    study = optuna.create_study(pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    study.enqueue_trial({"lr": 0.05})
    study.enqueue_trial({"lr": 1e-6})  # learns nothing: its epoch-1 val loss is far above the first trial's
    study.optimize(objective, n_trials=2)
    good, bad = study.trials
    assert good.state.name == "COMPLETE" and len(good.user_attrs["val_loss_per_epoch"]) == 3
    assert bad.state.name == "PRUNED" and list(bad.intermediate_values) == [1]
    assert len(bad.user_attrs["val_loss_per_epoch"]) == 1  # training stopped after epoch 1 of 3


def test_grid_random_search_is_without_replacement_and_reproducible(tmp_path):
    run = lambda name, seed: run_search(  # noqa: E731
        "lenet", tiny_bundle(8, 4, 4), space=BYCLASS_GRID, n_trials=28, seed=seed, out_dir=tmp_path / name,
        objective=cheap_objective(BYCLASS_GRID), progress=False)
    a, b, c = run("a", 0), run("b", 0), run("c", 1)
    seq_a = param_tuples(a, BYCLASS_GRID.names)
    assert len(seq_a) == 28 and len(set(seq_a)) == 28  # sampled without replacement, like ParameterSampler
    assert seq_a == param_tuples(b, BYCLASS_GRID.names)  # same seed -> same draws
    assert seq_a != param_tuples(c, BYCLASS_GRID.names)


def test_rerun_resumes_to_the_same_trials_as_an_uninterrupted_search(tmp_path):
    kw = dict(space=BYCLASS_GRID, seed=3, objective=cheap_objective(BYCLASS_GRID), progress=False)
    data = tiny_bundle(8, 4, 4)
    run_search("lenet", data, n_trials=3, out_dir=tmp_path / "resumed", **kw)
    resumed = run_search("lenet", data, n_trials=5, out_dir=tmp_path / "resumed", **kw)
    fresh = run_search("lenet", data, n_trials=5, out_dir=tmp_path / "fresh", **kw)
    assert [t.number for t in resumed.study.trials] == [0, 1, 2, 3, 4]
    assert param_tuples(resumed, BYCLASS_GRID.names) == param_tuples(fresh, BYCLASS_GRID.names)
    # A worker joining with settings that change what trials mean is refused.
    with pytest.raises(ConfigError, match="epochs_per_trial"):
        run_search("lenet", data, n_trials=5, out_dir=tmp_path / "resumed", epochs_per_trial=2, **kw)


def test_tpe_starts_with_the_seeded_random_trials(tmp_path):
    kw = dict(space=CONTINUOUS_SPACE, n_trials=12, seed=5, objective=cheap_objective(CONTINUOUS_SPACE),
              progress=False)
    tpe = run_search("lenet", tiny_bundle(8, 4, 4), sampler="tpe", out_dir=tmp_path / "tpe", **kw)
    rnd = run_search("lenet", tiny_bundle(8, 4, 4), sampler="random", out_dir=tmp_path / "rnd", **kw)
    names = CONTINUOUS_SPACE.names
    assert param_tuples(tpe, names)[:10] == param_tuples(rnd, names)[:10]
    assert len(param_tuples(tpe, names)) == 12
    for lr, bs, mom, wd in param_tuples(tpe, names):
        assert 1e-3 <= lr <= 0.2 and bs in (32, 64, 128, 256) and 0 <= mom <= 0.95 and 1e-6 <= wd <= 1e-2


def test_pruned_trials_count_toward_the_budget(tmp_path):
    space = SearchSpace({"x": (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0)}, n_iter=8, name="x")

    def objective(trial):
        x = space.suggest(trial)["x"]
        for step in (1, 2, 3):
            trial.report(x + step, step)  # larger x is worse at every step
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x + 3

    result = run_search("lenet", tiny_bundle(8, 4, 4), space=space, n_trials=8, pruner="median",
                        objective=objective, out_dir=tmp_path, progress=False)
    df = result.trials_dataframe()
    assert len(df) == 8 and set(df.state) <= {"COMPLETE", "PRUNED"}
    # MedianPruner waits for 5 finished trials; after that, a trial worse than the median is stopped.
    late = df[df.number >= 5]
    assert ((late.state == "PRUNED") == (late.x > df[df.number < 5].x.median())).all()


def test_surplus_rule():
    from types import SimpleNamespace

    def t(number, state, retry_of=None):
        return SimpleNamespace(number=number, state=SimpleNamespace(name=state),
                               system_attrs={} if retry_of is None else {"failed_trial": retry_of})

    trials = [t(0, "COMPLETE"), t(1, "FAIL"), t(2, "RUNNING"), t(3, "WAITING", retry_of=1),
              t(4, "WAITING", retry_of=1), t(5, "WAITING")]
    assert surplus_reason(trials, 3, n_trials=3) is None  # 2 earlier holders (0, 2) < 3
    assert "already re-queued" in surplus_reason(trials, 4, n_trials=5)  # a second re-queue of trial 1
    assert "held by earlier" in surplus_reason(trials, 5, n_trials=4)  # 0, 2, 3, 4 hold the budget
    assert surplus_reason(trials, 2, n_trials=2) is None  # the FAIL trial 1 holds nothing


def test_dead_trial_is_requeued_once_and_the_total_stays_exact(tmp_path):
    """A trial left RUNNING by a dead worker goes stale, is re-queued and run again exactly once."""
    import warnings

    url = f"sqlite:///{tmp_path / 'study.db'}"
    storage = make_storage(url, heartbeat_interval=1, grace_period=2)
    study = load_or_create_study(storage, "s", sampler=make_sampler("random", BYCLASS_GRID, 0))
    objective = cheap_objective(BYCLASS_GRID)
    optimize_exactly(study, objective, 1)

    def take_trial():  # what a worker does before it dies: take a trial, draw its parameters, beat once
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "heartbeat is supposed to be used with optimize"
            trial = study.ask()
        BYCLASS_GRID.suggest(trial)
        storage.record_heartbeat(trial._trial_id)
        return trial

    dead = take_trial()  # trial 1
    ran = optimize_exactly(study, objective, 4, poll_interval=0.5)
    trials = study.get_trials()
    assert trials[1].state.name == "FAIL"
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 4 and ran == 3
    retries = [t for t in complete if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retries) == 1 and retries[0].params == trials[1].params  # the dead trial's params, re-run

    # Two workers noticing the same death may both re-queue it: only one copy may run.
    second = take_trial()
    study.tell(second, state=optuna.trial.TrialState.FAIL)
    frozen = study.trials[second.number]
    _requeue(study, frozen)
    _requeue(study, frozen)
    optimize_exactly(study, objective, 6, poll_interval=0.5)
    complete = [t for t in study.get_trials() if t.state.name == "COMPLETE"]
    assert len(complete) == 6
    assert sum(t.system_attrs.get("failed_trial") == second.number for t in complete) == 1
    params = [tuple(t.params.values()) for t in complete]
    assert len(set(params)) == 6
    surplus = [t for t in study.get_trials() if t.user_attrs.get("surplus")]
    assert len(surplus) == 1 and surplus[0].system_attrs["failed_trial"] == second.number



def test_a_killed_trial_does_not_shift_the_draws_of_a_resumed_search(tmp_path):
    """Kill a trial, let it be re-queued and finish: the finished trials hold exactly the draws of an
    uninterrupted search (the retry draws nothing, so no grid point is skipped)."""
    import warnings

    objective = cheap_objective(BYCLASS_GRID)
    fresh = load_or_create_study(make_storage(f"sqlite:///{tmp_path / 'fresh.db'}"), "s",
                                 sampler=make_sampler("random", BYCLASS_GRID, 7))
    optimize_exactly(fresh, objective, 4)

    storage = make_storage(f"sqlite:///{tmp_path / 'killed.db'}", heartbeat_interval=1, grace_period=2)
    study = load_or_create_study(storage, "s", sampler=make_sampler("random", BYCLASS_GRID, 7))
    optimize_exactly(study, objective, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dead = study.ask()  # a worker takes trial 1, draws its parameters and dies
    BYCLASS_GRID.suggest(dead)
    storage.record_heartbeat(dead._trial_id)
    # A restart after the grace period: the dead trial is failed and re-queued first (trial 2). SQLite's clock
    # has one-second steps, so poll for the staleness rather than sleeping a fixed time.
    from charclf.experiments.tune import _fail_stale_trials

    _wait_for(lambda: (_fail_stale_trials(study), study.trials[1].state.name == "FAIL")[1], 30,
              "the dead trial to go stale")
    optimize_exactly(study, objective, 4, poll_interval=0.5)

    assert study.trials[1].state.name == "FAIL" and study.trials[2].system_attrs.get("failed_trial") == 1
    assert len(study.trials) == 5
    assert sorted(param_tuples(study, BYCLASS_GRID.names)) == sorted(param_tuples(fresh, BYCLASS_GRID.names))


WORKER = textwrap.dedent("""
    import math, os, sys, time
    import torch
    from charclf.data import CharDataset, DataBundle
    from charclf.experiments.tune import BYCLASS_GRID, run_search

    storage, marker, hang = sys.argv[1], sys.argv[2], sys.argv[3] == "hang"
    ds = lambda part: CharDataset(torch.zeros(8, 28, 28, dtype=torch.uint8), torch.arange(8) % 2, ("a", "b"),
                                  "byclass", part, "holdout")
    data = DataBundle(ds("train"), ds("val"), ds("test"), "byclass", "holdout", ("a", "b"))

    def objective(trial):
        p = BYCLASS_GRID.suggest(trial)
        if hang:
            open(marker, "w").write(str(trial.number))
            time.sleep(600)  # killed here, mid-trial, heartbeat thread still beating
        time.sleep(0.4)
        return abs(math.log10(p["lr"]) + 2) + p["momentum"]

    run_search("lenet", data, space=BYCLASS_GRID, n_trials=int(sys.argv[4]), storage=storage,
               study_name="shared", out_dir=os.path.dirname(marker), objective=objective,
               heartbeat_interval=1, grace_period=8, progress=True)  # generous: CI cores are busy
""")


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_workers_one_killed_mid_trial_and_restarted(tmp_path):
    n_trials = 8
    url = f"sqlite:///{tmp_path / 'study.db'}"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    marker = tmp_path / "hung-trial"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))

    def start(mode):
        return subprocess.Popen([sys.executable, str(script), url, str(marker), mode, str(n_trials)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    a = start("hang")
    try:
        _wait_for(marker.exists, 90, "worker A to start a trial")
        b = start("normal")

        def complete_count():
            study = optuna.load_study(study_name="shared", storage=url)
            return sum(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False))

        _wait_for(lambda: complete_count() >= 2, 90, "worker B to finish two trials")
        os.kill(a.pid, signal.SIGKILL)  # mid-trial: its trial stays RUNNING in the database
        a.wait(10)
        a2 = start("normal")
        out_b, _ = b.communicate(timeout=120)
        out_a2, _ = a2.communicate(timeout=120)
    finally:
        for proc in (a, locals().get("b"), locals().get("a2")):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert b.returncode == 0, out_b
    assert a2.returncode == 0, out_a2

    study = optuna.load_study(study_name="shared", storage=url)
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == n_trials
    killed = int(marker.read_text())
    assert study.trials[killed].state.name == "FAIL"
    # The killed trial's parameters were run again, exactly once, and no parameter set ran twice.
    retries = [t for t in complete if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].params == study.trials[killed].params
    params = [tuple(t.params[k] for k in BYCLASS_GRID.names) for t in complete]
    assert len(set(params)) == n_trials
    # Every trial that failed is the killed one or a surplus trial that never trained.
    for t in trials:
        if t.state.name == "FAIL":
            assert t.number == killed or t.user_attrs.get("surplus")


def test_trials_dataframe_and_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    result = run_search("lenet", tiny_bundle(8, 4, 4), space=BYCLASS_GRID, n_trials=6, out_dir=tmp_path,
                        objective=cheap_objective(BYCLASS_GRID), progress=False)
    df = result.trials_dataframe()
    assert {"number", "state", "val_loss", "lr", "batch_size", "momentum", "weight_decay", "worker"} <= set(df.columns)
    fig = plot_search(df)
    assert len(fig.axes) == len(BYCLASS_GRID.names)
    assert [ax.get_xlabel() for ax in fig.axes] == BYCLASS_GRID.names
    assert fig.axes[0].get_ylabel() == "validation loss"
    bare = df.copy()
    bare.attrs = {}
    with pytest.raises(ValueError, match="params"):
        plot_search(bare)


def test_search_space_validation():
    with pytest.raises(ConfigError, match="no choices"):
        SearchSpace({"lr": ()})
    with pytest.raises(ConfigError, match="invalid range"):
        from charclf.experiments.tune import LogUniform

        SearchSpace({"lr": LogUniform(0.0, 1.0)})
    assert BYCLASS_GRID.grid_size == 144 and BYCLASS_GRID.n_iter == 28
    assert BYCLASS_GRID.config_overrides({"lr": 0.1, "batch_size": 16}) == {"optimizer.lr": 0.1, "batch_size": 16}


def test_cli_tune_on_synthetic_official_files(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).parent))
    from synth import make_emnist_dir

    from charclf.apps.cli import main

    root = make_emnist_dir(tmp_path / "data", splits=("byclass",), n=130, holdout=True)
    out = tmp_path / "tune"
    argv = ["tune", "--model", "lenet", "--trials", "2", "--storage", str(tmp_path / "cli.db"), "--study-name",
            "cli", "--epochs-per-trial", "1", "--max-train-samples", "64", "--data-dir", str(root),
            "--split", "byclass", "--protocol", "holdout", "--out", str(out), "--pruner", "none"]
    assert main(argv) == 0
    summary = json.loads((out / "search.json").read_text())
    assert summary["finished"] == 2 and summary["study_name"] == "cli"
    assert summary["spec"]["max_train_samples"] == 64 and summary["spec"]["data"]["split"] == "byclass"
    assert (out / "search.png").exists()
    assert "val_loss" in capsys.readouterr().out
    # Running the same command again finds the budget met and trains nothing more.
    assert main(argv) == 0
    study = optuna.load_study(study_name="cli", storage=f"sqlite:///{tmp_path / 'cli.db'}")
    assert len(study.trials) == 2


def test_results_show_storage_without_password_or_machine_path(tmp_path):
    from charclf.experiments.tune import _safe_url
    from charclf.provenance import REPO_ROOT

    assert _safe_url("postgresql://user:secret@db:5432/x") == "postgresql://***@db:5432/x"
    inside = REPO_ROOT / "outputs" / "runs" / "s" / "study.db"
    assert _safe_url(f"sqlite:///{inside}") == "sqlite:///outputs/runs/s/study.db"
    assert _safe_url(f"sqlite:///{tmp_path}/study.db") == f"sqlite:///{tmp_path}/study.db"  # outside: as given
