"""The tune package's pieces: spaces as Optuna distributions, draws that match the committed studies, the typed
divergence error, Ctrl-C in ``charclf tune``, and no use of Optuna's private attributes."""
from __future__ import annotations

import ast
import logging
import shutil
from pathlib import Path

import pytest
import torch

optuna = pytest.importorskip("optuna")
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # noqa: E402

from charclf.errors import ConfigError, DivergenceError, TrainingError  # noqa: E402
from charclf.experiments import tune  # noqa: E402
from charclf.experiments.tune import BYCLASS_GRID, CONTINUOUS_SPACE, SearchSpace, make_sampler  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "charclf" / "experiments" / "tune"
COMMITTED = REPO / "outputs" / "runs" / "full" / "05_random_search"

pytestmark = pytest.mark.usefixtures("one_thread")


def test_every_module_of_the_package_is_small():
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text().splitlines()) < 600, path


def test_the_package_reads_no_private_attribute_of_optuna_objects():
    """``study._storage``, ``trial._trial_id`` ... change between Optuna releases: only ``self._x`` is ours."""
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                assert isinstance(node.value, ast.Name) and node.value.id == "self", \
                    f"{path.name}:{node.lineno} reads .{node.attr}"


def test_cli_constants_agree_with_the_modules_it_does_not_import():
    from charclf.experiments.tune import cli, storage

    assert sorted(cli.SPACE_NAMES) == sorted(tune.SPACES)
    assert cli.DEFAULT_HEARTBEAT_S == storage.DEFAULT_HEARTBEAT_S


def test_a_space_takes_optuna_distributions_and_describes_them_as_stored_studies_do():
    space = SearchSpace({"lr": FloatDistribution(1e-4, 1e-1, log=True), "epochs": IntDistribution(1, 8),
                         "width": IntDistribution(8, 64, log=True), "bs": CategoricalDistribution([16, 32]),
                         "m": FloatDistribution(0.0, 0.9, step=0.1)}, n_iter=3, name="mixed")
    assert space.params["bs"] == (16, 32) and not space.is_grid and space.grid_size is None
    # The JSON form is the one studies begun before the move to Optuna's distributions stored (their spec).
    assert space.describe()["params"] == {"lr": {"log_uniform": [1e-4, 1e-1]}, "epochs": {"int_uniform": [1, 8]},
                                          "width": {"int_log_uniform": [8, 64]}, "bs": {"choices": [16, 32]},
                                          "m": {"uniform": [0.0, 0.9], "step": 0.1}}
    assert CONTINUOUS_SPACE.describe()["params"]["lr"] == {"log_uniform": [1e-3, 0.2]}
    study = optuna.create_study(sampler=make_sampler("random", space, 3))
    trial = study.ask()
    params = space.suggest(trial)
    assert trial.distributions == space.distributions()
    assert 1e-4 <= params["lr"] <= 1e-1 and isinstance(params["epochs"], int) and params["bs"] in (16, 32)
    assert round(params["m"] * 10) == pytest.approx(params["m"] * 10)
    with pytest.raises(ConfigError, match="not a grid"):
        space.grid()


def test_the_sampler_draws_what_the_committed_notebook_05_study_drew(tmp_path):
    """The committed random search (a killed trial and its retry included) is the sampler's sequence: a resumed or
    re-run search continues it, and TPE's copied start is the same draws."""
    db = COMMITTED / "resnet-grid" / "study.db"
    if not db.is_file():
        pytest.skip("the committed notebook-05 study is not in this checkout")
    shutil.copy(db, tmp_path / "study.db")  # opening a storage may write to it: never touch the committed file
    committed = optuna.load_study(study_name=None, storage=f"sqlite:///{tmp_path / 'study.db'}")
    seed = committed.user_attrs[tune.SPEC_ATTR]["seed"]
    drawn = [t.params for t in committed.trials if t.system_attrs.get("failed_trial") is None]
    replay = optuna.create_study(sampler=make_sampler("random", BYCLASS_GRID, seed))
    replay.optimize(lambda trial: sum(BYCLASS_GRID.suggest(trial).values()), n_trials=len(drawn))
    assert [t.params for t in replay.trials] == drawn and len(drawn) >= 28
    tpe = optuna.create_study(sampler=make_sampler("tpe", BYCLASS_GRID, seed))
    tpe.optimize(lambda trial: sum(BYCLASS_GRID.suggest(trial).values()), n_trials=tune.TPE_STARTUP_TRIALS)
    assert [t.params for t in tpe.trials] == drawn[:tune.TPE_STARTUP_TRIALS]


def test_the_committed_searches_still_load_as_notebook_05_renders_them(tmp_path):
    """The stored spec of each committed study describes its space as this code does (else notebook 05's render
    would refuse to join it), and the trials table reads its retries through Optuna's public API."""
    for name in ("resnet-grid", "resnet-grid-tpe"):
        db = COMMITTED / name / "study.db"
        if not db.is_file():
            pytest.skip("the committed notebook-05 studies are not in this checkout")
        shutil.copy(db, tmp_path / f"{name}.db")
        study = optuna.load_study(study_name=None, storage=f"sqlite:///{tmp_path / name}.db")
        assert study.user_attrs[tune.SPEC_ATTR]["space"] == BYCLASS_GRID.describe()
        df = tune.trials_dataframe(study, BYCLASS_GRID)
        retries = df.dropna(subset=["retry_of"])
        for _, row in retries.iterrows():  # a retry re-ran its failed trial's parameters
            failed = study.trials[int(row.retry_of)]
            assert failed.state.name == "FAIL" and failed.params == {k: row[k] for k in BYCLASS_GRID.names}


def test_a_non_finite_loss_raises_the_typed_divergence_error():
    from charclf.train.loop import train_epoch

    assert issubclass(DivergenceError, TrainingError)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 2))
    with torch.no_grad():
        model[1].bias.fill_(float("nan"))
    images, labels = torch.zeros(8, 28, 28, dtype=torch.uint8), torch.arange(8) % 2
    with pytest.raises(DivergenceError, match="NaN/inf at epoch 3"):
        train_epoch(model, torch.optim.SGD(model.parameters(), lr=0.1), None, torch.nn.CrossEntropyLoss(), None,
                    images, labels, batch_size=4, mean=0.0, std=1.0, amp_dtype=None, channels_last=False,
                    generator=torch.Generator().manual_seed(0), epoch=3)


def test_divergence_is_told_by_its_type_not_by_words_in_a_message(monkeypatch):
    """Only a DivergenceError prunes a trial as diverged; another training error — even one whose text holds
    "inf" or "nan", as "info" and "finance" do — stops the search, as any bug should."""
    import charclf.train
    from charclf.train.recipes import get_recipe
    from synth import quadrant_bundle

    space = SearchSpace({"lr": (0.1,)}, n_iter=1)

    def run_with(err):
        def fail(*args, **kwargs):
            raise err
        monkeypatch.setattr(charclf.train, "fit", fail)  # fit_objective imports it when it is built
        objective = tune.fit_objective("lenet", quadrant_bundle(8, 4, 4, 0), get_recipe("byclass_study"), space,
                                       epochs_per_trial=1)
        study = optuna.create_study()
        study.optimize(objective, n_trials=1)
        return study.trials[0]

    diverged = run_with(DivergenceError("the training loss became NaN/inf at epoch 1"))
    assert diverged.state.name == "PRUNED" and diverged.user_attrs["diverged"] is True
    with pytest.raises(TrainingError, match="info"):
        run_with(TrainingError("out/run: holds a trained run (info.json) but no resume state"))


def test_ctrl_c_in_charclf_tune_prints_one_line_and_no_traceback(tmp_path, capfd):
    from charclf.experiments.tune.cli import saved_on_interrupt
    from synth import quadrant_bundle

    def interrupted(trial):
        BYCLASS_GRID.suggest(trial)
        raise KeyboardInterrupt  # the user presses Ctrl-C mid-trial

    url = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.logging.get_logger("optuna")  # Optuna's default handler, on which it logs the failed trial
    assert logging.getLogger("optuna").handlers
    result = saved_on_interrupt(lambda: tune.run_search(
        "lenet", quadrant_bundle(8, 4, 4, 0), space=BYCLASS_GRID, n_trials=2, storage=url, study_name="s",
        out_dir=tmp_path, objective=interrupted, progress=False), "s", url)
    err = capfd.readouterr().err
    assert result is None
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0] and "'s' is saved in" in lines[0] and "Fix: run the same " \
        "command again" in lines[0], err
    assert all(not h.filters for h in logging.getLogger("optuna").handlers)  # the filter is gone afterwards
    # The interrupted trial was re-queued: the next run starts with its parameters.
    study = optuna.load_study(study_name="s", storage=url)
    assert [t.state.name for t in study.trials] == ["FAIL", "WAITING"]
    assert study.trials[1].params == study.trials[0].params


def test_a_run_folder_keeps_the_divergence_type_with_its_last_good_checkpoint(tmp_path):
    """fit adds where the last good state is to the message of a divergence in a run folder; the error stays a
    DivergenceError, so a caller (a search) can still tell it from other training errors."""
    from test_engine import NaNAfter, bundle, config

    from charclf.train import fit

    with pytest.raises(DivergenceError, match="last good checkpoint"):
        fit(NaNAfter(good_steps=10), bundle(), config(model="nan_after", epochs=3, log_every=100), tmp_path / "run",
            progress=False)


def test_charclf_tune_returns_130_after_ctrl_c(tmp_path, monkeypatch, capfd):
    from charclf.apps.cli import main
    from charclf.experiments.tune import search
    from synth import make_emnist_dir

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(search, "run_search", interrupted)
    root = make_emnist_dir(tmp_path / "data", splits=("byclass",), n=130, holdout=True)
    argv = ["tune", "--model", "lenet", "--data-dir", str(root), "--out", str(tmp_path / "out"), "--seed", "3"]
    assert main(argv) == 130
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'lenet-byclass_grid-random-s3' is saved in sqlite:///" in err[0], err


@pytest.mark.parametrize("case", ["--out is a file", "--model nosuch", "--storage under a file"])
def test_an_unusable_out_model_or_storage_is_one_line_before_any_study_exists(tmp_path, monkeypatch, capsys, case):
    import charclf.data
    from charclf.apps.cli import main
    from synth import make_emnist_dir

    root = make_emnist_dir(tmp_path / "data", splits=("byclass",), n=130, holdout=True)
    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    out, model, storage = tmp_path / "out", "lenet", []
    if case == "--storage under a file":  # known once the data has loaded, before the study is made
        storage = ["--storage", str(taken / "study.db")]
    else:  # refused before the data loads
        out, model = (taken, model) if case == "--out is a file" else (out, "nosuch")
        monkeypatch.setattr(charclf.data, "load_data", lambda *a, **k: pytest.fail("the data loaded"))
    capsys.readouterr()
    rc = main(["tune", "--model", model, "--data-dir", str(root), "--out", str(out), *storage, "--trials", "1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err and "Fix:" in err, err
    assert ("unknown model 'nosuch'" if model == "nosuch" else f"{taken}: is a file") in err, err
    assert taken.read_text() == "not a folder" and not (tmp_path / "out").exists()


def test_run_search_refuses_an_unknown_model_before_its_database_exists(tmp_path):
    from charclf.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="unknown model 'nosuch'"):
        tune.run_search("nosuch", None, out_dir=tmp_path / "s", progress=False)
    assert not (tmp_path / "s").exists()
