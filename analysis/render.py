"""Writing a Comparison as Markdown, a self-contained HTML page, XLSX, CSV or JSON.

Policy text is untrusted input: the HTML template autoescapes everything,
links are only made for http(s) and file URLs, Markdown cells are escaped,
and spreadsheet cells that a spreadsheet would read as a formula
(starting with = + - @, tab or carriage return) are prefixed with a quote.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

from analysis.compare import TRUSTED_COVERAGE_F1, Comparison

FORMATS = ("md", "html", "xlsx", "csv", "json")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
SAFE_SCHEMES = ("http", "https", "file")
MODALITY_ABBREV = {
    "prohibition": "must not",
    "obligation": "must",
    "recommendation": "should",
    "permission": "may",
    "information": "info",
}


def neutralise(value):
    """A spreadsheet-safe version of a cell value: text that would start a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_url(url: str | None) -> str | None:
    """The URL if it is http(s) or file, else None (never a javascript: or data: link)."""
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in SAFE_SCHEMES else None


def shorten(text: str, limit: int = 220) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _num(value) -> str:
    return "–" if value is None else f"{value:g}"


# --------------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def md_escape(text: str) -> str:
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_link(label: str, url: str | None) -> str:
    url = safe_url(url)
    if not url:
        return md_escape(label)
    return f"[{md_escape(label)}]({quote(url, safe=':/?&=#%~.,;+@!$*')})"


def md_cell(cell, short: int = 160) -> str:
    if not cell.covered:
        return "—"
    clause = cell.clause or {}
    head = f"✓ {cell.count} · {MODALITY_ABBREV.get(cell.modality, cell.modality or '')}"
    quote_ = md_escape(shorten(clause.get("text", ""), short))
    return f"{head}<br>“{quote_}” {md_link(clause.get('snapshot_date') or 'source', clause.get('url'))}"


def to_markdown(comp: Comparison) -> str:
    names = comp.names
    lines = [f"# Social media policy comparison: {md_escape(', '.join(names))}", ""]
    lines.append(f"Generated {comp.generated_at}. Cells: ✓ clauses · strongest modality, then the most representative clause.")
    if comp.taggers:
        lines.append(f"Tagged by {md_escape(', '.join(comp.taggers))}.")
    lines += ["", "## Overview", ""]
    lines += _md_summary(comp)
    lines += ["", "## Scores", ""]
    groups = comp.groups
    lines.append("| | " + " | ".join(md_escape(n) for n in names) + " |")
    lines.append("|---" * (len(names) + 1) + "|")
    rows = [
        ("Categories covered", [f"{p.covered}/{len(comp.categories)}" for p in comp.companies]),
        ("Clauses", [str(p.clauses) for p in comp.companies]),
        ("Clauses in no category", [str(len(comp.uncategorised.get(p.name, []))) for p in comp.companies]),
        ("Words", [str(p.words) for p in comp.companies]),
        ("Flesch reading ease", [_num(p.readability) for p in comp.companies]),
        ("Restrictiveness", [_pct(p.restrictiveness) for p in comp.companies]),
    ] + [(f"Restrictiveness: {g}", [_pct(p.restrictiveness_by_group.get(g)) for p in comp.companies]) for g in groups]
    for label, values in rows:
        lines.append(f"| {md_escape(label)} | " + " | ".join(values) + " |")
    lines += ["", "## Grid", ""]
    lines.append("| Category | " + " | ".join(md_escape(n) for n in names) + " |")
    lines.append("|---" * (len(names) + 1) + "|")
    for group in groups:
        lines.append(f"| **{md_escape(group)}** |" + " |" * len(names))
        for cat in [c for c in comp.categories if c["group"] == group]:
            cells = [md_cell(comp.cells[n][cat["id"]]) for n in names]
            lines.append(f"| {md_escape(cat['name'])} (`{cat['id']}`) | " + " | ".join(cells) + " |")
    if comp.client:
        lines += ["", f"## Gaps in {md_escape(comp.client)}", ""]
        if not comp.gaps:
            lines.append("No category that most peers cover is missing from the draft.")
        for gap in comp.gaps:
            lines.append(
                f"- **{md_escape(gap.name)}** (`{gap.category}`, {gap.group}): covered by "
                f"{len(gap.peers)} of {len(names) - 1} peers ({md_escape(', '.join(gap.peers))})"
            )
            for ex in gap.examples:
                lines.append(
                    f"  - {md_escape(ex['company'])}: “{md_escape(shorten(ex['text'], 300))}” "
                    f"{md_link(ex.get('snapshot_date') or 'source', ex.get('url'))}"
                )
    lines += _md_quality(comp)
    lines += ["", "## Sources", ""]
    for p in comp.companies:
        for d in p.documents:
            lines.append(f"- {md_escape(p.name)}: {md_link(d['url'], d['url'])} (snapshot {md_escape(d['snapshot_date'] or '?')})")
    return "\n".join(lines) + "\n"


def _f(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def quality_note(comp: Comparison) -> str:
    q = comp.quality
    ref = q.datasets[q.reference]
    return (f"The tags come from tagger model {q.model_version}. Its quality card compares it with hand labels. "
            f"A grid cell (does the document cover the category?) is right as often as the document-level F1 "
            f"below says; on {q.reference} ({ref['description'] or 'a labelled set'}; {ref['documents']} documents, "
            f"{ref['units']} clauses) the categories marked ⚠ score below {TRUSTED_COVERAGE_F1:.2f}: "
            f"check their cells by hand before showing them to a client.")


def quality_rows(comp: Comparison) -> list[dict]:
    """One row per category: its measured figures in each labelled set of the quality card."""
    q = comp.quality
    rows = []
    for cat in comp.categories:
        row = {"id": cat["id"], "name": cat["name"], "group": cat["group"], "doubtful": cat["id"] in q.doubtful,
               "datasets": {}}
        for name, entry in q.datasets.items():
            row["datasets"][name] = entry["categories"].get(cat["id"], {})
        rows.append(row)
    return rows


def _md_quality(comp: Comparison) -> list[str]:
    if comp.quality is None:
        return []
    names = list(comp.quality.datasets)
    lines = ["", "## How far to trust the grid", "", md_escape(quality_note(comp)), ""]
    lines.append("| Category | " + " | ".join(f"{md_escape(n)}: document F1 | {md_escape(n)}: clause F1" for n in names) + " |")
    lines.append("|---" * (2 * len(names) + 1) + "|")
    for row in quality_rows(comp):
        label = f"{'⚠ ' if row['doubtful'] else ''}{md_escape(row['name'])} (`{row['id']}`)"
        cells = []
        for n in names:
            m = row["datasets"][n]
            cells += [f"{_f(m.get('coverage_f1'))} ({m.get('coverage_support', 0)} docs)",
                      f"{_f(m.get('f1'))} ({m.get('support', 0)} clauses)"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _md_summary(comp: Comparison) -> list[str]:
    def names(ids):
        return ", ".join(md_escape(comp.category(i)["name"]) for i in ids) or "none"

    lines = [
        f"- **Common to all** ({len(comp.common)}): {names(comp.common)}",
        f"- **Only some have** ({len(comp.partial)}): {names(comp.partial)}",
        "- **Unique to one** ({}): {}".format(
            len(comp.unique),
            ", ".join(f"{md_escape(comp.category(c)['name'])} ({md_escape(who)})" for c, who in comp.unique.items()) or "none",
        ),
        f"- **Covered by none** ({len(comp.absent)}): {names(comp.absent)}",
    ]
    return lines


# ------------------------------------------------------------------------ HTML


def heat_color(count: int, max_count: int) -> str:
    """Background of a heatmap cell: white for 0, deepening blue with the (log) clause count."""
    if not count:
        return "#f4f4f4"
    share = math.log1p(count) / math.log1p(max(max_count, 1))
    light = 92 - int(52 * share)
    return f"hsl(212, 70%, {light}%)"


def heat_text(count: int, max_count: int) -> str:
    return "#fff" if count and math.log1p(count) / math.log1p(max(max_count, 1)) > 0.6 else "#222"


def to_html(comp: Comparison) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("analysis", "report_templates"), autoescape=select_autoescape(default=True))
    env.filters["pct"] = _pct
    env.filters["num"] = _num
    env.filters["shorten"] = shorten
    env.globals["safe_url"] = safe_url
    env.globals["heat_color"] = heat_color
    env.globals["heat_text"] = heat_text
    env.globals["modality_abbrev"] = MODALITY_ABBREV
    env.globals["quality_note"] = quality_note
    env.globals["quality_rows"] = quality_rows
    env.filters["fig"] = _f
    max_count = max((cell.count for cells in comp.cells.values() for cell in cells.values()), default=0)
    return env.get_template("compare.html").render(comp=comp, max_count=max_count)


# ------------------------------------------------------------------------ XLSX


def _sheet_title(text: str, used: set[str]) -> str:
    title = re.sub(r"[\[\]:*?/\\']", "_", text)[:31] or "sheet"
    base, n = title, 2
    while title.lower() in used:
        suffix = f" {n}"
        title = base[: 31 - len(suffix)] + suffix
        n += 1
    used.add(title.lower())
    return title


def to_xlsx(comp: Comparison, path: str | Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    wb = Workbook()
    used: set[str] = set()
    names = comp.names

    def put(ws, row, col, value, *, font=None, fill=None, link=None):
        cell = ws.cell(row=row, column=col, value=neutralise(value))
        if isinstance(cell.value, str):
            cell.data_type = "s"  # never a formula, whatever the text
        cell.alignment = wrap
        if font:
            cell.font = font
        if fill:
            cell.fill = fill
        if link and safe_url(link):
            cell.hyperlink = safe_url(link)
        return cell

    grid = wb.active
    grid.title = _sheet_title("Grid", used)
    put(grid, 1, 1, "Group", font=bold)
    put(grid, 1, 2, "Category", font=bold)
    for j, name in enumerate(names, start=3):
        put(grid, 1, j, name, font=bold)
        grid.column_dimensions[grid.cell(row=1, column=j).column_letter].width = 48
    grid.column_dimensions["B"].width = 28
    max_count = max((c.count for cells in comp.cells.values() for c in cells.values()), default=0)
    row = 2
    for cat in comp.categories:
        put(grid, row, 1, cat["group"])
        put(grid, row, 2, f"{cat['name']} ({cat['id']})")
        for j, name in enumerate(names, start=3):
            cell = comp.cells[name][cat["id"]]
            if cell.covered:
                clause = cell.clause or {}
                text = f"{cell.count} · {cell.modality or ''} · {clause.get('snapshot_date') or ''}\n{clause.get('text', '')}"
                fill = PatternFill("solid", fgColor=_xlsx_heat(cell.count, max_count))
                put(grid, row, j, text, fill=fill, link=clause.get("url"))
            else:
                put(grid, row, j, "")
        row += 1
    grid.freeze_panes = "C2"

    scores = wb.create_sheet(_sheet_title("Scores", used))
    header = ["Company", "Categories covered", "Clauses", "Words", "Flesch reading ease", "Restrictiveness"]
    header += [f"Restrictiveness: {g}" for g in comp.groups]
    for j, h in enumerate(header, start=1):
        put(scores, 1, j, h, font=bold)
    for i, p in enumerate(comp.companies, start=2):
        values = [p.name, p.covered, p.clauses, p.words, p.readability, p.restrictiveness]
        values += [p.restrictiveness_by_group.get(g) for g in comp.groups]
        for j, v in enumerate(values, start=1):
            put(scores, i, j, v)
    r = len(comp.companies) + 3
    for label, ids in (("Common to all", comp.common), ("Only some have", comp.partial), ("Covered by none", comp.absent)):
        put(scores, r, 1, label, font=bold)
        put(scores, r, 2, ", ".join(ids))
        r += 1
    put(scores, r, 1, "Unique to one", font=bold)
    put(scores, r, 2, ", ".join(f"{c} ({who})" for c, who in comp.unique.items()))
    if comp.taggers:
        put(scores, r + 1, 1, "Tagged by", font=bold)
        put(scores, r + 1, 2, ", ".join(comp.taggers))

    if comp.client:
        gaps = wb.create_sheet(_sheet_title("Gaps", used))
        for j, h in enumerate(("Category", "Group", "Peer share", "Peers", "Example company", "Example wording", "Source"), start=1):
            put(gaps, 1, j, h, font=bold)
        r = 2
        for gap in comp.gaps:
            for ex in gap.examples or [{}]:
                values = [gap.category, gap.group, gap.peer_share, ", ".join(gap.peers), ex.get("company"), ex.get("text"), ex.get("url")]
                for j, v in enumerate(values, start=1):
                    put(gaps, r, j, v, link=ex.get("url") if j == 7 else None)
                r += 1

    if comp.quality is not None:
        _xlsx_quality(wb.create_sheet(_sheet_title("Quality", used)), comp, put, bold)

    sheets = [(cat["id"], comp.clauses[cat["id"]]) for cat in comp.categories]
    for title, by_company in sheets + [("no category", comp.uncategorised)]:
        ws = wb.create_sheet(_sheet_title(title, used))
        for j, name in enumerate(names, start=1):
            put(ws, 1, j, name, font=bold)
            ws.column_dimensions[ws.cell(row=1, column=j).column_letter].width = 60
            for i, clause in enumerate(by_company.get(name, []), start=2):
                put(ws, i, j, f"[{clause.get('modality') or ''}] {clause['text']}", link=clause.get("url"))
        ws.freeze_panes = "A2"
    wb.save(str(path))


def _xlsx_quality(ws, comp: Comparison, put, bold) -> None:
    names = list(comp.quality.datasets)
    put(ws, 1, 1, quality_note(comp))
    header = ["Category", "Check by hand"]
    for n in names:
        header += [f"{n}: document F1", f"{n}: documents", f"{n}: clause F1", f"{n}: clauses"]
    for j, h in enumerate(header, start=1):
        put(ws, 3, j, h, font=bold)
    for i, row in enumerate(quality_rows(comp), start=4):
        values = [f"{row['name']} ({row['id']})", "yes" if row["doubtful"] else ""]
        for n in names:
            m = row["datasets"][n]
            values += [m.get("coverage_f1"), m.get("coverage_support"), m.get("f1"), m.get("support")]
        for j, v in enumerate(values, start=1):
            put(ws, i, j, v)
    ws.column_dimensions["A"].width = 40


def _xlsx_heat(count: int, max_count: int) -> str:
    share = math.log1p(count) / math.log1p(max(max_count, 1))
    level = int(235 - 120 * share)
    return f"FF{level:02X}{min(255, level + 20):02X}FF"


# ------------------------------------------------------------------- CSV, JSON


def to_csv(comp: Comparison) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["group", "category", "name"]
    for name in comp.names:
        header += [f"{name}: clauses", f"{name}: modality", f"{name}: representative clause", f"{name}: source"]
    writer.writerow([neutralise(h) for h in header])
    for cat in comp.categories:
        row = [cat["group"], cat["id"], cat["name"]]
        for name in comp.names:
            cell = comp.cells[name][cat["id"]]
            clause = cell.clause or {}
            row += [cell.count, cell.modality or "", clause.get("text", ""), clause.get("url", "")]
        writer.writerow([neutralise(v) for v in row])
    return out.getvalue()


def to_json(comp: Comparison) -> str:
    return json.dumps(comp.to_dict(), ensure_ascii=False, indent=2)


def write(comp: Comparison, fmt: str, path: str | Path | None) -> str | None:
    """Write one format to path (or return it as text when path is None; not for xlsx)."""
    if fmt == "xlsx":
        if path is None:
            raise ValueError("xlsx needs an output file")
        to_xlsx(comp, path)
        return None
    text = {"md": to_markdown, "html": to_html, "csv": to_csv, "json": to_json}[fmt](comp)
    if path is None:
        return text
    Path(path).write_text(text, encoding="utf-8")
    return None
