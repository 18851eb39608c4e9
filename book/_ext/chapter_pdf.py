"""Each chapter page offers that chapter alone as a PDF; the landing page, the whole book.

The theme's download menu has a ".pdf" entry that runs window.print(). On the
chapter pages and the landing page it becomes a link to the PDF `make pdf`
renders with chromium (book/tools/pdf.py) into the site's _pdf/ folder:
_pdf/chapters/NN-slug.pdf, and _pdf/jupyter-field-handbook.pdf for the book.
Other pages keep the print entry (the print stylesheet applies there too).
"""

from __future__ import annotations

from sphinx.application import Sphinx

PDF_DIR = "_pdf"
BOOK_PDF = "jupyter-field-handbook.pdf"
LANDING = "book/index"


def pdf_for(pagename: str) -> tuple[str, str] | None:
    if pagename.startswith("chapters/"):
        return f"{PDF_DIR}/{pagename}.pdf", "Download this chapter as PDF"
    if pagename == LANDING:
        return f"{PDF_DIR}/{BOOK_PDF}", "Download the whole handbook as PDF"
    return None


def link_the_pdf(app: Sphinx, pagename, templatename, context, doctree) -> None:
    target = pdf_for(pagename)
    if target is None or "pathto" not in context:
        return
    path, tooltip = target
    for group in context.get("header_buttons", []):
        for index, button in enumerate(group.get("buttons", [])):
            if button.get("label") == "download-pdf-button":
                group["buttons"][index] = {
                    "type": "link",
                    "url": context["pathto"](path, 1),
                    "text": ".pdf",
                    "tooltip": tooltip,
                    "icon": "fas fa-file-pdf",
                    "label": "download-pdf-button",
                }


def setup(app: Sphinx):
    app.add_css_file("print.css")  # book/_static/print.css, also used by make pdf
    # After sphinx-book-theme adds its header buttons (priority 501).
    app.connect("html-page-context", link_the_pdf, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
