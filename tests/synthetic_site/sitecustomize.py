"""Imported at the start of every Python subprocess the tests start (conftest puts this folder on PYTHONPATH): the
tests' synthetic data files skip the NIST-content check there too (``synthetic_data_check``). Never on a user's
path; it does nothing unless the test session named its temporary folder."""
import os

if os.environ.get("CHARCLF_TEST_SYNTHETIC_ROOT"):
    import synthetic_data_check

    synthetic_data_check.install()
