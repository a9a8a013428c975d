"""The hostile source files of issue 14 ("Ingest and HTTP"), written on demand (none is committed).

Shared by tests/kg/test_hostile_input.py and bench/security_readers.py. Each entry is
``name -> (file name, writer, kgqa ingest options)``; a writer takes the target path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XSD = "http://www.w3.org/2001/XMLSchema#"


def billion_laughs(path: Path) -> None:
    """~950 bytes: ten levels of ten references each (10**9 "lol"s when expanded)."""
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol;" if i == 1 else f"&lol{i - 1};") * 10}">' for i in range(1, 10)]
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [\n' + "\n".join(entities) + "\n]>\n"
                    f'<rdf:RDF xmlns:rdf="{RDF_NS}" xmlns:ex="http://example.org/">\n'
                    '<rdf:Description rdf:about="http://example.org/a"><ex:p>&lol9;</ex:p></rdf:Description>\n'
                    "</rdf:RDF>\n")


def external_entity(path: Path) -> None:
    """XXE: an entity that would read a local file into a literal."""
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [<!ENTITY x SYSTEM "file:///etc/hostname">]>\n'
                    f'<rdf:RDF xmlns:rdf="{RDF_NS}" xmlns:ex="http://example.org/">\n'
                    '<rdf:Description rdf:about="http://example.org/a"><ex:p>&x;</ex:p></rdf:Description>\n'
                    "</rdf:RDF>\n")


def huge_decimal(path: Path) -> None:
    """107 bytes whose canonical form (rdflib's normalisation) is ten billion digits."""
    path.write_text(f"@prefix xsd: <{XSD}> .\n<http://e/a> <http://e/p> \"1e9999999999\"^^xsd:decimal .\n")


def long_integer_ttl(path: Path) -> None:
    path.write_text(f"@prefix xsd: <{XSD}> .\n<http://e/a> <http://e/p> \"{'9' * 5000}\"^^xsd:integer .\n")


def long_integer_nt(path: Path) -> None:
    path.write_text(f"<http://e/a> <http://e/p> \"{'9' * 5000}\"^^<{XSD}integer> .\n")


def surrogate_nt(path: Path) -> None:
    path.write_text('<http://e/a> <http://e/name> "ok" .\n<http://e/a> <http://e/p> "bad \\uD800 text" .\n')


def surrogate_ttl(path: Path) -> None:
    path.write_text('<http://e/a> <http://e/name> "ok" .\n<http://e/a> <http://e/p> "bad \\uD800 text" .\n')


def surrogate_iri_ttl(path: Path) -> None:
    path.write_text('<http://e/a> <http://e/name> "ok" .\n<http://e/\\uDC00> <http://e/p> <http://e/a> .\n')


def surrogate_jsonld(path: Path) -> None:
    path.write_text('{"@id": "http://e/a",\n "http://e/name": "ok",\n "http://e/p": "bad \\uD800 text"}\n')


def deep_literal(path: Path) -> None:
    """A 50,000-deep rdf:parseType="Literal" (minidom's recursion overflowed)."""
    depth = 50_000
    path.write_text('<?xml version="1.0"?>\n'
                    f'<rdf:RDF xmlns:rdf="{RDF_NS}" xmlns:ex="http://example.org/">\n'
                    '<rdf:Description rdf:about="http://example.org/a"><ex:p rdf:parseType="Literal">'
                    + "<a>" * depth + "x" + "</a>" * depth + "</ex:p></rdf:Description>\n</rdf:RDF>\n")


def single_line_markdown(path: Path) -> None:
    """1 MB in one line (spaCy refuses texts over 1,000,000 characters)."""
    path.write_text("Alfred Hitchcock directed Psycho and " * 27_028 + "\n")


def relation_types(count: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_text("".join(f"entity {i % 7}|relation_type_{i}|entity {i % 11}\n" for i in range(count)))
    return write


@dataclass(frozen=True)
class Hostile:
    file: str
    write: Callable[[Path], None]
    options: tuple[str, ...] = ()


HOSTILE: dict[str, Hostile] = {
    "billion laughs (RDF/XML)": Hostile("laughs.rdf", billion_laughs),
    "external entity (RDF/XML)": Hostile("xxe.rdf", external_entity),
    "1e9999999999 xsd:decimal (Turtle)": Hostile("decimal.ttl", huge_decimal),
    "5,000-digit xsd:integer (Turtle)": Hostile("integer.ttl", long_integer_ttl),
    "5,000-digit xsd:integer (N-Triples)": Hostile("integer.nt", long_integer_nt),
    "lone surrogate (N-Triples)": Hostile("surrogate.nt", surrogate_nt),
    "lone surrogate (Turtle)": Hostile("surrogate.ttl", surrogate_ttl),
    "lone surrogate in an IRI (Turtle)": Hostile("surrogate_iri.ttl", surrogate_iri_ttl),
    "lone surrogate (JSON-LD)": Hostile("surrogate.jsonld", surrogate_jsonld),
    "50,000-deep parseType=Literal (RDF/XML)": Hostile("deep.rdf", deep_literal),
    "1 MB single-line Markdown": Hostile("long.md", single_line_markdown, ("--format", "text")),
    "1,000 relation types (36 KB)": Hostile("types1000.txt", relation_types(1000)),
    "10,000 relation types": Hostile("types10000.txt", relation_types(10_000)),
}


@dataclass
class Run:
    """What ``kgqa ingest`` did: exit status, output, seconds and peak RSS of the process tree."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float
    killed: str = ""


def run_ingest(store: Path, source: Path, *options: str, cap_mb: float = 3000, timeout_s: float = 120,
               root: Path = ROOT) -> Run:
    """``kgqa --path STORE ingest SOURCE`` in a child process, killed past ``cap_mb`` of RSS or ``timeout_s``.

    ``root``: the checkout whose code runs (another one measures the code before a change).
    """
    import psutil

    cmd = [sys.executable, "-c", "from qa.cli import main; main()", "--path", str(store), "ingest", str(source),
           "--no-progress", *options]
    env = {**os.environ, "PYTHONPATH": str(root)}
    start = time.perf_counter()
    out_file, err_file = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")  # pipes could fill and block
    proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=out_file, stderr=err_file, text=True)
    watched = psutil.Process(proc.pid)
    peak = 0
    killed = ""
    while proc.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [watched, *watched.children(recursive=True)]))
        except psutil.Error:
            pass
        if peak > cap_mb * 2**20:
            killed = f"killed past {cap_mb:.0f} MB"
        elif time.perf_counter() - start > timeout_s:
            killed = f"killed past {timeout_s:.0f} s"
        if killed:
            proc.kill()
            break
        time.sleep(0.02)
    proc.wait()
    seconds = time.perf_counter() - start
    with out_file, err_file:
        out_file.seek(0)
        err_file.seek(0)
        return Run(proc.returncode, out_file.read(), err_file.read(), seconds, peak / 2**20, killed)
