"""The bill as a PDF: the same HTML page, laid out by WeasyPrint (a real renderer: CSS
paged media, embedded fonts, vector charts), so the PDF and the page cannot disagree.
Chinese needs a CJK font on the machine (`make install` puts in WenQuanYi Micro Hei)."""

from __future__ import annotations

import logging

# WeasyPrint and fontTools narrate every font subset at INFO/WARNING: not paycore's news.
for _name in ("weasyprint", "fontTools"):
    logging.getLogger(_name).setLevel(logging.ERROR)


def render_pdf(html: str) -> bytes:
    """A PDF of a self-contained HTML page (no external resources are fetched)."""
    # Imported here: WeasyPrint with its font and image stack is ~0.9 s of every `paycore`
    # command's and server's start, and only a PDF needs it.
    from weasyprint import HTML  # type: ignore[import-untyped]  # ships no type hints

    pdf: bytes = HTML(string=html, base_url=None).write_pdf()
    return pdf
