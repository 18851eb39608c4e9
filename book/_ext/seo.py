"""Be found: sitemap, robots.txt, canonical URLs, share metadata, 404 and root page.

Everything is driven by ONE setting, ``html.baseurl`` in _config.yml (Sphinx's
``html_baseurl``): the absolute URL the site is published at, ending in "/",
e.g. ``https://OWNER.github.io/REPO/``. The deploy workflow writes it there
from the GitHub Pages configuration before it builds.

With a base URL:
- every page has ``<link rel="canonical">`` (Sphinx writes it);
- ``sitemap.xml`` lists every page, also after an incremental build;
- every page is described by its first paragraph (``<meta name="description">``
  and ``og:description``); Open Graph and Twitter card tags name the page's
  absolute URL and a social image drawn here (``_static/social-card.png``);
- ``robots.txt`` names the sitemap.

Without one (local builds, ``make test``) the site is the same minus what
needs an absolute URL: no canonical link, no sitemap, no og:url / og:image
(relative ones are invalid there), and robots.txt without a Sitemap line.

Always:
- ``index.html`` at the root is a valid redirect page (doctype, language,
  title, canonical link) to the landing page, not a bare meta refresh;
- ``404.html`` is a self-contained page (inline style, no relative asset) that
  works at any depth under any sub-path: its links use the base URL's path
  when there is one, else a small script finds the site root by probing.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from urllib.parse import urlsplit

from docutils import nodes
from sphinx.application import Sphinx

SOCIAL_CARD = "_static/social-card.png"
SOCIAL_CARD_ALT = "{title}: every example executed against real Jupyter."
SITEMAP = "sitemap.xml"
# Search engines show about this many characters of a description.
DESCRIPTION_LENGTH = 200
# Not the page's own words: notes, side boxes, figure captions, cell outputs.
SKIPPED_FOR_SUMMARY = (nodes.Admonition, nodes.sidebar, nodes.topic, nodes.caption, nodes.container)
PAGE_DESCRIPTIONS = {
    "search": "Search {title}: every chapter, from kernels and magics to deployment and CI.",
    "genindex": "Index of {title}.",
}


def book_title(config) -> str:
    """jupyter-book sets html_title from _config.yml's title, not Sphinx's project."""
    return config.html_title or config.project


def base_url(app: Sphinx) -> str:
    url = (app.config.html_baseurl or "").strip()
    return url if not url or url.endswith("/") else url + "/"


def configure(app: Sphinx, config) -> None:
    url = (config.html_baseurl or "").strip()
    if url and not url.endswith("/"):
        config.html_baseurl = url + "/"


def first_paragraph(doctree) -> str:
    """The page's first paragraph of body text, on one line (its summary)."""
    for paragraph in doctree.findall(nodes.paragraph):
        if any(isinstance(parent, SKIPPED_FOR_SUMMARY) for parent in ancestors(paragraph)):
            continue
        text = " ".join(paragraph.astext().split())
        if text:
            return text
    return ""


def ancestors(node):
    while node.parent is not None:
        node = node.parent
        yield node


def shorten(text: str, limit: int = DESCRIPTION_LENGTH) -> str:
    """At most `limit` characters, cut at a word boundary."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "\u2026"


def share_metadata(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """The page's description, Open Graph tags and Twitter card."""
    title = book_title(app.config)
    if doctree is None:
        # Sphinx's own pages (search, index) have no document to describe them.
        if pagename in PAGE_DESCRIPTIONS:
            text = PAGE_DESCRIPTIONS[pagename].format(title=title)
            context["metatags"] = context.get("metatags", "") + meta("name", "description", text)
        return
    description = shorten(first_paragraph(doctree))
    page_title = app.env.titles[pagename].astext() if pagename in app.env.titles else title
    tags = [
        meta("name", "description", description),
        meta("property", "og:title", page_title),
        meta("property", "og:type", "website"),
        meta("property", "og:site_name", title),
        meta("property", "og:description", description),
    ]
    if base_url(app):  # absolute URLs only: a relative og:url or og:image is invalid
        tags += [
            meta("property", "og:url", base_url(app) + pagename + app.builder.out_suffix),
            meta("property", "og:image", base_url(app) + SOCIAL_CARD),
            meta("property", "og:image:alt", SOCIAL_CARD_ALT.format(title=title)),
            meta("name", "twitter:card", "summary_large_image"),
        ]
    else:
        tags.append(meta("name", "twitter:card", "summary"))
    context["metatags"] = context.get("metatags", "") + "".join(tags)


def meta(attribute: str, key: str, content: str) -> str:
    return f'<meta {attribute}="{key}" content="{html.escape(content)}" />\n'


def write_sitemap(app: Sphinx, exception) -> None:
    """sitemap.xml: every page of the book, also those an incremental build did
    not rewrite. Needs the base URL: a sitemap lists absolute addresses."""
    if exception or app.builder.format != "html" or not base_url(app):
        return
    urls = "".join(
        f"<url><loc>{html.escape(base_url(app) + docname + app.builder.out_suffix)}</loc></url>"
        for docname in sorted(app.env.found_docs)
    )
    (Path(app.outdir) / SITEMAP).write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>\n',
        encoding="utf-8",
    )


def landing(app: Sphinx) -> str:
    """The landing page: the toc's root document (book/index.html here)."""
    return app.config.root_doc + app.builder.out_suffix


def root_page(app: Sphinx) -> str:
    start = landing(app)
    title = html.escape(book_title(app.config))
    canonical = base_url(app) + start if base_url(app) else start
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="canonical" href="{html.escape(canonical)}">
<link rel="icon" href="favicon.ico">
<meta http-equiv="Refresh" content="0; url={start}">
</head>
<body>
<p><a href="{start}">{title}</a></p>
</body>
</html>
"""


NOT_FOUND_STYLE = """
body { margin: 0; font: 1.05rem/1.6 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: #1f2328; background: #fff; }
main { max-width: 40rem; margin: 10vh auto; padding: 0 1.25rem; }
h1 { color: #1a4f8b; font-size: 2rem; margin: 0 0 .5rem; }
a { color: #0a5796; }
form { display: flex; gap: .5rem; margin-top: 1.5rem; flex-wrap: wrap; }
label { flex-basis: 100%; font-weight: 600; }
input { flex: 1; min-width: 12rem; padding: .45rem .6rem; font: inherit;
  border: 1px solid #6e7781; border-radius: .3rem; }
button { padding: .45rem 1rem; font: inherit; color: #fff; background: #1a4f8b;
  border: 0; border-radius: .3rem; cursor: pointer; }
@media (prefers-color-scheme: dark) {
  body { color: #e6edf3; background: #14181e; }
  h1, a { color: #8cc4ff; }
  input { color: #e6edf3; background: #1f242b; }
}
"""

# Without a base URL, the 404 page does not know the site's sub-path: try the
# landing page at each ancestor of the requested path, deepest first.
FIND_ROOT = """
(async () => {
  const parts = location.pathname.split("/").slice(0, -1);
  for (let n = parts.length; n > 0; n--) {
    const root = parts.slice(0, n).join("/") + "/";
    try {
      const answer = await fetch(root + %(landing)s);
      await answer.text();  // read to the end: an unread answer counts as a failed request
      if (!answer.ok) continue;
      for (const element of document.querySelectorAll("[data-site-path]")) {
        const name = element.tagName === "FORM" ? "action" : "href";
        element.setAttribute(name, root + element.dataset.sitePath);
      }
      return;
    } catch (error) { /* try the next ancestor */ }
  }
})();
"""


def not_found_page(app: Sphinx) -> str:
    start = landing(app)
    title = html.escape(book_title(app.config))
    # Without a base URL: relative, right for a missing page at the site's top
    # level; the script below corrects it at any other depth.
    root = urlsplit(base_url(app)).path
    script = "" if base_url(app) else f"<script>{FIND_ROOT % {'landing': json.dumps(start)}}</script>\n"
    icon = (Path(__file__).parents[1] / "_static" / "favicon.svg").read_text(encoding="utf-8").strip()
    from urllib.parse import quote

    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Page not found - {title}</title>
<meta name="description" content="There is no page at this address in {title}.">
<link rel="icon" href="data:image/svg+xml,{quote(icon)}">
<style>{NOT_FOUND_STYLE}</style>
</head>
<body>
<main>
<h1>Page not found</h1>
<p>There is no page at this address in {title}. The address may be mistyped, or the
page may have moved.</p>
<p><a data-site-path="{start}" href="{root}{start}">Go to the handbook's first page</a>,
where every chapter is listed, or search for what you were looking for.</p>
<form data-site-path="search.html" action="{root}search.html" method="get" role="search">
<label for="search-query">Search the handbook</label>
<input id="search-query" type="search" name="q">
<button type="submit">Search</button>
</form>
</main>
{script}</body>
</html>
"""


def robots_txt(app: Sphinx) -> str:
    text = "User-agent: *\nAllow: /\n"
    if base_url(app):
        text += f"\nSitemap: {base_url(app)}{SITEMAP}\n"
    return text


def draw_social_card(path: Path, title: str) -> None:
    """The image chat apps and social sites show for a shared link: 1200 x 630."""
    from PIL import Image, ImageDraw, ImageFont

    card = Image.new("RGB", (1200, 630), "#1a4f8b")
    draw = ImageDraw.Draw(card)
    draw.ellipse((80, 215, 280, 415), fill="#ffffff")
    draw.arc((115, 255, 245, 330), 200, 340, fill="#f37726", width=14)
    draw.arc((115, 300, 245, 375), 20, 160, fill="#f37726", width=14)
    big, small = ImageFont.load_default(size=64), ImageFont.load_default(size=34)
    words, lines = title.split(), [""]
    for word in words:
        if draw.textlength(f"{lines[-1]} {word}".strip(), font=big) > 800:
            lines.append("")
        lines[-1] = f"{lines[-1]} {word}".strip()
    y = 315 - 40 * len(lines)
    for line in lines:
        draw.text((330, y), line, font=big, fill="#ffffff")
        y += 80
    draw.text((330, y + 10), "Every example executed against real Jupyter.", font=small, fill="#ffd9bf")
    path.parent.mkdir(parents=True, exist_ok=True)
    card.save(path, optimize=True)


def write_site_files(app: Sphinx, exception) -> None:
    if exception or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    # Runs before sphinx-external-toc's own redirect writer, which then leaves it be.
    if landing(app) != "index.html":
        (outdir / "index.html").write_text(root_page(app), encoding="utf-8")
    (outdir / "404.html").write_text(not_found_page(app), encoding="utf-8")
    (outdir / "robots.txt").write_text(robots_txt(app), encoding="utf-8")
    draw_social_card(outdir / SOCIAL_CARD, book_title(app.config))


def setup(app: Sphinx):
    app.connect("config-inited", configure, priority=100)
    app.connect("html-page-context", share_metadata)
    app.connect("build-finished", write_sitemap, priority=400)
    app.connect("build-finished", write_site_files, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
