"""``charclf data verify``, ``charclf data download`` and ``charclf data fetch-realworld``."""
from __future__ import annotations

import argparse
from pathlib import Path

from charclf.data.official import DATA_ENV, NIST_URL
from charclf.errors import printable


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("data", help="verify or download the EMNIST/MNIST files",
                                   description="Check or fetch the official EMNIST/MNIST files.")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION")
    data_dir_help = f"data directory (default: ${DATA_ENV}, else the repo's data/)"

    verify = actions.add_parser("verify", help="table of every official file (ok / mismatch / missing) and which "
                                               "protocols can run; exit 0 iff at least one can")
    verify.add_argument("--data-dir", default=None, help=data_dir_help)
    verify.set_defaults(func=run, data_command="verify")

    download = actions.add_parser("download", help=f"download and verify NIST's gzip.zip (default {NIST_URL})")
    download.add_argument("--data-dir", default=None, help=data_dir_help)
    download.add_argument("--mirror", action="append", default=None, metavar="URL",
                          help="URL of gzip.zip to try, in the order given (repeatable; replaces the NIST default "
                               "and $CHARCLF_EMNIST_MIRRORS). Every archive's members are checked against NIST's "
                               "pinned sha256 (a mirror's SHA256SUMS, if any, must also match its archive)")
    download.add_argument("--allow-non-nist-mirror", action="store_true",
                          help="accept a mirror whose members are not NIST's files, checked against the mirror's "
                               "own SHA256SUMS only (results on its data are not comparable with published ones)")
    download.add_argument("--mnist", action="store_true",
                          help="also download classic (LeCun) MNIST, ~12 MB, into <data dir>/mnist/")
    download.add_argument("--force", action="store_true", help="download again even if a verified archive exists")
    download.add_argument("--no-progress", action="store_true", help="no progress bar")
    download.set_defaults(func=run, data_command="download")

    real = actions.add_parser("fetch-realworld", help="fetch the real-world handwriting set (photos, tablet "
                                                      "drawings, scans; not NIST) with sha256 checks")
    real.add_argument("--dir", default=None, help="where to put it (default: <data dir>/realworld)")
    real.add_argument("--from-mirror", default=None, metavar="DIR",
                      help="read the files from git snapshots DIR/OWNER+NAME/repo instead of the internet")
    real.add_argument("--manifest", default=None, help="manifest CSV (default: the package's)")
    real.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    real.set_defaults(func=run, data_command="fetch-realworld")

    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    return parser


def run(args) -> int:
    if args.data_command == "download":
        return _download(args)
    if args.data_command == "fetch-realworld":
        from charclf.data.realworld import run_fetch

        return run_fetch(args)
    return _verify(args)


def _verify(args) -> int:
    import pandas as pd

    from charclf.data.official import resolve_data_dir
    from charclf.data.verify import runnable_protocols, verify_data_dir

    root = resolve_data_dir(args.data_dir)
    table = verify_data_dir(root)
    protocols = runnable_protocols(table)
    with pd.option_context("display.max_rows", None, "display.max_colwidth", 70, "display.width", 200):
        print(f"data directory: {printable(root.resolve())}\n")
        shown = table.copy()  # a raw copy is named on disk without the official name's .gz: show that name
        raw = shown["layout"] == "raw"
        shown.loc[raw, "file"] = [Path(str(loc)).name for loc in shown.loc[raw, "location"]]
        print(shown[["dataset", "part", "kind", "status", "layout", "file", "note"]].to_string(index=False))
        counts = table["status"].value_counts().to_dict()
        print("\nfiles: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        print("\nprotocols:")
        print(protocols.to_string(index=False))
    can = protocols[protocols["runnable"]]
    if can.empty:
        # Only the damaged files a protocol lacks (a damaged mapping of another split stops nothing here).
        needed = {(r.dataset, item.strip()) for r in protocols.itertuples() for item in str(r.missing).split(",")}
        stops = [(d, f"{p} {k}".strip()) in needed or (k == "mapping" and (d, "a usable mapping") in needed)
                 for d, p, k in zip(shown["dataset"], shown["part"], shown["kind"])]
        bad = shown[shown["status"].isin(["damaged", "mismatch"]).to_numpy() & pd.Series(stops).to_numpy()]
        if not root.exists():
            why = "the folder does not exist"
        elif not bad.empty:  # the files are there, and some of those a protocol needs are not NIST's
            why = ("a file each protocol needs is damaged or not NIST's: "
                   + ", ".join(f"{r.file} ({r.status})" for r in bad.itertuples()))
        else:
            why = "the files each protocol needs are missing"
        fix = (f"replace the files named with NIST's (`charclf data download --data-dir {root}`)" if not bad.empty
               else f"pass the folder that holds emnist/ and mnist/ (--data-dir or ${DATA_ENV}), put the files "
                    f"there (see data/README.md), or run `charclf data download --data-dir {root}`")
        print(f"\nno protocol can run with {printable(root)} ({why}). Fix: {fix}")
        return 1
    print("\nrunnable: " + ", ".join(f"{r.dataset}/{r.protocol}" for r in can.itertuples()))
    return 0


def _download(args) -> int:
    from charclf.data.download import download_emnist, download_mnist

    path = download_emnist(args.data_dir, args.mirror, progress=not args.no_progress, force=args.force,
                           allow_non_nist=args.allow_non_nist_mirror)
    if args.allow_non_nist_mirror:
        print(f"EMNIST archive: {printable(path)} (--allow-non-nist-mirror: members checked against NIST's sums, or else the "
              "mirror's own SHA256SUMS; `charclf data verify` shows which files are NIST's)")
    else:
        print(f"verified EMNIST archive (every member matches NIST's pinned sha256): {printable(path)}")
    if args.mnist:
        print(f"classic MNIST: {download_mnist(args.data_dir, progress=not args.no_progress)}")
    return 0
