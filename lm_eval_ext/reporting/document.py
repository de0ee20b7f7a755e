"""One model of a report and its two renderers: Markdown and HTML.

A report is a `Document` of `Section`s (title, anchor, blocks); blocks are
paragraphs, tables (cells with classes), lists, figures and collapsible details,
their text a list of inline pieces (plain text, code, bold, spans, colour swatches).
`report.py` builds every section once; `to_markdown` and `to_html` render it.

Escaping happens here and only here: every plain text and code piece is untrusted
(model output, prompts, run and model names, file names). HTML escapes it (`h`);
Markdown passes it through `md_cell`, the one Markdown escaper (no HTML element,
no link or image, no table break), in code spans too (which also lose their backticks).
Figures are SVG markup made by `reporting.svg`, which escapes its own text; they
and swatches exist in HTML only. Markdown shows details as ``<details>`` blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Union


def h(text) -> str:
    return escape("" if text is None else str(text), quote=True)


def md_cell(text) -> str:
    """Untrusted text made inert in Markdown (a table cell, a heading, a list item): no HTML
    element, no link or image, no table break. The one escaping of every Markdown output."""
    return (str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")
            .replace("<", "&lt;").replace("[", "\\[").replace("]", "\\]"))


# ------------------------------------------------------------------ inline pieces
@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class Span:
    """Text with a class (``muted``, ``filt``); plain in Markdown."""

    text: str
    cls: str


@dataclass(frozen=True)
class Swatch:
    """A run's colour (HTML only)."""

    color: str


Inline = Union[str, Code, Strong, Span, Swatch]
Text = Union[str, list]  # a string or a list of Inline pieces


# ------------------------------------------------------------------ blocks
@dataclass
class Pre:
    """Preformatted text in a cell (prompts, model output); `fold` names a collapsed view."""

    text: str
    fold: str = ""


@dataclass
class Lines:
    """Several short lines in one cell (one per filter)."""

    items: list


@dataclass
class BulletList:
    items: list  # of Text
    cls: str = ""


@dataclass
class Cell:
    content: Text | Pre | Lines | BulletList = ""
    header: bool = False  # a row's label
    cls: str = ""
    colspan: int = 1


@dataclass
class Row:
    cells: list
    cls: str = ""  # "tier" (a group label), "mean" (a summary row)


@dataclass
class Table:
    head: list  # of Text
    rows: list  # of Row
    caption: Text = ""
    cls: str = ""


@dataclass
class SortableTable:
    """A table whose rows can be reordered by the reader without a script (the HTML has none):
    one radio button per order in `orders` ((label, rank of each row)), CSS reorders the rows
    of a grid (`order` from per-row custom properties). `name` must be unique in the document.
    Markdown shows the rows in the first order."""

    name: str
    head: list  # of Text
    rows: list  # of Row
    orders: list  # of (label, [rank per row])
    caption: Text = ""


@dataclass
class Paragraph:
    text: Text
    cls: str = ""


@dataclass
class Heading:
    text: Text
    level: int = 3


@dataclass
class Figures:
    """Inline SVG charts and their legend (HTML only)."""

    svgs: list
    legend: str = ""


@dataclass
class Details:
    summary: Text
    blocks: list
    open: bool = False
    cls: str = ""


Block = Union[Paragraph, Heading, Table, SortableTable, BulletList, Figures, Details]


@dataclass
class Section:
    title: Text
    anchor: str
    blocks: list = field(default_factory=list)
    nav: str = ""  # the link text in the HTML navigation ("" = no link)
    cls: str = ""  # "warn" marks the section and its link


@dataclass
class Document:
    page_title: str
    heading: str
    subtitle: str
    sections: list
    footer: Text
    css: str = ""


def _pieces(text: Text) -> list:
    return [text] if isinstance(text, (str, Code, Strong, Span, Swatch)) else list(text)


# ------------------------------------------------------------------ Markdown
def _md_code(text: str, in_table: bool) -> str:
    """A code span of untrusted text: `md_cell` (no HTML, no link), no backtick to end the
    span early; a "|" stays escaped only in a table cell (GitHub splits cells first)."""
    code = md_cell(text).replace("`", "'")
    return "`" + (code if in_table else code.replace("\\|", "|")) + "`"


def md_text(text: Text, in_table: bool = False) -> str:
    out = []
    for piece in _pieces(text):
        if isinstance(piece, Code):
            out.append(_md_code(piece.text, in_table))
        elif isinstance(piece, Strong):
            out.append(f"**{md_cell(piece.text)}**")
        elif isinstance(piece, Span):
            out.append(md_cell(piece.text))
        elif isinstance(piece, Swatch):
            continue
        else:
            out.append(md_cell(piece))
    return "".join(out)


def _md_cell_content(cell: Cell) -> str:
    content = cell.content
    if isinstance(content, Pre):
        return md_cell(content.text)
    if isinstance(content, Lines):
        return "; ".join(md_text(item, in_table=True) for item in content.items)
    if isinstance(content, BulletList):
        return "; ".join(md_text(item, in_table=True) for item in content.items)
    text = md_text(content, in_table=True)
    return f"**{text}**" if cell.header and text and cell.cls in ("tier", "mean") else text


def _md_table(t: Table) -> list[str]:
    out = []
    if t.caption:
        out += [md_text(t.caption), ""]
    width = len(t.head) or max((sum(c.colspan for c in row.cells) for row in t.rows), default=1)
    out.append("| " + " | ".join(md_text(c, in_table=True) for c in t.head or [""] * width) + " |")
    out.append("|" + "---|" * width)
    for row in t.rows:
        cells = []
        for cell in row.cells:
            shown = Cell(cell.content, cell.header, row.cls, cell.colspan)
            cells.append(_md_cell_content(shown))
            cells += [""] * (cell.colspan - 1)
        cells += [""] * (width - len(cells))
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    return out


def _md_blocks(blocks: list) -> list[str]:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Paragraph):
            out += [md_text(b.text), ""]
        elif isinstance(b, Heading):
            out += ["#" * b.level + " " + md_text(b.text), ""]
        elif isinstance(b, Table):
            out += _md_table(b)
        elif isinstance(b, SortableTable):
            first = sorted(range(len(b.rows)), key=lambda i: b.orders[0][1][i]) if b.orders else range(len(b.rows))
            out += _md_table(Table(b.head, [b.rows[i] for i in first], b.caption))
        elif isinstance(b, BulletList):
            out += [f"- {md_text(item)}" for item in b.items] + [""]
        elif isinstance(b, Details):
            out += [f"<details><summary>{md_text(b.summary)}</summary>", ""] + _md_blocks(b.blocks) + ["</details>", ""]
        elif isinstance(b, Figures):
            continue
        else:  # pragma: no cover - a block kind without a renderer
            raise TypeError(f"no Markdown for {type(b).__name__}")
    return out


def to_markdown(doc: Document) -> str:
    out = [f"# {md_cell(doc.heading)}", "", md_cell(doc.subtitle), ""]
    for s in doc.sections:
        out += [f"## {md_text(s.title)}", ""] + _md_blocks(s.blocks)
    out += [md_text(doc.footer), ""]
    return "\n".join(out)


# ------------------------------------------------------------------ HTML
def _cls(cls: str) -> str:
    return f" class=\"{h(cls)}\"" if cls else ""


def html_text(text: Text) -> str:
    out = []
    for piece in _pieces(text):
        if isinstance(piece, Code):
            out.append(f"<code>{h(piece.text)}</code>")
        elif isinstance(piece, Strong):
            out.append(f"<b>{h(piece.text)}</b>")
        elif isinstance(piece, Span):
            out.append(f"<span{_cls(piece.cls)}>{h(piece.text)}</span>")
        elif isinstance(piece, Swatch):
            out.append(f"<span class=\"sw\" style=\"background:{h(piece.color)}\"></span>")
        else:
            out.append(h(piece))
    return "".join(out)


def _html_cell_content(content) -> str:
    if isinstance(content, Pre):
        pre = f"<pre>{h(content.text)}</pre>"
        return f"<details><summary>{h(content.fold)}</summary>{pre}</details>" if content.fold else pre
    if isinstance(content, Lines):
        return "".join(f"<div>{html_text(item)}</div>" for item in content.items)
    if isinstance(content, BulletList):
        return _html_block(content)
    return html_text(content)


def _html_table(t: Table) -> str:
    caption = f"<caption>{html_text(t.caption)}</caption>" if t.caption else ""
    head = f"<thead><tr>{''.join(f'<th>{html_text(c)}</th>' for c in t.head)}</tr></thead>" if t.head else ""
    rows = []
    for row in t.rows:
        cells = []
        for cell in row.cells:
            tag = "th" if cell.header else "td"
            span = f" colspan=\"{cell.colspan}\"" if cell.colspan > 1 else ""
            cells.append(f"<{tag}{span}{_cls(cell.cls)}>{_html_cell_content(cell.content)}</{tag}>")
        rows.append(f"<tr{_cls(row.cls)}>{''.join(cells)}</tr>")
    return f"<table{_cls(t.cls)}>{caption}{head}<tbody>{''.join(rows)}</tbody></table>"


def _html_sortable(t: SortableTable) -> str:
    """Radio buttons, then a grid whose cells take `order` from the checked button's rank."""
    name = "".join(ch if ch.isalnum() else "-" for ch in t.name)
    radios, rules = [], []
    for k, (label, _) in enumerate(t.orders):
        rid = f"{name}-{k}"
        radios.append(f"<input type=\"radio\" name=\"{name}\" id=\"{rid}\"{' checked' if k == 0 else ''}>"
                      f"<label for=\"{rid}\">{html_text(label)}</label>")
        rules.append(f"#{rid}:checked ~ .sgrid > * {{ --o: var(--k{k}); }}")
    width = len(t.head)
    cells = [f"<div class=\"sh\" style=\"order:-1\">{html_text(c)}</div>" for c in t.head]
    for i, row in enumerate(t.rows):
        ranks = ";".join(f"--k{k}:{ranks[i]}" for k, (_, ranks) in enumerate(t.orders))
        for cell in row.cells:
            tag = "sk" if cell.header else "sv"
            cells.append(f"<div class=\"{tag} {h(cell.cls)}\" style=\"{ranks}\">{_html_cell_content(cell.content)}</div>")
    caption = f"<p class=\"muted\">{html_text(t.caption)}</p>" if t.caption else ""
    return (f"<div class=\"sortable\">{caption}<style>{''.join(rules)}</style><span class=\"muted\">order by: </span>"
            + "".join(radios)
            + f"<div class=\"sgrid\" style=\"grid-template-columns: repeat({width}, auto)\">{''.join(cells)}</div></div>")


def _html_block(b) -> str:
    if isinstance(b, SortableTable):
        return _html_sortable(b)
    if isinstance(b, Paragraph):
        return f"<p{_cls(b.cls)}>{html_text(b.text)}</p>"
    if isinstance(b, Heading):
        return f"<h{b.level}>{html_text(b.text)}</h{b.level}>"
    if isinstance(b, Table):
        return _html_table(b)
    if isinstance(b, BulletList):
        return f"<ul{_cls(b.cls)}>" + "".join(f"<li>{html_text(item)}</li>" for item in b.items) + "</ul>"
    if isinstance(b, Figures):
        return f"<div class=\"plots\">{''.join(b.svgs)}</div>{b.legend}" if b.svgs else ""
    if isinstance(b, Details):
        opened = " open" if b.open else ""
        return (f"<details{_cls(b.cls)}{opened}><summary>{html_text(b.summary)}</summary>"
                + "".join(_html_block(x) for x in b.blocks) + "</details>")
    raise TypeError(f"no HTML for {type(b).__name__}")  # pragma: no cover


def to_html(doc: Document) -> str:
    nav = "".join(f"<a href=\"#{h(s.anchor)}\"{_cls('bad' if s.cls == 'warn' else '')}>{h(s.nav)}</a>"
                  for s in doc.sections if s.nav)
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>{h(doc.page_title)}</title><style>{doc.css}</style></head><body>",
        f"<header><h1>{h(doc.heading)}</h1><p class=\"sub\">{h(doc.subtitle)}</p><nav>{nav}</nav></header><main>",
    ]
    for s in doc.sections:
        parts.append(f"<section id=\"{h(s.anchor)}\"{_cls(s.cls)}><h2>{html_text(s.title)}</h2>"
                     + "".join(_html_block(b) for b in s.blocks) + "</section>")
    parts.append(f"<footer>{html_text(doc.footer)}</footer></main></body></html>")
    return "".join(parts)
