"""Reading documents for text ingestion: plain text and Markdown, a file or a folder.

A :class:`Document` keeps the text exactly as it will be analysed, so every
character span stored as provenance points into it. Markdown markup is blanked
out with spaces rather than removed (``## Up`` → ``   Up``), which keeps the
offsets of the words equal to their offsets in the file's decoded text.

Bad input never stops a folder: a file that is empty, binary, too large or not
decodable is returned as a :class:`DocumentProblem` (error or warning) and the
other files go on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TEXT_EXTENSIONS = (".txt", ".text", ".md", ".markdown")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Document:
    """A decoded document.

    Attributes:
        id: stable id, ``doc:`` + the path relative to the ingested folder (or the file name).
        path: where it was read from.
        title: first Markdown heading or first line, for display.
        text: the analysed text (Markdown markup blanked out, offsets preserved).
        sha256: hash of the raw bytes: an unchanged file is skipped on re-ingest.
        encoding: how the bytes were decoded.
    """

    id: str
    path: str
    title: str
    text: str
    sha256: str
    encoding: str


@dataclass(frozen=True, slots=True)
class DocumentProblem:
    """A file that was skipped (``level="error"``) or read with a caveat (``"warning"``)."""

    path: str
    level: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.level}: {self.reason}"


def iter_documents(root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Document | DocumentProblem]:
    """The documents of a file or of a folder (recursively, text and Markdown files, sorted)."""
    root = Path(root)
    if root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_EXTENSIONS)
        base = root
    elif root.is_file():
        files, base = [root], root.parent
    else:
        yield DocumentProblem(str(root), "error", "not found; give a text or Markdown file or a folder of them")
        return
    for path in files:
        yield read_document(path, base, max_bytes=max_bytes)


def read_document(path: Path, base: Path | None = None, *,
                  max_bytes: int = DEFAULT_MAX_BYTES) -> Document | DocumentProblem:
    """Read and decode one file; a :class:`DocumentProblem` says why it cannot be used."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return DocumentProblem(str(path), "error", f"{size:,} bytes is over the {max_bytes:,}-byte limit; "
                                   "split the file or raise --max-bytes")
        raw = path.read_bytes()
    except OSError as exc:
        return DocumentProblem(str(path), "error", f"cannot be read ({exc.strerror or exc}); check its permissions")
    if not raw.strip():
        return DocumentProblem(str(path), "warning", "empty file; nothing to ingest")
    if b"\x00" in raw[:8192] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return DocumentProblem(str(path), "error", "looks binary (NUL bytes); only text and Markdown are read")
    text, encoding = _decode(raw)
    if text is None:
        return DocumentProblem(str(path), "error", "not decodable as UTF-8, UTF-16 or Windows-1252; re-encode it")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if path.suffix.lower() in (".md", ".markdown"):
        text = blank_markdown(text)
    rel = path.relative_to(base) if base is not None and path.is_relative_to(base) else Path(path.name)
    return Document(id=f"doc:{rel.as_posix()}", path=str(path), title=_title(text, path), text=text,
                    sha256=hashlib.sha256(raw).hexdigest(), encoding=encoding)


def _decode(raw: bytes) -> tuple[str | None, str]:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            return None, ""
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return None, ""


_MD_PATTERNS = [
    re.compile(r"^```.*?^```[^\n]*$", re.MULTILINE | re.DOTALL),  # fenced code blocks
    re.compile(r"<[^>\n]+>"),                                     # html tags
    re.compile(r"!?\[([^\]\n]*)\]\(([^)\n]*)\)"),                 # links and images: keep the text
    re.compile(r"^\s{0,3}(#{1,6}|>+|[-*+]|\d+[.)])\s", re.MULTILINE),  # headings, quotes, list markers
    re.compile(r"(\*\*|__|\*|_|`|~~)(?=\S)|(?<=\S)(\*\*|__|\*|_|`|~~)"),  # emphasis and code spans
    re.compile(r"^\s{0,3}([-*_]\s*){3,}$", re.MULTILINE),          # rules
]


def blank_markdown(text: str) -> str:
    """Markdown with its markup replaced by spaces (same length, same offsets for the words)."""
    chars = list(text)

    def blank(start: int, end: int) -> None:
        for i in range(start, end):
            if chars[i] != "\n":
                chars[i] = " "

    for pattern in _MD_PATTERNS:
        for m in pattern.finditer("".join(chars)):
            if pattern.pattern.startswith("!?\\["):
                blank(m.start(), m.start(1))           # "[" or "!["
                blank(m.end(1), m.end())               # "](url)"
            elif pattern.pattern.startswith("^\\s{0,3}(#"):
                blank(m.start(1), m.end(1))
            else:
                blank(m.start(), m.end())
    return "".join(chars)


def _title(text: str, path: Path) -> str:
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())[:200]
    return path.stem
