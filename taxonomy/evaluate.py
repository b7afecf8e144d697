"""Scoring predicted clause labels against a labelled set."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Scores:
    per_category: dict[str, dict] = field(default_factory=dict)
    micro_f1: float = 0.0
    macro_f1: float = 0.0
    micro_precision: float = 0.0
    micro_recall: float = 0.0
    modality_accuracy: float = 0.0
    modality_confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # gold -> predicted -> count
    coverage_f1: float = 0.0
    coverage_precision: float = 0.0
    coverage_recall: float = 0.0
    units: int = 0
    documents: int = 0
    # three-state grid cells (taxonomy.coverage); None when the model has no cell thresholds
    decided_share: float | None = None
    decided_accuracy: float | None = None
    evidence_precision: float | None = None
    cells: int = 0

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score(gold: list[dict], predicted: list[dict], categories: list[str]) -> Scores:
    """Compare predictions with gold labels, unit by unit.

    Both lists hold {doc, labels: [ids], modality} in the same order.
    Macro-F1 averages the categories that occur in the gold set; coverage
    counts a (document, category) pair as present when any unit of the
    document carries the category.
    """
    counts = {c: [0, 0, 0] for c in categories}  # tp, fp, fn
    modality_hits = 0
    out_confusion: dict[str, dict[str, int]] = {}
    gold_cover: dict[str, set] = defaultdict(set)
    pred_cover: dict[str, set] = defaultdict(set)
    for g, p in zip(gold, predicted, strict=True):
        gl, pl = set(g.get("labels") or ()), set(p.get("labels") or ())
        for c in gl | pl:
            if c not in counts:
                counts[c] = [0, 0, 0]
            counts[c][0 if (c in gl and c in pl) else (1 if c in pl else 2)] += 1
        modality_hits += g.get("modality") == p.get("modality")
        row = out_confusion.setdefault(str(g.get("modality")), {})
        row[str(p.get("modality"))] = row.get(str(p.get("modality")), 0) + 1
        doc = g.get("doc", "")
        gold_cover[doc] |= gl
        pred_cover[doc] |= pl
    out = Scores(units=len(gold), documents=len(gold_cover), modality_confusion=out_confusion)
    f1s = []
    for c, (tp, fp, fn) in counts.items():
        precision, recall, f1 = _prf(tp, fp, fn)
        out.per_category[c] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn, "predicted": tp + fp,
                               **_category_coverage(c, gold_cover, pred_cover)}
        if tp + fn:
            f1s.append(f1)
    tp, fp, fn = (sum(v[i] for v in counts.values()) for i in range(3))
    out.micro_precision, out.micro_recall, out.micro_f1 = _prf(tp, fp, fn)
    out.macro_f1 = sum(f1s) / len(f1s) if f1s else 0.0
    out.modality_accuracy = modality_hits / len(gold) if gold else 0.0
    ctp = sum(len(gold_cover[d] & pred_cover[d]) for d in gold_cover)
    cfp = sum(len(pred_cover[d] - gold_cover[d]) for d in gold_cover)
    cfn = sum(len(gold_cover[d] - pred_cover[d]) for d in gold_cover)
    out.coverage_precision, out.coverage_recall, out.coverage_f1 = _prf(ctp, cfp, cfn)
    return out


def score_cells(gold: list[dict], cells: list[dict], out: Scores | None = None) -> Scores:
    """Add the figures of three-state cells (``taxonomy.pipeline.coverage_units``) to ``out``.

    ``gold`` holds {doc, idx, labels} per unit. A decided cell is right when
    'covered' matches a document that has the category on some unit, or
    'absent' one that has not; the evidence of a covered cell is right when
    its unit (matched by doc and idx) carries the category.
    """
    out = out or Scores()
    present: dict = defaultdict(set)
    unit_labels = {}
    for g in gold:
        present[g.get("doc", "")] |= set(g.get("labels") or ())
        unit_labels[(g.get("doc", ""), g.get("idx"))] = set(g.get("labels") or ())
    decided = right = covered = evidence = 0
    for cell in cells:
        truth = cell["category"] in present[cell["doc"] or ""]
        if cell["state"] == "uncertain":
            continue
        decided += 1
        right += truth == (cell["state"] == "covered")
        if cell["state"] == "covered":
            covered += 1
            evidence += cell["category"] in unit_labels.get((cell["doc"] or "", cell["evidence_idx"]), ())
    out.cells = len(cells)
    out.decided_share = decided / len(cells) if cells else 0.0
    out.decided_accuracy = right / decided if decided else 0.0
    out.evidence_precision = evidence / covered if covered else 0.0
    return out


def _category_coverage(category: str, gold_cover: dict, pred_cover: dict) -> dict:
    """Document-level figures of one category: is it found in the documents that have it, and only there?"""
    tp = sum(category in gold_cover[d] and category in pred_cover[d] for d in gold_cover)
    fp = sum(category not in gold_cover[d] and category in pred_cover[d] for d in gold_cover)
    fn = sum(category in gold_cover[d] and category not in pred_cover[d] for d in gold_cover)
    p, r, f = _prf(tp, fp, fn)
    return {"coverage_precision": p, "coverage_recall": r, "coverage_f1": f, "coverage_support": tp + fn}


def format_scores(s: Scores) -> str:
    lines = [f"{'category':<20} {'prec':>6} {'recall':>6} {'f1':>6} {'support':>7} {'pred':>5}   {'cov-f1':>6} {'docs':>4}"]
    for c, m in s.per_category.items():
        lines.append(f"{c:<20} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['support']:7d} {m['predicted']:5d}"
                     f"   {m['coverage_f1']:6.3f} {m['coverage_support']:4d}")
    lines += [
        "",
        f"units {s.units}, documents {s.documents}",
        f"micro-F1           {s.micro_f1:.3f}  (precision {s.micro_precision:.3f}, recall {s.micro_recall:.3f})",
        f"macro-F1           {s.macro_f1:.3f}",
        f"modality accuracy  {s.modality_accuracy:.3f}",
        f"coverage F1        {s.coverage_f1:.3f}  (precision {s.coverage_precision:.3f}, recall {s.coverage_recall:.3f})",
    ]
    if s.decided_share is not None:
        lines += [
            f"cells              {s.cells} (document x category): decided {s.decided_share:.3f}, "
            f"decided accuracy {s.decided_accuracy:.3f}, evidence precision {s.evidence_precision:.3f}",
        ]
    return "\n".join(lines + format_confusion(s.modality_confusion))


def format_confusion(confusion: dict[str, dict[str, int]]) -> list[str]:
    """Modality confusion matrix: one row per labelled modality, one column per predicted one."""
    if not confusion:
        return []
    names = sorted({m for row in confusion.values() for m in row} | set(confusion))
    lines = ["", "modality confusion (rows: labelled, columns: predicted)",
             f"{'':<15}" + "".join(f"{n[:6]:>7}" for n in names)]
    for g in names:
        row = confusion.get(g, {})
        lines.append(f"{g:<15}" + "".join(f"{row.get(n, 0):7d}" for n in names))
    return lines


# ---------------------------------------------------------------- quality card

CARD_FIGURES = ("units", "documents", "macro_f1", "micro_f1", "coverage_f1", "modality_accuracy", "decided_share",
                "decided_accuracy", "evidence_precision")
CARD_CATEGORY_FIGURES = ("precision", "recall", "f1", "support", "coverage_precision", "coverage_recall",
                         "coverage_f1", "coverage_support")


def card_entry(s: Scores, description: str = "") -> dict:
    """The figures a quality card keeps for one labelled set (rounded, so the card diffs cleanly)."""
    def r(v):
        return round(v, 4) if isinstance(v, float) else v

    return {
        "description": description,
        **{k: r(getattr(s, k)) for k in CARD_FIGURES},
        "per_category": {c: {k: r(m[k]) for k in CARD_CATEGORY_FIGURES} for c, m in s.per_category.items()},
    }


def load_card(path: str | Path, model_version: str | None = None) -> dict | None:
    """A model's quality card, or None if there is none (or it was measured for another model version)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read the quality card {path}: {exc}") from exc
    if not isinstance(card, dict) or not isinstance(card.get("sets", {}), dict):
        raise ValueError(f"{path} is not a quality card")
    if model_version is not None and card.get("model_version") != model_version:
        return None
    return card


def update_card(path: str | Path, model_version: str, name: str, s: Scores, description: str = "") -> dict:
    """Record the figures of one labelled set in the quality card at ``path``.

    A card measured for another model version is started afresh: its figures
    say nothing about this model.
    """
    card = load_card(path, model_version) or {"model_version": model_version, "sets": {}}
    card["sets"][name] = card_entry(s, description)
    card["sets"] = dict(sorted(card["sets"].items()))
    Path(path).write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return card
