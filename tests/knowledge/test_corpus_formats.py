"""Documents dropped into the corpus folder as Word or PDF files (the `documents` extra)."""

from __future__ import annotations

import docx

from knowledge.base import KnowledgeBase
from knowledge.corpus import load_corpus


def write_pdf(path, lines):
    """A one-page PDF whose text is `lines`, with a page number at the foot, built by hand so
    the test needs no PDF writer."""
    text = " ".join(f"({line}) Tj 0 -16 Td" for line in lines)
    stream = f"BT /F1 11 Tf 72 760 Td {text} ET BT /F1 9 Tf 300 40 Td (3) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    body = b"%PDF-1.4\n"
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % number + content + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    path.write_bytes(body)


def test_a_word_document_is_sectioned_by_its_heading_styles(tmp_path):
    document = docx.Document()
    document.add_heading("Regional development days", level=0)
    document.add_paragraph("What to expect on the day.")
    document.add_heading("Travel to the venue", level=1)
    document.add_paragraph("Book rail travel through the programme office.")
    document.add_paragraph("Standard class only", style="List Bullet")
    document.add_heading("Refreshments", level=2)
    document.add_paragraph("Lunch is provided at every venue.")
    document.save(tmp_path / "dev-days.docx")

    report = load_corpus(tmp_path)
    assert report.problems == []
    assert [s.id for s in report.sections] == [
        "dev-days/introduction", "dev-days/travel-to-the-venue", "dev-days/refreshments"]
    travel = report.sections[1]
    assert travel.document == "Regional development days" and travel.source == "dev-days.docx"
    assert travel.text == "Book rail travel through the programme office.\n\n- Standard class only"
    answer = KnowledgeBase(report.sections).ask("is lunch provided?")
    assert answer.answered and answer.sources[0].title == "Refreshments"


def test_a_pdf_is_read_as_text_without_its_page_numbers(tmp_path):
    write_pdf(tmp_path / "venue-guide.pdf", [
        "Venue guide", "ACCESSIBILITY", "Every venue has step-free access and a hearing loop.",
        "CATERING", "Vegetarian and vegan lunches are available on request."])
    report = load_corpus(tmp_path)
    assert report.problems == []
    assert [s.title for s in report.sections] == ["ACCESSIBILITY", "CATERING"]
    assert report.sections[0].document == "Venue guide"
    assert "3" not in report.sections[1].text.split()  # the page number is gone
    answer = KnowledgeBase(report.sections).ask("is there step free access at the venue")
    assert answer.answered and answer.sources[0].title == "ACCESSIBILITY"


def test_a_damaged_pdf_is_reported_and_the_rest_still_load(tmp_path):
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (tmp_path / "guide.md").write_text("# Guide\n\n## Lunch\nLunch is provided.\n",
                                       encoding="utf-8")
    report = load_corpus(tmp_path)
    assert [s.id for s in report.sections] == ["guide/lunch"]
    assert len(report.problems) == 1
    assert report.problems[0].startswith("broken.pdf: could not be read (")


def test_a_pdf_without_text_is_reported_as_probably_scanned(tmp_path):
    write_pdf(tmp_path / "scan.pdf", [])
    report = load_corpus(tmp_path)
    assert report.sections == []
    assert report.problems == ["scan.pdf: no text in it (a scanned image?), skipped"]
