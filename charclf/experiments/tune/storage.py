"""Where a study lives: an Optuna RDB storage (a SQLite file by default) with heartbeats, re-queueing of dead
workers' trials, and the stored spec that keeps a worker from joining a study whose trials mean something else.

What this adds to ``optuna.storages.RDBStorage``: a file path turned into a SQLite URL, SQLite's write lock
taken when a transaction begins (SQLite ignores ``SELECT ... FOR UPDATE``, on which Optuna relies to hand a
trial to one worker only), one-line errors, and results files that show no password or machine path.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import optuna
from optuna.exceptions import ExperimentalWarning

from charclf.errors import ConfigError
from charclf.experiments.tune.sampler import RetryCallback
from charclf.fileio import check_writable
from charclf.train.config import RUN_PLACE_FIELDS, dict_differences, with_new_fields

SPEC_ATTR = "charclf_search_spec"
DEFAULT_HEARTBEAT_S = 10  # seconds between a running trial's heartbeats (cli.py repeats it: it imports no Optuna)
MAX_RETRY = 3  # a parameter set that kills its worker more often than this is not re-queued again


def storage_url(storage: str | os.PathLike | None, out_dir: str | os.PathLike | None) -> str:
    """The database URL: as given, a plain file path turned into ``sqlite:///<abs path>``, or by default
    ``sqlite:///<out_dir>/study.db``."""
    if storage is None:
        if out_dir is None:
            raise ConfigError("no storage for the search. Fix: pass storage='sqlite:///path/study.db' (or a "
                              "database URL) or an out_dir, whose study.db is then used")
        return f"sqlite:///{Path(out_dir).resolve() / 'study.db'}"
    storage = str(storage)
    if "://" not in storage:
        return f"sqlite:///{Path(storage).resolve()}"
    return storage


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for another database or an in-memory one)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):]
    return None if path in ("", ":memory:") else Path(path)


def retry_callback():
    """Optuna's callback that re-queues a failed trial's parameters, at most ``MAX_RETRY`` times per set."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return RetryCallback(max_retry=MAX_RETRY)


def make_storage(url: str, *, heartbeat_interval: int = DEFAULT_HEARTBEAT_S, grace_period: int | None = None):
    """An Optuna RDB storage with heartbeats, whose stale (killed) trials the storage's retry callback re-queues,
    once per failure and at most ``MAX_RETRY`` times per parameter set."""
    engine_kwargs = {}
    if url.startswith("sqlite:///"):
        path = sqlite_file(url)
        if path is not None and not path.parent.is_dir():
            check_writable(path.parent, "--storage", for_file=path)  # a file in its way: one line, not mkdir's error
            path.parent.mkdir(parents=True, exist_ok=True)  # another worker may create it meanwhile
        # Several processes share the file: wait for a lock rather than failing after sqlite's 5 s default.
        # isolation_level=None: the sqlite3 module emits no BEGIN of its own (each transaction's BEGIN IMMEDIATE
        # is added below).
        engine_kwargs = {"connect_args": {"timeout": 120, "isolation_level": None}}
    if heartbeat_interval < 1:
        raise ConfigError(f"heartbeat_interval={heartbeat_interval}: must be >= 1 second")
    grace = grace_period if grace_period is not None else max(3 * heartbeat_interval, 2)
    if grace <= heartbeat_interval:
        raise ConfigError(f"grace_period={grace} must exceed heartbeat_interval={heartbeat_interval}, or live "
                          "trials would be declared dead. Fix: e.g. grace_period = 3 x heartbeat_interval")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, grace_period=grace,
                                                 heartbeat_interval=heartbeat_interval,
                                                 heartbeat_stale_trial_callback=retry_callback())
        except Exception as err:  # sqlalchemy errors: bad URL, missing driver, unreachable server
            raise ConfigError(f"cannot open the search storage {url!r}: {err}. Fix: check the URL (e.g. "
                              "sqlite:///outputs/tune/study.db) and that its database driver is installed") from err
    if storage.engine.name == "sqlite":
        # Optuna fails a stale trial, and hands a WAITING trial to one worker, by reading the trial's state and
        # writing the new one under SELECT ... FOR UPDATE. SQLite ignores that clause, so two workers could both
        # fail one dead trial (re-queueing its parameters twice) or both take one WAITING trial. Taking the
        # write lock when a transaction begins makes each such read-and-write atomic across processes.
        from sqlalchemy import event

        event.listen(storage.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return storage


def load_or_create_study(storage, study_name: str, *, sampler=None, pruner=None, spec: dict | None = None):
    """Create the study, or load it when it exists (``load_if_exists``): how a killed search resumes and how
    several workers join one study. ``spec`` (what the trials mean: model, space, epochs, data) is stored with
    the study; joining it with a different spec is refused, since its trials would not be comparable."""
    study = optuna.create_study(storage=storage, study_name=study_name, direction="minimize", sampler=sampler,
                                pruner=pruner, load_if_exists=True)
    if study.direction != optuna.study.StudyDirection.MINIMIZE:
        raise ConfigError(f"study {study_name!r} exists and maximises its objective; a charclf search minimises "
                          "validation loss. Fix: choose another --study-name")
    if spec is not None:
        spec = json.loads(json.dumps(spec, default=str))
        stored = study.user_attrs.get(SPEC_ATTR)
        if isinstance(stored, dict) and isinstance(stored.get("base_config"), dict):
            # a config field added since the study began counts as its default there (its trials ran without it)
            stored = {**stored, "base_config": with_new_fields(stored["base_config"], left_out=RUN_PLACE_FIELDS)}
        if isinstance(stored, dict) and isinstance(stored.get("data"), dict):
            from charclf.data.protocols import with_recorded_index

            # a study from before the index file was recorded ran on the shipped one
            spec = {**spec, "data": with_recorded_index(stored["data"], spec.get("data"))}
        if stored is None:
            study.set_user_attr(SPEC_ATTR, spec)
        elif stored != spec:
            raise ConfigError(f"study {study_name!r} in {getattr(storage, 'url', storage)} was started with other "
                              f"settings (stored -> now: {dict_differences(stored, spec)}). Fix: rerun with the same "
                              "settings to resume it, or choose another --study-name")
    return study


def safe_url(url: str) -> str:
    """The storage URL as a committed results file may show it: no password, and a SQLite file inside the repo
    given relative to the repo root (no machine's absolute path)."""
    if url.startswith("sqlite:///"):
        from charclf.provenance import repo_relative

        return f"sqlite:///{repo_relative(url[len('sqlite:///'):])}"
    from charclf.errors import mask_credentials

    return mask_credentials(url)
