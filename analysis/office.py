"""A comparison as a Word memo (python-docx) and a PowerPoint deck (python-pptx), from the report's data only.

The memo: the executive summary, the gap list with the peers' wording and how
sure each cell is, and an appendix grid. The deck: title, coverage heatmap
(a coloured table with a legend), gaps, common elements, and one slide per
taxonomy group with the columns' wording side by side. Both open in Word,
PowerPoint, Keynote and LibreOffice.
"""

from __future__ import annotations

from pathlib import Path

from analysis.compare import RESTRICTIVENESS_NOTE, Comparison
from analysis.render import (
    LEGEND,
    STATE_COLOURS,
    STATE_MARK,
    STATE_TEXT_COLOURS,
    _pct,
    cite,
    modality_label,
    row_checks,
    shorten,
    state_text,
    summary,
)


def _clean(text) -> str:
    """Text safe for an Office XML run: no control characters other than tab and newline."""
    return "".join(ch for ch in str(text or "") if ch in "\t\n" or ord(ch) >= 32)


def _hex(colour: str) -> str:
    return colour.lstrip("#").upper()


# ------------------------------------------------------------------ Word


def to_docx(comp: Comparison, path: str | Path) -> None:
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    data = summary(comp)
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "Calibri"
    style.font.size = Pt(10)
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(20))

    def shade(cell, colour: str) -> None:
        props = cell._tc.get_or_add_tcPr()
        fill = OxmlElement("w:shd")
        fill.set(qn("w:val"), "clear")
        fill.set(qn("w:color"), "auto")
        fill.set(qn("w:fill"), _hex(colour))
        props.append(fill)

    doc.add_heading(_clean(data["title"]), level=0)
    doc.add_paragraph(_clean(
        (f"Client draft: {data['client']}. " if data["client"] else "")
        + f"Peers: {', '.join(data['peers']).rstrip('.')}. Generated {data['generated']}."))

    doc.add_heading("Summary", level=1)
    for name, choice, others in data["choices"]:
        doc.add_paragraph(_clean(f"{name}: {choice}" + (f" ({others} other document{'s' if others > 1 else ''} not compared)." if others else ".")),
                          style="List Bullet")
    doc.add_paragraph(_clean(f"{data['checks']} of {data['cells']} grid cells need a check by hand. {LEGEND}"))
    doc.add_paragraph(_clean("Common to all peers: " + (", ".join(data["common"]) or "none") + "."))
    doc.add_paragraph(_clean("Unusual (one peer only): "
                             + (", ".join(f"{n} ({w})" for n, w in data["unusual"]) or "none") + "."))
    doc.add_paragraph(_clean(RESTRICTIVENESS_NOTE + " "
                             + "; ".join(f"{n}: {_pct(v)}" for n, v in data["restrictiveness"]) + "."))

    if comp.client:
        doc.add_heading(_clean(f"Gaps in {comp.client}"), level=1)
        if not comp.gaps:
            doc.add_paragraph("No category that most peers cover is missing from the draft.")
        peers = len(data["peers"])
        for gap in comp.gaps:
            doc.add_heading(_clean(f"{gap.name} ({gap.group})"), level=2)
            own = ("The draft has no clause on it." if gap.client_state == "absent" else
                   f"Check: the draft may cover it (confidence {gap.client_score:.2f}).")
            doc.add_paragraph(_clean(f"Covered by {len(gap.peers)} of {peers} peers ({', '.join(gap.peers)}). {own}"))
            for ex in gap.examples:
                quote = doc.add_paragraph(style="Intense Quote")
                quote.add_run(_clean(f"“{ex['text']}”"))
                src = doc.add_paragraph()
                run = src.add_run(_clean(f"{ex['company']} — confidence {ex['score']:.2f}, "
                                         f"{modality_label(ex.get('modality'))}. {cite(ex)}"))
                run.font.size = Pt(8)

    landscape = doc.add_section()
    landscape.orientation = WD_ORIENT.LANDSCAPE
    landscape.page_width, landscape.page_height = Mm(297), Mm(210)
    doc.add_heading("Appendix: the grid", level=1)
    doc.add_paragraph(_clean(LEGEND))
    names = comp.names
    table = doc.add_table(rows=1, cols=len(names) + 1)
    table.style = "Table Grid"
    head = table.rows[0].cells
    head[0].text = "Category"
    for j, name in enumerate(names, start=1):
        head[j].text = _clean(name)
    checks = row_checks(comp)
    for cat in comp.categories:
        cells = table.add_row().cells
        cells[0].text = _clean(f"{cat['group']} · {cat['name']}" + (f"  ? check {checks[cat['id']]}" if checks[cat["id"]] else ""))
        for j, name in enumerate(names, start=1):
            cell = comp.cells[name][cat["id"]]
            text = state_text(cell)
            if cell.evidence:
                text += f"\n{shorten(cell.evidence['text'], 160)}\n— {cell.evidence['document']}"
            cells[j].text = _clean(text)
            shade(cells[j], {"covered": "#DCEFD9", "uncertain": "#FFF0C2", "absent": "#F4F4F4"}[cell.state])
    for row in table.rows:
        for cell in row.cells:
            for p in cell.paragraphs:
                for run in p.runs:
                    run.font.size = Pt(7.5)

    doc.add_heading("Sources", level=1)
    for p in comp.companies:
        for d in p.documents:
            where = d.get("url") or d.get("source") or ""
            when = f", collected {d['collected']}" if d.get("collected") else ""
            if d.get("policy_date"):
                when = f", policy {d['policy_date']}" + when
            doc.add_paragraph(_clean(f"{p.name}: {d.get('title')} — {where}{when}"), style="List Bullet")
    doc.save(str(path))


# ------------------------------------------------------------- PowerPoint


def to_pptx(comp: Comparison, path: str | Path) -> None:
    from pptx import Presentation
    from pptx.dml.color import RGBColor
    from pptx.util import Inches, Pt

    data = summary(comp)
    prs = Presentation()
    prs.slide_width, prs.slide_height = Inches(13.333), Inches(7.5)
    title_only = prs.slide_layouts[5]

    def rgb(colour: str) -> RGBColor:
        return RGBColor.from_string(_hex(colour))

    def slide_with_title(text: str):
        slide = prs.slides.add_slide(title_only)
        slide.shapes.title.text = _clean(text)
        slide.shapes.title.text_frame.paragraphs[0].font.size = Pt(28)
        place(slide.shapes.title, 0.3, 0.9)
        return slide

    def place(shape, top: float, height: float, left: float = 0.5, width: float = 12.3) -> None:
        # the default template is 4:3: move its placeholders onto the 16:9 slide
        shape.left, shape.top, shape.width, shape.height = Inches(left), Inches(top), Inches(width), Inches(height)

    def text_box(slide, lines, top=1.3, size=16, left=0.6, width=12.1, height=5.8):
        box = slide.shapes.add_textbox(Inches(left), Inches(top), Inches(width), Inches(height))
        frame = box.text_frame
        frame.word_wrap = True
        for i, line in enumerate(lines):
            para = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
            para.text = _clean(line)
            para.font.size = Pt(size)
        return box

    def table(slide, rows, cols, top=1.3, height=5.8, left=0.4, width=12.5):
        shape = slide.shapes.add_table(rows, cols, Inches(left), Inches(top), Inches(width), Inches(height))
        return shape.table

    def fill(cell, text, size=10, colour=None, font_colour=None, bold=False):
        cell.text = _clean(text)
        for para in cell.text_frame.paragraphs:
            para.font.size = Pt(size)
            para.font.bold = bold
            if font_colour:
                para.font.color.rgb = rgb(font_colour)
        cell.margin_top = cell.margin_bottom = Inches(0.02)
        if colour:
            cell.fill.solid()
            cell.fill.fore_color.rgb = rgb(colour)

    # title
    slide = prs.slides.add_slide(prs.slide_layouts[0])
    place(slide.shapes.title, 2.0, 1.5)
    place(slide.placeholders[1], 3.7, 1.8)
    slide.shapes.title.text = _clean(data["title"])
    slide.placeholders[1].text = _clean(
        (f"{data['client']} against " if data["client"] else "") + ", ".join(data["peers"]) + f"\n{data['generated']}")

    # coverage heatmap, split so that every row stays legible
    names = comp.names
    cats = comp.categories
    per_slide = 14
    checks = row_checks(comp)
    for part, start in enumerate(range(0, len(cats), per_slide), start=1):
        chunk = cats[start : start + per_slide]
        parts = (len(cats) + per_slide - 1) // per_slide
        slide = slide_with_title("Coverage at a glance" + (f" ({part}/{parts})" if parts > 1 else ""))
        t = table(slide, len(chunk) + 1, len(names) + 1, height=0.34 * (len(chunk) + 1))
        t.columns[0].width = Inches(4.0)
        for j in range(1, len(names) + 1):
            t.columns[j].width = Inches(8.5 / len(names))
        fill(t.cell(0, 0), "Category", 11, bold=True)
        for j, name in enumerate(names, start=1):
            fill(t.cell(0, j), shorten(name, 30), 10, bold=True)
        for i, cat in enumerate(chunk, start=1):
            fill(t.cell(i, 0), f"{cat['name']}" + (f"  ? {checks[cat['id']]}" if checks[cat["id"]] else ""), 10)
            for j, name in enumerate(names, start=1):
                cell = comp.cells[name][cat["id"]]
                label = STATE_MARK[cell.state] + (f" {cell.score:.2f}" if cell.state != "absent" else "")
                fill(t.cell(i, j), label, 10, STATE_COLOURS[cell.state], STATE_TEXT_COLOURS[cell.state])
        text_box(slide, [f"✓ covered   ? check by hand   — not found   (number: confidence 0–1); "
                         f"{data['checks']} of {data['cells']} cells need a check"], top=7.0, size=11, height=0.4)

    # gaps
    if comp.client:
        slide = slide_with_title(f"Gaps in {comp.client}")
        lines = []
        for g in data["gaps"]:
            lines.append(f"{g['name']}: {g['peers']} of {g['of']} peers"
                         + (" (draft: check)" if g["client_state"] == "uncertain" else ""))
            if g["best"]:
                lines.append(f"    “{shorten(g['best']['text'], 150)}” — {g['best']['company']} ({g['best']['score']:.2f})")
        if data["more_gaps"]:
            lines.append(f"… and {data['more_gaps']} more (see the memo)")
        text_box(slide, lines or ["None: the draft covers every category most peers cover."], size=14)

    # common elements
    slide = slide_with_title("What peers have in common")
    text_box(slide, ["Common to all: " + (", ".join(data["common"]) or "none"),
                     "Unusual (one peer only): " + (", ".join(f"{n} ({w})" for n, w in data["unusual"]) or "none"),
                     "Covered by none: " + (", ".join(data["absent"]) or "none"),
                     "",
                     RESTRICTIVENESS_NOTE,
                     "; ".join(f"{n}: {_pct(v)}" for n, v in data["restrictiveness"])], size=16)

    # one slide per taxonomy group, wording side by side
    for group in comp.groups:
        chunk = [c for c in cats if c["group"] == group]
        slide = slide_with_title(f"{group}: wording side by side")
        t = table(slide, len(chunk) + 1, len(names) + 1, top=1.2, height=6.0)
        t.columns[0].width = Inches(1.9)
        for j in range(1, len(names) + 1):
            t.columns[j].width = Inches(10.6 / len(names))
        t.rows[0].height = Inches(0.5)
        row_height = 5.5 / max(1, len(chunk))
        for i in range(1, len(chunk) + 1):
            t.rows[i].height = Inches(row_height)
        # about 17 characters per inch and 8 lines per inch at 8 pt, less the state line and some slack
        limit = max(60, int((10.6 / len(names) - 0.2) * 17 * (row_height * 8 - 2) * 0.8))
        fill(t.cell(0, 0), "Category", 10, bold=True)
        for j, name in enumerate(names, start=1):
            fill(t.cell(0, j), shorten(name, 30), 10, bold=True)
        for i, cat in enumerate(chunk, start=1):
            fill(t.cell(i, 0), cat["name"], 9, bold=True)
            for j, name in enumerate(names, start=1):
                cell = comp.cells[name][cat["id"]]
                text = state_text(cell)
                if cell.evidence:
                    text += f"\n“{shorten(cell.evidence['text'], limit)}”"
                colour = {"covered": "#FFFFFF", "uncertain": "#FFF0C2", "absent": "#F4F4F4"}[cell.state]
                fill(t.cell(i, j), text, 8, colour)
    prs.save(str(path))


__all__ = ["to_docx", "to_pptx"]
