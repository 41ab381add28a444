"""Imported at the start of every Python subprocess the tests start (conftest puts this folder on PYTHONPATH): the
tests' synthetic data files skip the NIST-content check there too (``synthetic_data_check``). Never on a user's
path; it does nothing unless the test session named its temporary folder. It imports nothing of charclf itself:
the check is replaced when ``charclf.data.official`` is first imported (a one-image predict must not import
torch, and charclf.data does)."""
import os
import sys

if os.environ.get("CHARCLF_TEST_SYNTHETIC_ROOT"):
    import importlib.abc
    import importlib.util

    class _AfterOfficial(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name != "charclf.data.official":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            sys.meta_path.insert(0, self)
            if spec is None or spec.loader is None:
                return spec
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                import synthetic_data_check

                synthetic_data_check.install(module)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _AfterOfficial())
