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
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from analysis.compare import (
    COVERED_AT,
    RESTRICTIVENESS_NOTE,
    STATE_LABELS,
    TRUSTED_COVERAGE_F1,
    UNCERTAIN_AT,
    Cell,
    Comparison,
    Quality,
)
from taxonomy.taxonomy import MODALITIES

TEXT_FORMATS = ("md", "html", "summary", "csv", "json")
FILE_FORMATS = ("xlsx", "docx", "pptx", "pdf")
FORMATS = TEXT_FORMATS + FILE_FORMATS
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
SAFE_SCHEMES = ("http", "https")
# The one modality vocabulary of every format: the taxonomy's word, with its short form in brackets.
MODALITY_SHORT = dict(zip(MODALITIES, ("must not", "must", "should", "may", "info"), strict=True))
MODALITY_ABBREV = MODALITY_SHORT  # kept for callers of the old name
STATE_MARK = {"covered": "✓", "uncertain": "?", "absent": "—"}
STATE_COLOURS = {"covered": "#2f7d32", "uncertain": "#f2b233", "absent": "#eeeeee"}  # heatmap fills
STATE_TEXT_COLOURS = {"covered": "#ffffff", "uncertain": "#222222", "absent": "#888888"}
LEGEND = (f"✓ covered: a clause scores at least {COVERED_AT:.1f} for the category · "
          f"? check: the best clause scores {UNCERTAIN_AT:.1f}–{COVERED_AT:.1f}, read it before relying on it · "
          f"— not found: no clause scores {UNCERTAIN_AT:.1f} or more. The number is the confidence (0–1).")


def modality_label(modality: str | None) -> str:
    """'prohibition (must not)': the taxonomy's word with its short form, the same in every format."""
    if not modality:
        return ""
    short = MODALITY_SHORT.get(modality)
    return f"{modality} ({short})" if short else modality


def state_text(cell: Cell) -> str:
    """'✓ covered 0.92', '? check 0.41' or '— not found'."""
    if cell.state == "absent":
        return f"{STATE_MARK['absent']} {STATE_LABELS['absent']}"
    return f"{STATE_MARK[cell.state]} {STATE_LABELS[cell.state]} {cell.score:.2f}"


def cite(clause: dict) -> str:
    """Where a quoted clause comes from: its document's title, URL (or source), the policy's own date when it
    states one, and the date it was collected."""
    where = clause.get("url") or clause.get("source") or ""
    title = clause.get("document") or ""
    text = f"{title} — {where}" if title and where and title != where else (title or where)
    when = "; ".join(filter(None, [f"policy {clause['policy_date']}" if clause.get("policy_date") else "",
                                   f"collected {clause['collected']}" if clause.get("collected") else ""]))
    return text + (f" ({when})" if when else "")


def summary(comp: Comparison, max_gaps: int = 5) -> dict:
    """The one-page executive summary's content, shared by every format."""
    peers = [p for p in comp.companies if not p.is_client]
    client = next((p for p in comp.companies if p.is_client), None)
    checks = sum(cell.state == "uncertain" for cells in comp.cells.values() for cell in cells.values())
    gaps = []
    for gap in comp.gaps[:max_gaps]:
        best = gap.examples[0] if gap.examples else None
        gaps.append({"category": gap.category, "name": gap.name, "peers": len(gap.peers), "of": len(peers),
                     "client_state": gap.client_state, "client_score": gap.client_score,
                     "best": best, "best_text": shorten(best["text"], 160) if best else ""})
    return {
        "title": "Social media policy comparison",
        "peers": [p.name for p in peers],
        "client": client.name if client else None,
        "columns": [p.name for p in comp.companies],
        "generated": comp.generated_at[:10],
        "checks": checks,
        "cells": len(comp.categories) * len(comp.companies),
        "gaps": gaps,
        "more_gaps": max(0, len(comp.gaps) - max_gaps),
        "common": [comp.category(c)["name"] for c in comp.common],
        "unusual": [(comp.category(c)["name"], who) for c, who in comp.unique.items()],
        "absent": [comp.category(c)["name"] for c in comp.absent],
        "restrictiveness": [(p.name, p.restrictiveness) for p in comp.companies],
        "restrictiveness_note": RESTRICTIVENESS_NOTE,
        "choices": [(p.name, p.choice, len(p.other_documents)) for p in comp.companies if p.choice],
        "legend": LEGEND,
    }


def neutralise(value: Any) -> Any:
    """A spreadsheet-safe version of a cell value: text that would start a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_url(url: str | None) -> str | None:
    """The URL if it is http(s), else None (never a javascript:, data: or local file: link)."""
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


def md_cell(cell: Cell, short: int = 140) -> str:
    if cell.state == "absent":
        return state_text(cell)
    clause = cell.evidence or {}
    head = f"{state_text(cell)} · {cell.count} · {modality_label(cell.modality)}"
    quote_ = md_escape(shorten(clause.get("text", ""), short))
    return f"{head}<br>“{quote_}” ({md_source(clause)})"


def md_source(clause: dict) -> str:
    label = clause.get("document") or clause.get("source") or "source"
    text = md_link(label, clause.get("url"))
    if not clause.get("url") and clause.get("source") and clause.get("source") != label:
        text += f", {md_escape(clause['source'])}"
    if clause.get("policy_date"):
        text += f", policy {md_escape(clause['policy_date'])}"
    if clause.get("collected"):
        text += f", collected {md_escape(clause['collected'])}"
    return text


def to_markdown(comp: Comparison) -> str:
    names = comp.names
    lines = [f"# Social media policy comparison: {md_escape(', '.join(names))}", ""]
    lines += _md_executive(comp)
    if comp.taggers:
        lines += ["", f"Tagged by {md_escape(', '.join(comp.taggers))}."]
    lines += ["", "## Overview", ""]
    lines += _md_summary(comp)
    lines += ["", "## Scores", "", md_escape(RESTRICTIVENESS_NOTE), ""]
    groups = comp.groups
    lines.append("| | " + " | ".join(md_escape(n) for n in names) + " |")
    lines.append("|---" * (len(names) + 1) + "|")
    rows = [
        ("Categories covered", [f"{p.covered}/{len(comp.categories)}" for p in comp.companies]),
        ("Categories to check", [str(p.uncertain) for p in comp.companies]),
        ("Clauses", [str(p.clauses) for p in comp.companies]),
        ("Clauses in no category", [str(len(comp.uncategorised.get(p.name, []))) for p in comp.companies]),
        ("Words", [str(p.words) for p in comp.companies]),
        ("Flesch reading ease", [_num(p.readability) for p in comp.companies]),
        ("Restrictiveness", [_pct(p.restrictiveness) for p in comp.companies]),
    ] + [(f"Restrictiveness: {g}", [_pct(p.restrictiveness_by_group.get(g)) for p in comp.companies]) for g in groups]
    for label, values in rows:
        lines.append(f"| {md_escape(label)} | " + " | ".join(values) + " |")
    lines += ["", "## Grid", "", md_escape(LEGEND), ""]
    lines.append("| Category | " + " | ".join(md_escape(n) for n in names) + " |")
    lines.append("|---" * (len(names) + 1) + "|")
    for group in groups:
        lines.append(f"| **{md_escape(group)}** |" + " |" * len(names))
        for cat in [c for c in comp.categories if c["group"] == group]:
            cells = [md_cell(comp.cells[n][cat["id"]]) for n in names]
            checks = sum(comp.cells[n][cat["id"]].state == "uncertain" for n in names)
            flag = f" **? check {checks}**" if checks else ""
            lines.append(f"| {md_escape(cat['name'])} (`{cat['id']}`){flag} | " + " | ".join(cells) + " |")
    if comp.client:
        lines += ["", f"## Gaps in {md_escape(comp.client)}", ""]
        if not comp.gaps:
            lines.append("No category that most peers cover is missing from the draft.")
        peers = len(names) - 1
        for gap in comp.gaps:
            own = "not found in the draft" if gap.client_state == "absent" else \
                f"? check: the draft may cover it (confidence {gap.client_score:.2f})"
            lines.append(f"- **{md_escape(gap.name)}** (`{gap.category}`, {gap.group}): covered by "
                         f"{len(gap.peers)} of {peers} peers ({md_escape(', '.join(gap.peers))}); {own}")
            for ex in gap.examples:
                lines.append(f"  - {md_escape(ex['company'])} (confidence {ex['score']:.2f}, "
                             f"{md_escape(modality_label(ex.get('modality')))}): “{md_escape(shorten(ex['text'], 300))}” "
                             f"({md_source(ex)})")
    lines += _md_quality(comp)
    lines += ["", "## Sources", ""]
    lines += _md_sources(comp)
    return "\n".join(lines) + "\n"


def _md_sources(comp: Comparison) -> list[str]:
    lines = []
    for p in comp.companies:
        for d in p.documents:
            when = f", collected {md_escape(d['collected'])}" if d.get("collected") else ""
            if d.get("policy_date"):
                when = f", policy {md_escape(d['policy_date'])}" + when
            where = md_link(d["url"], d["url"]) if d.get("url") else md_escape(d.get("source") or "")
            lines.append(f"- {md_escape(p.name)}: {md_escape(d.get('title') or '')} — {where}{when}")
        if p.choice:
            lines.append(f"  - column: {md_escape(p.choice)}")
        for o in p.other_documents:
            where = md_link(o["url"], o["url"]) if o.get("url") else md_escape(o.get("source") or "")
            lines.append(f"  - not compared: {md_escape(o.get('title') or '')} — {where} ({o['clauses']} clauses; "
                         f"compare it with --document {md_escape(o.get('key') or '')})")
    return lines


def _md_executive(comp: Comparison) -> list[str]:
    data = summary(comp)
    lines = ["## Executive summary", ""]
    who = ", ".join(md_escape(p) for p in data["peers"])
    lines.append(f"Peers: {who.rstrip('.')}." + (f" Client draft: {md_escape(data['client'])}." if data["client"] else ""))
    lines.append(f"{data['checks']} of {data['cells']} cells need a check by hand (marked ?).")
    lines.append("")
    if data["client"]:
        lines.append("**Top gaps in the draft**")
        lines.append("")
        for g in data["gaps"]:
            best = g["best"]
            lines.append(f"- {md_escape(g['name'])}: {g['peers']} of {g['of']} peers"
                         + (" (draft: ? check)" if g["client_state"] == "uncertain" else "")
                         + (f"; e.g. {md_escape(best['company'])} ({best['score']:.2f}): “{md_escape(g['best_text'])}”"
                            if best else ""))
        if not data["gaps"]:
            lines.append("- none: the draft covers what most peers cover")
        lines.append("")
    lines.append(f"**Common to all**: {md_escape(', '.join(data['common']) or 'none')}")
    lines.append("**Unusual (one peer only)**: "
                 + (md_escape(", ".join(f"{n} ({w})" for n, w in data["unusual"])) or "none"))
    lines.append("")
    lines.append(md_escape(RESTRICTIVENESS_NOTE) + " " + md_escape(
        "; ".join(f"{n} {_pct(v)}" for n, v in data["restrictiveness"])) + ".")
    return lines


def _f(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def quality_card(comp: Comparison) -> Quality:
    """The comparison's quality card (every format shows the trust section only when it has one)."""
    if comp.quality is None:
        raise ValueError("the comparison has no quality card")
    return comp.quality


def quality_note(comp: Comparison) -> str:
    q = quality_card(comp)
    ref = q.datasets[q.reference]
    return (f"The tags come from tagger model {q.model_version}. Its quality card compares it with hand labels. "
            f"A grid cell (does the document cover the category?) is right as often as the document-level F1 "
            f"below says; on {q.reference} ({ref['description'] or 'a labelled set'}; {ref['documents']} documents, "
            f"{ref['units']} clauses) the categories marked ⚠ score below {TRUSTED_COVERAGE_F1:.2f}: "
            f"check their cells by hand before showing them to a client.")


def quality_rows(comp: Comparison) -> list[dict]:
    """One row per category: its measured figures in each labelled set of the quality card."""
    q = quality_card(comp)
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
    lines += [f"- **Not tagged**: {md_escape(name)} ({md_escape(why)}: the tagger reads English; left out of "
              "every count)" for name, why in comp.not_tagged.items()]
    return lines


# ------------------------------------------------------------------------ HTML

PAPERS = {"a4": "A4", "letter": "letter"}


def row_checks(comp: Comparison) -> dict[str, int]:
    """Per category, how many of its grid cells say "check" (uncertain)."""
    return {cat["id"]: sum(comp.cells[n][cat["id"]].state == "uncertain" for n in comp.names) for cat in comp.categories}


def _environment():
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("analysis", "report_templates"), autoescape=select_autoescape(default=True))
    env.filters["pct"] = _pct
    env.filters["num"] = _num
    env.filters["shorten"] = shorten
    env.filters["fig"] = _f
    env.globals.update(safe_url=safe_url, modality_label=modality_label, quality_note=quality_note,
                       quality_rows=quality_rows, state_mark=STATE_MARK, state_labels=STATE_LABELS,
                       state_colours=STATE_COLOURS, state_text_colours=STATE_TEXT_COLOURS, legend=LEGEND,
                       restrictiveness_note=RESTRICTIVENESS_NOTE)
    return env


def to_html(comp: Comparison, paper: str = "a4") -> str:
    """The whole report: the one-page summary first, then the grid, gaps, quality and sources (print-ready)."""
    return _environment().get_template("compare.html").render(
        comp=comp, s=summary(comp), row_checks=row_checks(comp), paper=PAPERS.get(paper, "A4"))


def to_summary_html(comp: Comparison, paper: str = "a4") -> str:
    """The one-page executive summary on its own (fits one printed A4 or Letter page)."""
    return _environment().get_template("summary.html").render(
        comp=comp, s=summary(comp), row_checks=row_checks(comp), paper=PAPERS.get(paper, "A4"))


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    import shutil

    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def html_to_pdf(html: str, pdf_path: str | Path, *, timeout: float = 120) -> None:
    """Print an HTML page to PDF with headless Chromium (DependencyError when it is not installed)."""
    import subprocess
    import tempfile

    from policycorpus.errors import DependencyError

    browser = find_chromium()
    if browser is None:
        raise DependencyError("--format pdf needs Chromium: install it (e.g. 'apt install chromium'), "
                              "or write --format html and print it from a browser")
    pdf_path = Path(pdf_path).resolve()
    with tempfile.TemporaryDirectory(prefix="policycorpus-pdf-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp}/profile", "--no-pdf-header-footer", "--print-to-pdf-no-header",
                f"--print-to-pdf={pdf_path}", page.as_uri()]
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DependencyError(f"Chromium did not finish printing the PDF within {timeout:.0f} s") from None
    if done.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        last = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise DependencyError(f"Chromium could not print the PDF: {last[0]}")


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


XLSX_FILLS = {"covered": "FFC8E6C9", "uncertain": "FFFFE0A3", "absent": "FFF4F4F4"}
PERCENT = "0%"
CONFIDENCE = "0.00"


def to_xlsx(comp: Comparison, path: str | Path) -> None:
    """A workbook that reads well: widths, wrapped text, frozen headers, percentages, sorted per-category sheets."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    wb = Workbook()
    used: set[str] = set()
    names = comp.names

    def put(ws, row, col, value, *, font=None, fill=None, link=None, fmt=None):
        cell = ws.cell(row=row, column=col, value=neutralise(value))
        if isinstance(cell.value, str):
            cell.data_type = "s"  # never a formula, whatever the text
        cell.alignment = wrap
        if font:
            cell.font = font
        if fill:
            cell.fill = PatternFill("solid", fgColor=fill)
        if link and safe_url(link):
            cell.hyperlink = safe_url(link)
        if fmt:
            cell.number_format = fmt
        return cell

    def header(ws, values, widths, row=1):
        for j, (h, w) in enumerate(zip(values, widths), start=1):
            put(ws, row, j, h, font=bold, fill="FFEEF2F7")
            ws.column_dimensions[ws.cell(row=row, column=j).column_letter].width = w
        ws.freeze_panes = ws.cell(row=row + 1, column=1)

    # Summary: the executive summary as rows
    data = summary(comp)
    ws = wb.active
    ws.title = _sheet_title("Summary", used)
    header(ws, ["Item", "Value"], [28, 110])
    rows = [("Peers", ", ".join(data["peers"])), ("Client draft", data["client"] or "–"),
            ("Generated", data["generated"]), ("Cells to check by hand", f"{data['checks']} of {data['cells']}"),
            ("Legend", LEGEND), ("Common to all peers", ", ".join(data["common"]) or "none"),
            ("Unusual (one peer only)", ", ".join(f"{n} ({w})" for n, w in data["unusual"]) or "none"),
            ("Restrictiveness", RESTRICTIVENESS_NOTE)]
    rows += [(f"Restrictiveness: {n}", v) for n, v in data["restrictiveness"]]
    rows += [(f"Document chosen: {n}", c) for n, c, _ in data["choices"]]
    for i, (k, v) in enumerate(rows, start=2):
        put(ws, i, 1, k, font=bold)
        put(ws, i, 2, v, fmt=PERCENT if k.startswith("Restrictiveness: ") else None)

    grid = wb.create_sheet(_sheet_title("Grid", used))
    header(grid, ["Group", "Category", "Check"] + names, [14, 30, 9] + [46] * len(names))
    grid.freeze_panes = "D2"
    checks = row_checks(comp)
    for i, cat in enumerate(comp.categories, start=2):
        put(grid, i, 1, cat["group"])
        put(grid, i, 2, f"{cat['name']} ({cat['id']})")
        put(grid, i, 3, f"? {checks[cat['id']]}" if checks[cat["id"]] else "", fill="FFFFE0A3" if checks[cat["id"]] else None)
        for j, name in enumerate(names, start=4):
            cell = comp.cells[name][cat["id"]]
            text = state_text(cell)
            if cell.evidence:
                ev = cell.evidence
                text += f" · {cell.count} · {modality_label(cell.modality)}\n{shorten(ev['text'], 400)}\n— {cite(ev)}"
            put(grid, i, j, text, fill=XLSX_FILLS[cell.state], link=(cell.evidence or {}).get("url"))

    scores = wb.create_sheet(_sheet_title("Scores", used))
    head = ["Column", "Company", "Document", "Categories covered", "Categories to check", "Clauses", "Words",
            "Flesch reading ease", "Restrictiveness"] + [f"Restrictiveness: {g}" for g in comp.groups]
    header(scores, head, [28, 28, 36, 12, 12, 10, 10, 12, 14] + [14] * len(comp.groups))
    for i, p in enumerate(comp.companies, start=2):
        docs = "; ".join(d.get("title") or "" for d in p.documents)
        values = [p.name, p.company or "client draft", docs, p.covered, p.uncertain, p.clauses, p.words,
                  p.readability, p.restrictiveness] + [p.restrictiveness_by_group.get(g) for g in comp.groups]
        for j, v in enumerate(values, start=1):
            put(scores, i, j, v, fmt=PERCENT if j >= 9 else None)
    put(scores, len(comp.companies) + 3, 1, RESTRICTIVENESS_NOTE)
    if comp.taggers:
        put(scores, len(comp.companies) + 4, 1, "Tagged by", font=bold)
        put(scores, len(comp.companies) + 4, 2, ", ".join(comp.taggers))

    if comp.client:
        gaps = wb.create_sheet(_sheet_title("Gaps", used))
        header(gaps, ["Category", "Group", "Peer share", "Draft", "Peers", "Peer", "Confidence", "Modality",
                      "Peer wording", "Document", "Source"], [26, 12, 10, 16, 30, 22, 11, 20, 70, 30, 40])
        r = 2
        for gap in comp.gaps:
            own = "not found" if gap.client_state == "absent" else f"? check {gap.client_score:.2f}"
            for ex in gap.examples or [{}]:
                values = [gap.name, gap.group, gap.peer_share, own, ", ".join(gap.peers), ex.get("company"),
                          ex.get("score"), modality_label(ex.get("modality")), ex.get("text"), ex.get("document"),
                          ex.get("url") or ex.get("source")]
                for j, v in enumerate(values, start=1):
                    put(gaps, r, j, v, link=ex.get("url") if j == 11 else None,
                        fmt=PERCENT if j == 3 else CONFIDENCE if j == 7 else None)
                r += 1

    if comp.quality is not None:
        _xlsx_quality(wb.create_sheet(_sheet_title("Quality", used)), comp, put, bold)

    sheets = [(cat["id"], comp.clauses[cat["id"]]) for cat in comp.categories]
    for title, by_company in sheets + [("no category", comp.uncategorised)]:
        ws = wb.create_sheet(_sheet_title(title, used))
        header(ws, ["Company", "Document", "Cell", "Confidence", "Modality", "Clause", "Source", "Collected",
                    "Policy date"], [26, 30, 14, 11, 20, 80, 40, 11, 18])
        r = 2
        clients = {p.name for p in comp.companies if p.is_client}
        for name in sorted(by_company, key=lambda n: (n in clients, n.lower())):
            grid_cell = comp.cells.get(name, {}).get(title)
            for clause in by_company.get(name, []):
                values = [name, clause.get("document"), STATE_LABELS[grid_cell.state] if grid_cell else "",
                          clause.get("score"), modality_label(clause.get("modality")), clause["text"],
                          clause.get("url") or clause.get("source"), clause.get("collected"),
                          clause.get("policy_date")]
                for j, v in enumerate(values, start=1):
                    put(ws, r, j, v, link=clause.get("url") if j == 7 else None, fmt=CONFIDENCE if j == 4 else None,
                        fill=XLSX_FILLS[grid_cell.state] if grid_cell and j == 3 else None)
                r += 1
        if r > 2:
            ws.auto_filter.ref = f"A1:I{r - 1}"
    wb.save(str(path))


def _xlsx_quality(ws, comp: Comparison, put, bold) -> None:
    names = list(quality_card(comp).datasets)
    put(ws, 1, 1, quality_note(comp))
    header = ["Category", "Check by hand"]
    for n in names:
        header += [f"{n}: document F1", f"{n}: documents", f"{n}: clause F1", f"{n}: clauses"]
    for j, h in enumerate(header, start=1):
        put(ws, 3, j, h, font=bold)
        ws.column_dimensions[ws.cell(row=3, column=j).column_letter].width = 16
    for i, row in enumerate(quality_rows(comp), start=4):
        values = [f"{row['name']} ({row['id']})", "yes" if row["doubtful"] else ""]
        for n in names:
            m = row["datasets"][n]
            values += [m.get("coverage_f1"), m.get("coverage_support"), m.get("f1"), m.get("support")]
        for j, v in enumerate(values, start=1):
            put(ws, i, j, v)
    ws.column_dimensions["A"].width = 40
    ws.freeze_panes = "B4"


# ------------------------------------------------------------------- CSV, JSON


def to_csv(comp: Comparison) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["group", "category", "name", "check"]
    for name in comp.names:
        header += [f"{name}: state", f"{name}: confidence", f"{name}: clauses", f"{name}: modality",
                   f"{name}: evidence clause", f"{name}: document", f"{name}: source"]
    writer.writerow([neutralise(h) for h in header])
    checks = row_checks(comp)
    for cat in comp.categories:
        row = [cat["group"], cat["id"], cat["name"], checks[cat["id"]]]
        for name in comp.names:
            cell = comp.cells[name][cat["id"]]
            ev = cell.evidence or {}
            row += [STATE_LABELS[cell.state], f"{cell.score:.2f}", cell.count, modality_label(cell.modality),
                    ev.get("text", ""), ev.get("document", ""), ev.get("url") or ev.get("source") or ""]
        writer.writerow([neutralise(v) for v in row])
    return out.getvalue()


def to_json(comp: Comparison) -> str:
    data = comp.to_dict()
    for name, cells in comp.cells.items():
        for cid, cell in cells.items():
            data["cells"][name][cid]["label"] = cell.label
    data["summary"] = summary(comp)
    data["legend"] = LEGEND
    return json.dumps(data, ensure_ascii=False, indent=2)


# ------------------------------------------------------------------- one category, side by side


def printable(text: object) -> str:
    """Text safe to print on a terminal: control characters (escape sequences included) become spaces."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in str(text or "")).split())


def side_by_side(comp: Comparison, category: str, width: int = 160) -> str:
    """Every column's clauses of one category next to each other, strongest first (for drafting new wording).

    Columns narrower than 24 characters would be unreadable: then the columns
    are printed one after the other instead.
    """
    import textwrap
    from itertools import zip_longest

    cat = comp.category(category)
    names = [printable(n) for n in comp.names]
    blocks = []
    for label, name in zip(names, comp.names):
        cell = comp.cells[name][category]
        lines = [label, state_text(cell), ""]
        clauses = comp.clauses[category].get(name, [])
        for i, c in enumerate(clauses, start=1):
            lines.append(f"{i}. [{c['score']:.2f} · {modality_label(c.get('modality'))}]")
            lines.append(f"“{printable(c['text'])}”")
            lines.append(f"— {printable(c.get('document') or c.get('source'))}")
            lines.append("")
        if not clauses:
            lines.append("(no clause)")
        blocks.append(lines)
    title = f"{cat['name']} ({category}, {cat['group']}): {cat.get('description') or ''}".strip()
    out = [title, LEGEND, ""]
    gutter = " │ "
    col = (max(width, 40) - len(gutter) * (len(names) - 1)) // max(1, len(names))
    if col < 24:
        for lines in blocks:
            out += [textwrap.fill(line, max(width, 40)) if line else "" for line in lines] + ["─" * 20]
        return "\n".join(out) + "\n"
    wrapped = []
    for lines in blocks:
        w = []
        for j, line in enumerate(lines):
            w += textwrap.wrap(line, col) or [""]
            if j == 1:
                w.append("─" * col)
        wrapped.append(w)
    for row in zip_longest(*wrapped, fillvalue=""):
        out.append(gutter.join(part.ljust(col) for part in row).rstrip())
    return "\n".join(out) + "\n"
