"""The knowledge corpus: programme documents split into sections a person would recognise.

A document is a Markdown file: `# Title`, an optional `Source: ...` line, then sections under
`##` or `###` headings. A plain `.txt` dropped in the folder is sectioned by its question-like
or capitalised heading lines. With the `documents` extra installed, a `.docx` is read by its
heading styles (python-docx) and a `.pdf` as plain text (pypdf): the two well-kept pure-Python
readers, so no system tools are needed. Each section gets a stable id: document slug / section
slug.

Under a heading, lines `Also asked: QUESTION` give other ways people ask what the section
answers (the programme team adds one when a question was missed). They are matched against
questions but never shown.
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
    asked: tuple[str, ...] = ()  # other ways of asking what it answers ("Also asked:" lines)

    @property
    def key(self) -> str:
        """A short stable handle for buttons (Telegram allows 64 bytes of button data)."""
        digest = hashlib.blake2s(self.id.encode(), digest_size=9).digest()
        return base64.urlsafe_b64encode(digest).decode()


@dataclass(frozen=True)
class LoadReport:
    sections: list[Section]
    documents: list[tuple[str, int, int]]  # (file name, sections, "Also asked" phrasings)
    problems: list[str]


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:80].rstrip("-") or "section"


def load_corpus(folder: Path | str = DEFAULT_DOCS) -> LoadReport:
    folder = Path(folder)
    sections: list[Section] = []
    documents: list[tuple[str, int, int]] = []
    problems: list[str] = []
    if not folder.is_dir():
        return LoadReport([], [], [f"{folder}: no such folder"])
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        if suffix not in READERS or path.name.startswith(".") or not path.is_file():
            if path.is_file() and path.name.lower() != "readme":
                problems.append(f"{path.name}: skipped (only {', '.join(READERS)} are read)")
            continue
        try:
            text = READERS[suffix](path)
        except UnicodeDecodeError:
            problems.append(f"{path.name}: not UTF-8 text, skipped")
            continue
        except ImportError:
            problems.append(f"{path.name}: skipped; reading {suffix} needs "
                            "`pip install 'sps-bot[documents]'`")
            continue
        except Exception as error:  # a damaged file is reported and skipped, not fatal
            problems.append(f"{path.name}: could not be read ({type(error).__name__}), skipped")
            continue
        if suffix == ".pdf" and not text.strip():
            problems.append(f"{path.name}: no text in it (a scanned image?), skipped")
            continue
        parse = parse_markdown if suffix in (".md", ".docx") else parse_plain_text
        found, doc_problems = parse(text, path)
        sections.extend(found)
        documents.append((path.name, len(found), sum(len(s.asked) for s in found)))
        problems.extend(f"{path.name}: {p}" for p in doc_problems)
    ids = [s.id for s in sections]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    problems.extend(f"duplicate section id {i}" for i in repeated)
    return LoadReport(sections, documents, problems)


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _read_docx(path: Path) -> str:
    """A Word document as this corpus's Markdown: Title / Heading 1 -> `#` once, then headings
    -> `##`/`###`, list paragraphs -> bullets."""
    import docx  # the `documents` extra

    lines: list[str] = []
    titled = False
    for paragraph in docx.Document(str(path)).paragraphs:
        text = " ".join(paragraph.text.split())
        style = (paragraph.style.name if paragraph.style is not None else "").lower()
        if not text:
            continue
        if style in ("title", "heading 1") and not titled:
            lines += [f"# {text}", f"Source: {path.name}", ""]
            titled = True
        elif style.startswith("heading") or style == "title":
            number = style.split()[-1]
            level = 3 if number.isdigit() and int(number) >= 3 else 2
            lines += ["", "#" * level + " " + text]
        elif style.startswith("list"):
            lines.append(f"- {text}")
        else:
            lines += [text, ""]
    return "\n".join(lines)


_PAGE_FURNITURE = re.compile(r"^\s*(?:page\s+)?\d{1,4}(?:\s+of\s+\d{1,4})?\s*$", re.IGNORECASE)


def _read_pdf(path: Path) -> str:
    """A PDF's text, page numbers dropped; sectioned like a plain-text file."""
    from pypdf import PdfReader  # the `documents` extra

    pages = (page.extract_text() or "" for page in PdfReader(str(path)).pages)
    return "\n".join(line for page in pages for line in page.splitlines()
                     if not _PAGE_FURNITURE.match(line))


READERS = {".md": _read_text, ".txt": _read_text, ".docx": _read_docx, ".pdf": _read_pdf}


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
        asked = tuple(match.group(1).strip() for line in body
                      if (match := _ALSO_ASKED.match(line)) and match.group(1).strip())
        text = _tidy("\n".join(line for line in body if not _ALSO_ASKED.match(line)))
        if not text:
            continue
        sections.append(Section(id=f"{doc_slug}/{slugify(heading)}", document=title,
                                source=source, title=heading, text=text, asked=asked))
    return sections


_ALSO_ASKED = re.compile(r"^\s*also asked:(.*)$", re.IGNORECASE)


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
