"""Every internal link and anchor in the built site resolves.

External links are checked by `make linkcheck`, which needs the network.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup

from conftest import site_pages


@cache
def page_ids(path: Path) -> frozenset[str]:
    soup = BeautifulSoup(path.read_text(), "html.parser")
    return frozenset(tag["id"] for tag in soup.find_all(id=True))


def internal_links(page: Path):
    soup = BeautifulSoup(page.read_text(), "html.parser")
    for tag in soup.find_all(["a", "link", "script", "img"]):
        url = tag.get("href") or tag.get("src")
        if not url:
            continue
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or url.startswith(("mailto:", "javascript:")):
            continue
        yield tag.name, url, parts


def test_every_internal_link_and_anchor_resolves(site):
    broken = []
    pages = site_pages()
    assert len(pages) >= 17
    for page in pages:
        for tag, url, parts in internal_links(page):
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: <{tag}> {url} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in page_ids(target):
                    broken.append(f"{page.relative_to(site)}: {url} (no such anchor)")
    assert not broken, "\n".join(broken[:50])
