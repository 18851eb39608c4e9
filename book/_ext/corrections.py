"""Sphinx extension: the ``correction`` directive, one look for every correction.

A chapter marks each place where it corrects the field guide with::

    :::{correction} One line: what is actually true
    :name: corr-some-label   (optional; a stable anchor for links)
    What the guide says, what is true, and why.
    :::

followed by the executed cell that proves it, or one line saying why it
cannot be executed here. It renders as an admonition with the class
``correction`` and the title "Correction to the field guide", with the
one-line claim as its first paragraph. Every correction is recorded in the
build environment (``env.handbook_corrections``) so a page can list them all.
"""

from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

TITLE = "Correction to the field guide"


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
        records = env.domaindata.setdefault("handbook_corrections", {})
        records.setdefault(env.docname, []).append(
            {"anchor": anchor, "claim": claim, "line": self.lineno}
        )
        return [admonition, *messages, *more]


def purge_corrections(app, env, docname: str) -> None:
    env.domaindata.get("handbook_corrections", {}).pop(docname, None)


def merge_corrections(app, env, docnames, other) -> None:
    mine = env.domaindata.setdefault("handbook_corrections", {})
    for docname in docnames:
        if docname in other.domaindata.get("handbook_corrections", {}):
            mine[docname] = other.domaindata["handbook_corrections"][docname]


def setup(app):
    app.add_directive("correction", CorrectionDirective)
    app.connect("env-purge-doc", purge_corrections)
    app.connect("env-merge-info", merge_corrections)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
