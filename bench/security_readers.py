"""Hostile input to the readers (issue 14): each hostile file through ``kgqa ingest``, then fuzzing.

Part 1 writes each file of tests/kg/hostile.py, ingests it with the real CLI into a fresh
embedded store in a child process (killed past ``--cap-mb`` of RSS or ``--timeout`` seconds) and
reports exit status, seconds, peak RSS of the process tree and whether a traceback was printed.
``--root OTHER_CHECKOUT`` runs another checkout's code (the code before a change).

Part 2 runs the seeded hypothesis strategies of tests/kg/test_reader_fuzz.py, ``--fuzz-examples``
cases per reader, counting cases and failures (an exception other than a KGQAError, a record
that would not validate or print) instead of stopping at the first one.

    python bench/security_readers.py [--fuzz-examples 2000] [--skip "10,000 relation types"] [--case NAME]
                                     [--root PATH] [--out FILE]

Prints a table; writes bench/results/security_readers.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.kg.hostile import HOSTILE, run_ingest  # noqa: E402


def hostile_files(root: Path, cap_mb: float, timeout_s: float, skip: list[str],
                  only: list[str]) -> list[dict[str, Any]]:
    rows = []
    for name, case in HOSTILE.items():
        if name in skip or (only and name not in only):
            continue
        with tempfile.TemporaryDirectory() as folder:
            source = Path(folder) / case.file
            case.write(source)
            run = run_ingest(Path(folder) / "graph", source, *case.options, cap_mb=cap_mb, timeout_s=timeout_s,
                             root=root)
            # what the user reads: the error (or the exception's last line), else the last reported record
            lines = [line.strip() for line in (run.stderr.strip() or run.stdout).splitlines() if line.strip()]
            message = lines[-1] if lines else ""
            rows.append({"case": name, "bytes": source.stat().st_size, "exit": run.returncode,
                         "seconds": round(run.seconds, 2), "peak_mb": round(run.peak_mb), "killed": run.killed,
                         "traceback": "Traceback" in run.stderr + run.stdout, "message": message[:160]})
        row = rows[-1]
        print(f"{name:<42} {row['bytes']:>9,} B  exit {row['exit']:>3}  {row['seconds']:>7.1f} s  "
              f"{row['peak_mb']:>6,} MB  {'TRACEBACK ' if row['traceback'] else ''}{row['killed']}", flush=True)
    return rows


def _counting_run(fmt: str, suffix: str, strategy: Any, examples: int, counts: dict[str, int],
                  failures: list[str]) -> Any:
    """A seeded hypothesis run of ``fmt``'s reader that counts cases and failures instead of stopping."""
    from hypothesis import HealthCheck, given, seed, settings

    from tests.kg import test_reader_fuzz as fz

    @seed(14)
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(data: bytes) -> None:
        counts["cases"] += 1
        with tempfile.TemporaryDirectory() as folder:
            try:
                fz._check(Path(folder) / f"fuzz{suffix}", fmt, data)
            except Exception as exc:  # counted, not raised: the run goes on
                counts["failures"] += 1
                if len(failures) < 3:
                    failures.append(f"{type(exc).__name__}: {str(exc)[:120]}")

    return one


def fuzz(examples: int) -> list[dict[str, Any]]:
    import os

    os.environ["KGQA_FUZZ_EXAMPLES"] = str(examples)
    from tests.kg import test_reader_fuzz as fz

    readers = [("triples", ".txt", fz._delimited), ("tsv", ".tsv", fz._delimited), ("csv", ".csv", fz._delimited),
               ("nt", ".nt", fz._ntriples), ("turtle", ".ttl", fz._turtle), ("xml", ".rdf", fz._rdfxml),
               ("json-ld", ".jsonld", fz._jsonld)]
    rows = []
    for fmt, suffix, strategy in readers:
        counts, failures = {"cases": 0, "failures": 0}, []
        one = _counting_run(fmt, suffix, strategy, examples, counts, failures)
        start = time.perf_counter()
        one()
        rows.append({"reader": fmt, **counts, "seconds": round(time.perf_counter() - start, 1),
                     "failure_examples": failures})
        print(f"fuzz {fmt:<8} {counts['cases']:>6,} cases  {counts['failures']:>4} failures  "
              f"{rows[-1]['seconds']:>6.1f} s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose code ingests (default: this one)")
    parser.add_argument("--cap-mb", type=float, default=3000, help="kill an ingest past this RSS")
    parser.add_argument("--timeout", type=float, default=900, help="kill an ingest past this many seconds")
    parser.add_argument("--skip", action="append", default=[], help="a case name to leave out (repeatable)")
    parser.add_argument("--case", action="append", default=[], help="run only this case (repeatable)")
    parser.add_argument("--fuzz-examples", type=int, default=1000, help="cases per reader (0: no fuzzing)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "security_readers.json")
    args = parser.parse_args()
    files = hostile_files(args.root.resolve(), args.cap_mb, args.timeout, args.skip, args.case)
    fuzzed = fuzz(args.fuzz_examples) if args.fuzz_examples else []
    refused = sum(1 for r in files if not r["traceback"] and not r["killed"] and r["exit"] != 0)
    print(f"\nhostile files: {len(files)} tried, {refused} refused or reported cleanly (non-zero exit, no traceback, "
          f"not killed); peak RSS max {max((r['peak_mb'] for r in files), default=0):,} MB")
    if fuzzed:
        print(f"fuzzing: {sum(r['cases'] for r in fuzzed):,} cases, {sum(r['failures'] for r in fuzzed)} failures")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                                    "root": "this checkout" if args.root.resolve() == ROOT else "other checkout",
                                    "cap_mb": args.cap_mb, "timeout_s": args.timeout, "hostile_files": files,
                                    "fuzz": fuzzed}, indent=2))
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
