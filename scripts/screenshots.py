"""The README's screenshots of the page, taken with the real MetaQA model in headless Chromium.

    .venv/bin/python scripts/screenshots.py [--model runs/qa/metaqa] [--out docs/screenshots]

Writes ask.png (an answer with its evidence graph), cypher.png (the console's table) and
cypher-graph.png (the same rows as a graph). Needs Debian's chromium (apt-get install -y chromium).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTION = "who directed the films Tom Hanks starred in"
QUERY = ("MATCH (m:Entity)-[r:DIRECTED_BY]->(d:Entity {name: 'Michael Mann'})\n"
         "MATCH (m)-[y:RELEASE_YEAR]->(year:Entity)\nRETURN m, r, d, y, year ORDER BY year.name LIMIT 25")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "runs" / "qa" / "metaqa")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from qa.api.server import ServerThread
    from qa.api.settings import ApiSettings

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    args.out.mkdir(parents=True, exist_ok=True)
    with ServerThread(ApiSettings(model_dir=args.model, read_only=True)) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 860})
        page.goto(server.url + "/")
        page.fill("#ask-input", QUESTION)
        page.click("#ask-button")
        page.wait_for_selector("#answers li")
        page.wait_for_function("document.querySelector('#ask-graph').dataset.nodes > 0")
        page.screenshot(path=str(args.out / "ask.png"))
        page.click("#tab-cypher")
        page.fill("#cypher-input", QUERY)
        page.click("#cypher-run")
        page.wait_for_selector("#cypher-results tbody tr")
        page.screenshot(path=str(args.out / "cypher.png"))
        page.click("#view-graph")
        page.wait_for_function("document.querySelector('#cypher-graph').dataset.nodes > 0")
        page.screenshot(path=str(args.out / "cypher-graph.png"))
        browser.close()
    for name in ("ask.png", "cypher.png", "cypher-graph.png"):
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
