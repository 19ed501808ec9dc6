"""The knowledge corpus: programme documents split into sections a person would recognise.

A document is a Markdown file: `# Title`, an optional `Source: ...` line, then sections under
`##` or `###` headings. A plain `.txt` dropped in the folder is sectioned by its question-like
or capitalised heading lines. Each section gets a stable id: document slug / section slug.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DOCS = Path(__file__).with_name("docs")


@dataclass(frozen=True)
class Section:
    id: str  # "sps-programme-faq/will-expenses-be-paid"
    document: str  # document title
    source: str  # where the document came from
    title: str  # section title
    text: str  # the section body, Markdown-light: paragraphs and "- " bullets

    @property
    def key(self) -> str:
        """A short stable handle for buttons (Telegram allows 64 bytes of button data)."""
        digest = hashlib.blake2s(self.id.encode(), digest_size=9).digest()
        return base64.urlsafe_b64encode(digest).decode()


@dataclass(frozen=True)
class LoadReport:
    sections: list[Section]
    documents: list[tuple[str, int]]  # (file name, sections)
    problems: list[str]


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:80].rstrip("-") or "section"


def load_corpus(folder: Path | str = DEFAULT_DOCS) -> LoadReport:
    folder = Path(folder)
    sections: list[Section] = []
    documents: list[tuple[str, int]] = []
    problems: list[str] = []
    if not folder.is_dir():
        return LoadReport([], [], [f"{folder}: no such folder"])
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".md", ".txt") or path.name.startswith("."):
            if path.is_file() and path.name.lower() != "readme":
                problems.append(f"{path.name}: skipped (only .md and .txt are read)")
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            problems.append(f"{path.name}: not UTF-8 text, skipped")
            continue
        parse = parse_markdown if path.suffix.lower() == ".md" else parse_plain_text
        found, doc_problems = parse(text, path)
        sections.extend(found)
        documents.append((path.name, len(found)))
        problems.extend(f"{path.name}: {p}" for p in doc_problems)
    ids = [s.id for s in sections]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    problems.extend(f"duplicate section id {i}" for i in repeated)
    return LoadReport(sections, documents, problems)


def parse_markdown(text: str, path: Path) -> tuple[list[Section], list[str]]:
    problems: list[str] = []
    lines = text.replace("\r\n", "\n").split("\n")
    title = ""
    source = path.name
    parts: list[tuple[str, list[str]]] = [("Introduction", [])]
    for line in lines:
        before_sections = len(parts) == 1  # header lines count only before the first heading
        if line.startswith("# ") and before_sections and not title:
            title = line[2:].strip()
        elif line.lower().startswith("source:") and before_sections:
            source = line.split(":", 1)[1].strip()
        elif re.match(r"^#{2,3} ", line):
            parts.append((line.lstrip("#").strip(), []))
        else:
            parts[-1][1].append(line)
    if not title:
        title = path.stem.replace("-", " ").capitalize()
        problems.append("no '# Title' line: the file name is used as its title")
    return _sections(path.stem, title, source, parts), problems


def parse_plain_text(text: str, path: Path) -> tuple[list[Section], list[str]]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    non_empty = [line for line in lines if line.strip()]
    if not non_empty:
        return [], ["empty document"]
    title = non_empty[0].strip()
    parts: list[tuple[str, list[str]]] = [("Introduction", [])]
    for line in lines[lines.index(non_empty[0]) + 1:]:
        stripped = line.strip()
        if _looks_like_heading(stripped):
            parts.append((re.sub(r"^\d+[.)]\s*", "", stripped), []))
        else:
            parts[-1][1].append(stripped)
    return _sections(path.stem, title, path.name, parts), []


def _looks_like_heading(line: str) -> bool:
    if not line or len(line) > 120 or line.startswith("-"):
        return False
    if re.match(r"^\d+[.)]\s+\S.*\?$", line):
        return True
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 4 and all(c.isupper() for c in letters)


def _sections(stem: str, title: str, source: str,
              parts: list[tuple[str, list[str]]]) -> list[Section]:
    doc_slug = slugify(stem)
    sections = []
    for heading, body in parts:
        text = _tidy("\n".join(body))
        if not text:
            continue
        sections.append(Section(id=f"{doc_slug}/{slugify(heading)}", document=title,
                                source=source, title=heading, text=text))
    return sections


def _tidy(text: str) -> str:
    """Blank-line separated paragraphs, one bullet per line."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    tidy = []
    for paragraph in paragraphs:
        lines = paragraph.split("\n")
        if any(line.lstrip().startswith(("- ", "* ")) for line in lines):
            tidy.append("\n".join(line.strip() for line in lines))
        else:
            tidy.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(tidy)
