"""The wheel is whole: built from this tree, installed into a fresh virtual environment in an empty folder
(no repository beside it), ``kgqa demo``, ``kgqa train sample``'s config, ``kgqa ask`` and ``kgqa serve``'s
health check work there from the package data alone, and say nothing on stderr.

The fresh environment sees the already-installed dependencies through a ``.pth`` line (pip would
otherwise download a few GB of torch per run); kgqa itself comes only from the wheel, which the test
checks by where ``qa`` is imported from. ``bench/wheel_install.py`` does the full install from the
package index and times it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def clean_tree(dest: Path) -> Path:
    """A copy of the files git tracks (and the untracked ones it does not ignore): no ``build/`` or
    ``*.egg-info`` left by an editable install, whose file lists setuptools would otherwise reuse."""
    git = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True)
    if git.returncode != 0:  # not a git checkout: copy all but what an install or a run leaves behind
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".kgqa", "runs", "test-artifacts"))
        return dest
    listed = git.stdout.split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def build_wheel(out: Path) -> Path:
    """``pip wheel`` of a clean copy of this tree, no build isolation (setuptools from this environment)."""
    tree = clean_tree(out / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(tree)], check=True, capture_output=True, text=True)
    (wheel,) = out.glob("kgqa-*.whl")
    return wheel


def fresh_env(where: Path, wheel: Path) -> Path:
    """A new venv with the wheel installed in it and this environment's dependencies visible; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # After the venv's own site-packages: the wheel's kgqa wins over any editable install of this tree.
    (site / "zz_kgqa_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, text=True)
    return python


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KGQA_", "PYTHON", "NEO4J_"))}
    env["PYTHONWARNINGS"] = "default"  # a warning a user would see must show here too
    return env


def test_the_wheel_carries_the_sample_configs_and_web_page(tmp_path: Path) -> None:
    names = set(zipfile.ZipFile(build_wheel(tmp_path)).namelist())
    for name in ("qa/resources/sample/metaqa_sample.txt", "qa/resources/sample/LICENSE-MetaQA.txt",
                 *(f"qa/resources/sample/questions/{h}-hop/qa_dev.txt" for h in (1, 2, 3)),
                 "qa/resources/configs/sample.json", "qa/web/index.html", "qa/web/app.js",
                 "qa/web/vendor/cytoscape.min.js"):
        assert name in names, f"{name} missing from the wheel"
    assert not any(n.startswith(("tests/", "bench/", "data/")) for n in names)


@pytest.mark.slow
def test_demo_ask_and_serve_from_the_wheel_in_an_empty_folder(tmp_path: Path) -> None:
    python = fresh_env(tmp_path / "venv", build_wheel(tmp_path / "dist"))
    kgqa = python.parent / "kgqa"
    work = tmp_path / "empty"
    work.mkdir()
    env = clean_env()

    where = subprocess.run([str(python), "-c", "import qa, qa.resources; print(qa.__file__)"], cwd=work, env=env,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(tmp_path / "venv"), f"qa imported from {where}, not from the wheel"

    demo = subprocess.run([str(kgqa), "demo", "--budget-minutes", "0.1"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=600)
    assert demo.returncode == 0, demo.stderr
    assert demo.stderr == "", demo.stderr
    assert "Who directed Tom Hanks most often?" in demo.stdout and "validation Hits@1" in demo.stdout
    assert "MetaQA's answer:" in demo.stdout

    ask = subprocess.run([str(kgqa), "ask", "who directed Forrest Gump", "--json"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=300)
    assert ask.returncode == 0, ask.stderr
    assert ask.stderr == "", ask.stderr
    assert json.loads(ask.stdout)["answers"], ask.stdout

    # The bundled config resolves by name outside the repository (a typo gets the list of names).
    bad = subprocess.run([str(kgqa), "train", "sampel"], cwd=work, env=env, capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode != 0 and "sample" in bad.stderr and "Traceback" not in bad.stderr

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(kgqa), "serve", "--port", str(port), "--no-dialogue-head", "--log-level", "warning"],
                              cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        health, deadline = None, time.monotonic() + 240
        while health is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    health = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
        assert health is not None, server.stderr.read() if server.poll() is not None else "no answer in 240 s"
        assert health["status"] == "ok" and health["model"] is True
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert b"<html" in r.read().lower()
    finally:
        server.terminate()
        server.wait(timeout=30)
