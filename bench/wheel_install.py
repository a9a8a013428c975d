"""From the wheel to a first answer in an empty folder, as a new user installs kgqa: time and size.

Builds the wheel from a clean copy of the tree, creates a fresh virtual environment in an empty
temporary folder, installs ``requirements.lock`` (every dependency, by hash, from the package index)
and the wheel, then runs ``kgqa demo`` there (ingest, Cypher, training within ``--budget-minutes``, the
first answers) and ``kgqa ask``. Prints a table, writes JSON.

    python bench/wheel_install.py [--budget-minutes 1] [--no-cache]

``--no-cache`` makes pip download every file (several GB: torch's CUDA build and its libraries);
without it pip's local cache serves what an earlier install fetched, so the install time is a lower
bound for a new machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}... failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - start, done.stdout


def main() -> None:
    from tests.test_wheel import build_wheel, clean_env

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget-minutes", type=float, default=1.0, help="kgqa demo's training budget")
    ap.add_argument("--no-cache", action="store_true", help="pip downloads everything (no local cache)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "wheel_install.json"))
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="kgqa-wheel-") as tmp:
        tmp_path = Path(tmp)
        t_build = time.perf_counter()
        wheel = build_wheel(tmp_path / "dist")
        t_build = time.perf_counter() - t_build
        venv, work = tmp_path / "venv", tmp_path / "empty"
        work.mkdir()
        t_venv, _ = timed([sys.executable, "-m", "venv", str(venv)], tmp_path)
        no_cache = ["--no-cache-dir"] if args.no_cache else []
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *no_cache]
        t_deps, _ = timed([*pip, "--require-hashes", "--no-deps", "-r", str(ROOT / "requirements.lock")], tmp_path)
        t_wheel, _ = timed([*pip, "--no-deps", str(wheel)], tmp_path)
        env = clean_env()
        t_demo, demo_out = timed([str(venv / "bin" / "kgqa"), "demo", "--budget-minutes", str(args.budget_minutes)],
                                 work, env)
        t_ask, ask_out = timed([str(venv / "bin" / "kgqa"), "ask", "who directed Forrest Gump", "--json"], work, env)
        answers = [a["name"] for a in json.loads(ask_out)["answers"]]
        row: dict[str, Any] = {
            "wheel_mb": wheel.stat().st_size / 2**20, "venv_mb": du_mb(venv), "build_s": t_build, "venv_s": t_venv,
            "install_deps_s": t_deps, "install_wheel_s": t_wheel, "demo_s": t_demo, "ask_s": t_ask,
            "install_to_first_answer_s": t_venv + t_deps + t_wheel + t_demo, "ask_answers": answers,
            "demo_hits_line": next((line for line in demo_out.splitlines() if "validation Hits@1" in line), ""),
            "pip_cache": not args.no_cache, "budget_minutes": args.budget_minutes,
        }
    meta = {"python": platform.python_version(), "machine": platform.machine(), "time": time.strftime("%Y-%m-%d %H:%M")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "result": row}, indent=1) + "\n", encoding="utf-8")
    print(f"{'wheel MB':>9} {'venv MB':>8} {'deps s':>7} {'wheel s':>8} {'demo s':>7} {'ask s':>6} "
          f"{'to first answer s':>18}  pip cache")
    print(f"{row['wheel_mb']:9.2f} {row['venv_mb']:8.0f} {row['install_deps_s']:7.1f} {row['install_wheel_s']:8.1f} "
          f"{row['demo_s']:7.1f} {row['ask_s']:6.1f} {row['install_to_first_answer_s']:18.1f}  {row['pip_cache']}")
    print(f"demo: {row['demo_hits_line'].strip()}\nask 'who directed Forrest Gump': {answers[:3]}\nwrote {args.out}")


if __name__ == "__main__":
    main()
