"""The study's tooling: what the notebooks call (glue, not library code), the training plan, the results
report, and ``charclf study`` (running the notebooks).

    from charclf.study import setup            # every notebook's first cell
    ctx = setup(SEED, profile=PROFILE, data_dir=DATA_DIR, protocol=PROTOCOL, retrain=RETRAIN)

Modules: ``notebook`` (setup, StudyContext), ``profiles`` (quick / full), ``runs`` (cached runs and the tables
built from their records), ``plan`` (which runs the study trains), ``report`` (README tables), ``runner``
(executing the notebooks), ``nbstrip`` (committing executed notebooks without noise), ``earlier`` and ``findings``
(the notebooks' conclusions, computed from their numbers), ``evaluation`` (notebook 07's tables), ``beyond``
(notebook 11's tables) and ``beyond_found`` (its sentences), ``runid`` (which run a planned run is, as data),
``headline`` (the findings table README.md and notebook 00 share), ``rendercheck`` (the committed notebooks are
the render of HEAD).
"""
from __future__ import annotations

_LAZY = {
    "setup": "charclf.study.notebook", "StudyContext": "charclf.study.notebook",
    "show_table": "charclf.study.notebook",
    "PROFILES": "charclf.study.profiles", "profile_settings": "charclf.study.profiles",
    "Run": "charclf.study.runs", "load_run": "charclf.study.runs", "is_finished_run": "charclf.study.runs",
    "runs_table": "charclf.study.runs", "seed_summary": "charclf.study.runs",
    "generalisation_table": "charclf.study.runs",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'charclf.study' has no attribute {name!r}")
