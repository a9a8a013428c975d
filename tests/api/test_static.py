"""What ships with the page and the deployment files: no CDN, the vendored library and its licence,
the package data, and an API service beside Neo4j in docker-compose.yml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "qa" / "web"


def test_the_page_loads_nothing_from_elsewhere() -> None:
    for f in (WEB / "index.html", WEB / "app.js", WEB / "style.css"):
        text = f.read_text()
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text), f
        assert "cdn" not in text.lower(), f
    vendored = (WEB / "vendor" / "cytoscape.min.js").read_text()
    assert "Cytoscape Consortium" in vendored[:500]
    assert "MIT" in (WEB / "vendor" / "LICENSE-cytoscape.txt").read_text() or \
        "Permission is hereby granted" in (WEB / "vendor" / "LICENSE-cytoscape.txt").read_text()
    assert re.findall(r"src=\"([^\"]+)\"", (WEB / "index.html").read_text()) == \
        ["/static/vendor/cytoscape.min.js", "/static/app.js"]


def test_the_static_files_are_package_data() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["qa.web"]
    assert {"*.html", "*.js", "*.css", "vendor/*.js", "vendor/*.txt"} <= set(data)
    assert (WEB / "__init__.py").exists()


def test_compose_brings_up_neo4j_and_the_api_with_volumes() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    api = compose[compose.index("  api:"):compose.index("\nvolumes:")]
    assert "build: ." in api and "condition: service_healthy" in api and "KGQA_STORE: neo4j" in api
    assert "kgqa-data:/data" in api and "kgqa-models:/models" in api and "serve" in api
    assert "kgqa serve" in (ROOT / "Dockerfile").read_text() or '"serve"' in (ROOT / "Dockerfile").read_text()


def test_kgqa_serve_is_a_command() -> None:
    from click.testing import CliRunner

    from qa.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--model", "--token", "--read-only", "--max-upload-mb"):
        assert option in result.output
