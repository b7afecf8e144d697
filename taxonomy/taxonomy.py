"""Loading and checking the taxonomy file (taxonomy/taxonomy.yaml)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import yaml

TAXONOMY_PATH = Path(__file__).with_name("taxonomy.yaml")

# The ids of shared/TAXONOMY.md, a stable contract: the file may add, never drop.
CONTRACT_IDS = (
    "scope", "official_accounts", "participation", "work_time_use", "spokesperson", "disclosure",
    "brand_voice", "engagement", "escalation", "monitoring", "reporting", "confidentiality", "privacy",
    "respect", "legal_compliance", "accuracy", "political", "security", "consequences", "training",
    "policy_framework", "employee_rights",
)
GROUPS = ("Who", "When", "Identity", "Routing", "Reporting", "Conduct", "Governance")
# The modality vocabulary of shared/TAXONOMY.md, strongest first: the one definition every package imports.
MODALITIES = ("prohibition", "obligation", "recommendation", "permission", "information")


@dataclass(frozen=True)
class Example:
    text: str
    labels: tuple[str, ...]
    heading: str = ""
    lead_in: str = ""


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    group: str
    description: str
    phrases: tuple[str, ...]
    headings: tuple[str, ...]
    examples: tuple[Example, ...]
    subcategories: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Taxonomy:
    version: str
    groups: tuple[str, ...]
    categories: tuple[Category, ...]
    unlabelled: tuple[str, ...]
    generic_headings: tuple[str, ...] = ()
    digest: str = field(default="")

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.categories]

    def category(self, cid: str) -> Category:
        for c in self.categories:
            if c.id == cid:
                return c
        raise KeyError(cid)

    def examples(self) -> list[Example]:
        return [e for c in self.categories for e in c.examples]


class TaxonomyError(ValueError):
    pass


def _example(raw, cid: str, ids: set[str]) -> Example:
    if isinstance(raw, str):
        return Example(raw.strip(), (cid,))
    if not isinstance(raw, dict) or "text" not in raw:
        raise TaxonomyError(f"{cid}: an example must be a string or have a 'text' field: {raw!r}")
    also = tuple(raw.get("also") or ())
    unknown = set(also) - ids
    if unknown:
        raise TaxonomyError(f"{cid}: example refers to unknown categories {sorted(unknown)}")
    return Example(str(raw["text"]).strip(), (cid, *also), raw.get("heading") or "", raw.get("lead_in") or "")


def parse_taxonomy(data: dict, digest: str = "") -> Taxonomy:
    groups = tuple(data.get("groups") or GROUPS)
    raw_categories = data.get("categories") or []
    ids = {c.get("id") for c in raw_categories}
    missing = [cid for cid in CONTRACT_IDS if cid not in ids]
    if missing:
        raise TaxonomyError(f"taxonomy lacks contract categories: {', '.join(missing)}")
    categories = []
    for c in raw_categories:
        cid = c["id"]
        if c.get("group") not in groups:
            raise TaxonomyError(f"{cid}: unknown group {c.get('group')!r}")
        examples = tuple(_example(e, cid, ids) for e in c.get("examples") or [])
        if not examples:
            raise TaxonomyError(f"{cid}: needs example clauses")
        categories.append(
            Category(
                id=cid,
                name=c.get("name") or cid,
                group=c["group"],
                description=" ".join(str(c.get("description") or "").split()),
                phrases=tuple(str(p) for p in c.get("phrases") or ()),
                headings=tuple(str(h) for h in c.get("headings") or ()),
                examples=examples,
                subcategories=tuple(c.get("subcategories") or ()),
            )
        )
    return Taxonomy(
        version=str(data.get("taxonomy_version", "1")),
        groups=groups,
        categories=tuple(categories),
        unlabelled=tuple(str(u) for u in data.get("unlabelled") or ()),
        generic_headings=tuple(str(h) for h in data.get("generic_headings") or ()),
        digest=digest,
    )


@lru_cache(maxsize=4)
def load_taxonomy(path: str | Path = TAXONOMY_PATH) -> Taxonomy:
    raw = Path(path).read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path}: not valid YAML ({exc})") from exc
    return parse_taxonomy(data, hashlib.sha256(raw).hexdigest()[:12])


def add_examples(tax: Taxonomy, path: str | Path) -> Taxonomy:
    """The taxonomy with more example clauses from a YAML file: category id -> examples, ``none`` -> unlabelled.

    Examples take the taxonomy file's forms (a string, or {text, also,
    heading, lead_in}). The digest changes, and with it the version of any
    model trained on the result.
    """
    raw = Path(path).read_bytes()
    try:
        data = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise TaxonomyError(f"{path}: expected a mapping of category id to examples")
    ids = set(tax.ids)
    unknown = sorted(set(data) - ids - {"none"})
    if unknown:
        raise TaxonomyError(f"{path}: unknown categories {', '.join(unknown)}")
    categories = tuple(
        replace(c, examples=c.examples + tuple(_example(e, c.id, ids) for e in data.get(c.id) or ()))
        for c in tax.categories
    )
    unlabelled = tax.unlabelled + tuple(str(e if isinstance(e, str) else e.get("text", "")).strip()
                                        for e in data.get("none") or ())
    digest = hashlib.sha256(f"{tax.digest}\n".encode() + raw).hexdigest()[:12]
    return replace(tax, categories=categories, unlabelled=unlabelled, digest=digest)
