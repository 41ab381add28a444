"""The tests' data folders hold small synthetic files under NIST's official names, whose bytes are not NIST's, so
loading would refuse them (``charclf.data.official.check_official_content``). :func:`install` skips that check
for files under ``$CHARCLF_TEST_SYNTHETIC_ROOT`` only (the pytest session's temporary folder): the real data the
tests and the notebooks read is checked as it is outside the tests. Used by ``tests/conftest.py`` in the test
process and by ``sitecustomize.py`` beside it in the processes the tests start."""
from __future__ import annotations

import os
from pathlib import Path

ROOT_ENV = "CHARCLF_TEST_SYNTHETIC_ROOT"


def install(official=None) -> None:
    """Replace ``official.check_official_content`` (``official``: the module ``charclf.data.official``, given by an
    import hook that has just loaded it; imported here otherwise)."""
    if official is None:
        from charclf.data import official

    real = getattr(official.check_official_content, "real", official.check_official_content)

    def check_unless_synthetic(src, stored, idx):
        root = os.environ.get(ROOT_ENV)
        if root and Path(src.path).resolve().is_relative_to(Path(root).resolve()):
            return True  # checked as if NIST's: cached like real data
        return real(src, stored, idx)

    check_unless_synthetic.real = real
    official.check_official_content = check_unless_synthetic
