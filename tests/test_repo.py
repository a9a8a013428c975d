"""Facts about the repository that a newcomer relies on."""

from __future__ import annotations

import re

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
