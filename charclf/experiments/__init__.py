"""Experiments: studies built on the package's layers (data, models, train, evaluate) that write their own
artifacts and can be run as one command, e.g. ``python -m charclf.experiments.label_audit``.

Modules are imported on demand (``from charclf.experiments import label_audit``): each may need an optional
extra (the label audit needs ``cleanlab``, ``pip install charclf[audit]``).
"""
