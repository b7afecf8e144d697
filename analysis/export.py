"""Writing a comparison in one format: the text formats and XLSX/PDF of analysis.render, Word and PowerPoint of
analysis.office (kept apart so that neither renderer imports the other)."""

from __future__ import annotations

from pathlib import Path

from analysis.compare import Comparison
from analysis.office import to_docx, to_pptx
from analysis.render import FILE_FORMATS, html_to_pdf, to_csv, to_html, to_json, to_markdown, to_summary_html, to_xlsx


def write(comp: Comparison, fmt: str, path: str | Path | None, *, paper: str = "a4") -> str | None:
    """Write one format to path (or return it as text when path is None; not for the file formats)."""
    if fmt in FILE_FORMATS:
        if path is None:
            raise ValueError(f"{fmt} needs an output file")
        if fmt == "xlsx":
            to_xlsx(comp, path)
        elif fmt == "pdf":
            html_to_pdf(to_html(comp, paper), path)
        else:
            (to_docx if fmt == "docx" else to_pptx)(comp, path)
        return None
    if fmt == "html":
        text = to_html(comp, paper)
    elif fmt == "summary":
        text = to_summary_html(comp, paper)
    else:
        text = {"md": to_markdown, "csv": to_csv, "json": to_json}[fmt](comp)
    if path is None:
        return text
    Path(path).write_text(text, encoding="utf-8")
    return None
