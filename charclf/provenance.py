"""Where a number came from: git SHA, machine, library versions — recorded in every artifact."""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=None)
def git_sha(short: bool = False) -> str:
    """The repo's HEAD commit (``+dirty`` when the tree has uncommitted changes), or ``"unknown"``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        # Dirty means the code or configuration differ from the commit. Executed notebooks and outputs/ are what
        # a study run writes itself: counting them would mark every run after the first notebook as dirty.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)notebooks/*.ipynb", ":(exclude)outputs"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if short:
        sha = sha[:10]
    return sha + ("+dirty" if dirty else "")


# The CPU flags that decide how fast (and in which precision) charclf trains on a CPU: AVX2 is the float32
# baseline; AVX512-BF16 and AMX are what oneDNN needs for native bf16 (see charclf.train.precision).
CPU_FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


@lru_cache(maxsize=None)
def cpu_info() -> dict:
    """The CPU's model name and which of ``CPU_FLAGS_OF_INTEREST`` it has (Linux /proc/cpuinfo; elsewhere the
    platform's processor string and no flags)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():  # the first processor's entries describe them all
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            model = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
            break
    return {"cpu_model": model, "cpu_flags": [f for f in CPU_FLAGS_OF_INTEREST if f in flags]}


ISA_LIMITS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")  # oneDNN's and ATen's instruction-set caps


def machine_info() -> dict:
    """A short description of the machine a run used (device name, CPU model and flags, cores, library versions)."""
    import torch

    info = {
        # Distinguishes machines without naming them; hashlib, not hash(): Python salts hash() per process.
        "hostname_hash": int(hashlib.sha256(platform.node().encode()).hexdigest()[:8], 16) % 10**8,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        **cpu_info(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": "cpu",
    }
    # A run made with the kernels capped below the CPU's (to measure an AVX2-only machine on a newer one) says so:
    # cpu_flags name what the CPU has, these what the libraries were allowed to use.
    capped = {name: os.environ[name] for name in ISA_LIMITS if os.environ.get(name)}
    if capped:
        info["isa_limits"] = capped
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        info["onednn_bf16"] = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if torch.cuda.is_available():
        info["device"] = "cuda"
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
    return info


def threads_words(machine: dict) -> str:
    """The CPU threads a run trained with, from its record's ``machine`` (:func:`machine_info`); "?" where it
    is not recorded."""
    threads = machine.get("torch_threads")
    return "?" if threads is None else str(threads)


def machine_words(machine: dict) -> str:
    """The machine image and CPU a run trained on, from its record's ``machine``: the kernel release of its
    platform string, the CPU's model and its fastest bf16 path (AMX, AVX512-BF16 or neither; "CPU unrecorded"
    where the record predates them): an Intel Xeon with AMX and an AMD EPYC with AVX512-BF16 train differently."""
    # The kernel release and architecture, whole: "Linux-6.18.44-fc-v1300-x86_64-with-glibc2.36" -> its middle.
    kernel = str(machine.get("platform", "?")).split("-with-")[0].removeprefix("Linux-")
    flags = machine.get("cpu_flags")
    cpu = ("CPU unrecorded" if flags is None else
           f"{machine.get('cpu_model') or 'CPU'} ({'AMX' if 'amx_bf16' in flags else 'AVX512-BF16' if 'avx512_bf16' in flags else 'no AVX512-BF16'})")
    return f"{kernel}, {cpu}"


def run_metadata(**extra) -> dict:
    """Metadata stamped on every results JSON: git SHA, UTC time, machine, plus ``extra`` (profile, protocol, seed...)."""
    meta = {"git_sha": git_sha(), "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info()}
    meta.update(extra)
    return meta


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicate_keys(pairs: list) -> dict:
    """json's object hook: a key given twice is an error, not "the last one wins" (a hand-edited config)."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def read_text(path: str | Path, fix: str) -> str:
    """The UTF-8 text in ``path``; an unreadable file, a folder or non-UTF-8 bytes is a one-line ``DataError``
    naming the file, with ``fix`` as its fix (JSON and CSV artifacts, the README's generated files)."""
    from charclf.errors import DataError, file_error

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise file_error(path, err, fix) from err
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(path, f"is not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})", fix) from err


def read_json(path: str | Path, fix: str) -> object:
    """The JSON value in ``path``; an unreadable file, a folder, non-UTF-8 bytes or bad JSON is a one-line
    ``DataError`` naming the file, with ``fix`` as its fix (model and run folders' JSON files, config files)."""
    from charclf.errors import DataError

    text = read_text(path, fix)
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except _DuplicateKey as err:
        raise DataError(path, f"holds the key {err.args[0]!r} twice (JSON keeps only the last, silently)", fix) from err
    except json.JSONDecodeError as err:
        raise DataError(path, f"is not valid JSON ({err})", fix) from err


def repo_relative(path) -> str:
    """``path`` relative to the repo root when it lies inside it (artifacts stay portable), else as given."""
    p = Path(path)
    try:
        return p.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(p)
