"""Sphinx extension: the ``correction`` directive, one look for every correction.

A chapter marks each place where it corrects the field guide with::

    :::{correction} One line: what is actually true
    :name: corr-some-label   (optional; a stable anchor for links)
    What the guide says, what is true, and why.
    :::

followed by the executed cell that proves it, or one line saying why it
cannot be executed here. It renders as an admonition with the class
``correction`` and the title "Correction to the field guide", with the
one-line claim as its first paragraph.

Every correction is recorded in the build environment, and the
``corrections-list`` directive (book/corrections.md) turns them into one list,
in toc order, each claim linking to the correction on its page. That page is
re-written whenever what it lists changes.
"""

from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

TITLE = "Correction to the field guide"
KEY = "handbook_corrections"  # env.domaindata key: docname -> list of corrections
LIST_PAGES = "handbook_corrections_list_pages"


class CorrectionDirective(SphinxDirective):
    required_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = {"name": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        claim = self.arguments[0].strip()
        env = self.env
        serial = env.new_serialno("handbook-correction")
        admonition = nodes.admonition(classes=["admonition", "correction"])
        self.set_source_info(admonition)
        self.add_name(admonition)  # :name: becomes a label for {ref}`text <name>`
        if not admonition["ids"]:
            admonition["ids"].append(f"correction-{serial + 1}")
        anchor = admonition["ids"][0]
        title_nodes, messages = self.state.inline_text(TITLE, self.lineno)
        admonition += nodes.title(TITLE, "", *title_nodes)
        claim_nodes, more = self.state.inline_text(claim, self.lineno)
        admonition += nodes.paragraph(claim, "", nodes.strong(claim, "", *claim_nodes),
                                      classes=["correction-claim"])
        self.state.nested_parse(self.content, self.content_offset, admonition)
        records = env.domaindata.setdefault(KEY, {})
        records.setdefault(env.docname, []).append(
            {"anchor": anchor, "claim": claim, "claim_nodes": [n.deepcopy() for n in claim_nodes]}
        )
        return [admonition, *messages, *more]


class corrections_list(nodes.General, nodes.Element):
    """Placeholder, filled in at doctree-resolved when every page has been read."""


class CorrectionsListDirective(SphinxDirective):
    def run(self) -> list[nodes.Node]:
        self.env.domaindata.setdefault(LIST_PAGES, set()).add(self.env.docname)
        return [corrections_list()]


def toc_order(env, root: str) -> list[str]:
    """Docnames depth-first through the toctrees, as the sidebar lists them."""
    order, stack = [], [root]
    while stack:
        docname = stack.pop(0)
        if docname in order:
            continue
        order.append(docname)
        stack[0:0] = env.toctree_includes.get(docname, [])
    return order


def fill_corrections_list(app, doctree, fromdocname: str) -> None:
    env = app.env
    records = env.domaindata.get(KEY, {})
    for placeholder in list(doctree.findall(corrections_list)):
        content: list[nodes.Node] = []
        total = 0
        for docname in toc_order(env, app.config.root_doc):
            entries = records.get(docname)
            if not entries:
                continue
            title = env.titles[docname].astext()
            chapter_uri = app.builder.get_relative_uri(fromdocname, docname)
            section_title = nodes.paragraph(classes=["corrections-chapter"])
            section_title += nodes.reference("", "", nodes.strong(title, title),
                                             internal=True, refuri=chapter_uri)
            items = nodes.enumerated_list(classes=["corrections-entries"])
            for entry in entries:
                uri = f"{chapter_uri}#{entry['anchor']}"
                reference = nodes.reference("", "", internal=True, refuri=uri)
                reference += [n.deepcopy() for n in entry["claim_nodes"]]
                items += nodes.list_item("", nodes.paragraph("", "", reference))
                total += 1
            content += [section_title, items]
        summary = nodes.paragraph(
            text=f"{total} corrections in {sum(1 for d in records if records[d])} chapters."
        )
        placeholder.replace_self([summary, *content])


def listed(env, root: str) -> list:
    """What the list shows: each chapter with corrections, in toc order, its title
    and its corrections' anchors and claims."""
    records = env.domaindata.get(KEY, {})
    return [
        (docname, env.titles[docname].astext(), [(e["anchor"], e["claim"]) for e in records[docname]])
        for docname in toc_order(env, root) if records.get(docname) and docname in env.titles
    ]


def note_list_before_reading(app, env, added, changed, removed) -> list[str]:
    app.handbook_corrections_listed = listed(env, app.config.root_doc)
    return []


def rewrite_list_pages_if_changed(app, env) -> list[str]:
    """After reading: the list pages are re-written only when what they list changed
    (a prose edit elsewhere leaves them as they are)."""
    if listed(env, app.config.root_doc) == getattr(app, "handbook_corrections_listed", None):
        return []
    return sorted(env.domaindata.get(LIST_PAGES, set()))


def purge_corrections(app, env, docname: str) -> None:
    env.domaindata.get(KEY, {}).pop(docname, None)
    env.domaindata.get(LIST_PAGES, set()).discard(docname)


def merge_corrections(app, env, docnames, other) -> None:
    mine = env.domaindata.setdefault(KEY, {})
    for docname in docnames:
        if docname in other.domaindata.get(KEY, {}):
            mine[docname] = other.domaindata[KEY][docname]
    env.domaindata.setdefault(LIST_PAGES, set()).update(
        other.domaindata.get(LIST_PAGES, set()) & set(docnames)
    )


def setup(app):
    app.add_directive("correction", CorrectionDirective)
    app.add_node(corrections_list)
    app.add_directive("corrections-list", CorrectionsListDirective)
    app.connect("doctree-resolved", fill_corrections_list)
    app.connect("env-get-outdated", note_list_before_reading)
    app.connect("env-get-updated", rewrite_list_pages_if_changed)
    app.connect("env-purge-doc", purge_corrections)
    app.connect("env-merge-info", merge_corrections)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
