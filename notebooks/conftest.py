"""Settings for executing the notebooks under pytest (nbmake).

The notebooks' kernels inherit this process's environment, so:
- ``CHARCLF_RETRAIN=1``: the quick profile really trains (instead of loading the committed runs);
- ``CHARCLF_OUTPUTS_DIR``: a temporary folder, so a test run never rewrites the committed artifacts.
"""
import os
import tempfile

os.environ.setdefault("CHARCLF_RETRAIN", "1")
os.environ.setdefault("CHARCLF_OUTPUTS_DIR", tempfile.mkdtemp(prefix="charclf-nbtest-"))
os.environ.setdefault("MPLBACKEND", "Agg")
