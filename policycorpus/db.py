"""The corpus.db schema: the one place that creates, migrates and documents it.

Every table is declared once in ``TABLES`` with a description of the table and
of each column. ``ensure_schema`` creates missing tables and columns (additive
migrations), ``docs/schema.md`` and the Datasette metadata are generated from
the same declarations, so documentation cannot drift from the database.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

from policycorpus.errors import BusyError, CorpusError, NotFoundError

SCHEMA_VERSION = 2
DEFAULT_DB = "corpus.db"


@dataclass(frozen=True)
class Column:
    name: str
    type: type | str
    description: str


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: list[Column]
    pk: str | tuple[str, ...] = "id"
    foreign_keys: list[tuple[str, str, str]] = field(default_factory=list)
    indexes: list[tuple[tuple[str, ...], bool]] = field(default_factory=list)  # (columns, unique)
    not_null: tuple[str, ...] = ()
    fts: tuple[str, ...] = ()  # columns indexed for full-text search


def C(name: str, typ: type | str, description: str) -> Column:
    return Column(name, typ, description)


TABLES: list[Table] = [
    Table(
        "meta",
        "Key/value facts about this corpus file (schema version, creation time).",
        [C("key", str, "Name of the fact."), C("value", str, "Its value.")],
        pk="key",
    ),
    Table(
        "companies",
        "Organizations in the corpus, imported from a CSV or created by import-docs.",
        [
            C("id", int, "Row id."),
            C("name", str, "Organization name as given in the input (unique)."),
            C("slug", str, "Lower-case identifier derived from the name (unique)."),
            C("homepage", str, "Homepage URL the crawl starts from."),
            C("policy_url", str, "Known URL of the social media policy, if the input gave one."),
            C("domains", str, "JSON list of host names that belong to the organization."),
            C("industry", str, "Industry label from the input."),
            C("country", str, "Country from the input."),
            C("peer_groups", str, "JSON list of peer-group names the organization belongs to."),
            C("added_at", str, "UTC time the row was first imported (ISO 8601)."),
            C("org_type", str, "Type of organization (company, university, government, nonprofit, open source ...), "
                               "from the input's org_type column."),
            C("metadata", str, "JSON object of every other column the company list or import sidecar gave for the "
                               "organization (sector, size ...)."),
            C("display_name", str, "Name shown in reports instead of `name` (set with `companies alias --display`)."),
            C("aliases", str, "JSON list of other names the organization is found by (`companies alias`)."),
        ],
        indexes=[(("name",), True), (("slug",), True)],
        not_null=("name", "slug"),
    ),
    Table(
        "documents",
        "One policy document per URL per company: a crawled page judged to be a policy, or an imported file.",
        [
            C("id", int, "Row id."),
            C("company_id", int, "The company the document belongs to."),
            C("url", str, "Canonical URL of the policy (file:// URI for imported files)."),
            C("source", str, "'crawl' or 'import'."),
            C("title", str, "Title of the latest snapshot."),
            C("policy_score", float, "Policy classifier score of the latest snapshot (0..1)."),
            C("first_seen", str, "UTC time of the first snapshot."),
            C("last_seen", str, "UTC time the document was last fetched or imported."),
            C("latest_snapshot_id", int, "Id of the newest snapshot of this document."),
            C("snapshot_count", int, "How many distinct versions were stored."),
            C("key", str, "Stable key of the document (from its organization and URL): the same in every build of the corpus."),
            C("file_name", str, "For an imported file: its file name (the local path is never published)."),
            C("metadata", str, "JSON object of the other columns an import sidecar gave for this document "
                               "(source_repo, source_path, source_commit ...)."),
            C("language", str, "Language of the current version's text (ISO 639-1 code: en, ja ...): the page's lang "
                               "attribute, Content-Language or hreflang, else detected offline from the text; null "
                               "when there is too little text to tell. Documents in a language the tagger does not "
                               "read (see document_status) are not counted in coverage."),
            C("audience", str, "Whom the policy addresses, as the policy classifier read it: employees, members "
                               "(club members, players, officials), volunteers, or mixed."),
            C("duplicate_of", int, "For a near-identical copy of another document of the same organization (the "
                                   "same policy in another format or at another URL): the id of the document kept "
                                   "and counted in its place. Null for a document counted on its own."),
            C("duplicate_similarity", float, "Estimated Jaccard similarity (word 3-shingles, MinHash) of the current "
                                             "text to the kept document's (duplicate_of)."),
        ],
        foreign_keys=[("company_id", "companies", "id")],
        indexes=[(("company_id", "url"), True), (("key",), False)],
        not_null=("company_id", "url"),
        fts=("title", "url"),
    ),
    Table(
        "snapshots",
        "Every distinct version of a document. A re-fetch with the same extracted text adds no row.",
        [
            C("id", int, "Row id."),
            C("document_id", int, "The document this is a version of."),
            C("fetched_at", str, "UTC time the version was fetched or imported."),
            C("year", int, "Year of fetched_at, for facets."),
            C("http_status", int, "HTTP status of the response (null for imported files)."),
            C("content_type", str, "Media type of the raw bytes (text/html, application/pdf, text/markdown ...)."),
            C("content_hash", str, "SHA-256 of the raw bytes."),
            C("text_hash", str, "SHA-256 of the extracted text; versions are distinct by this hash."),
            C("raw", bytes, "The raw response body, zlib-compressed."),
            C("raw_size", int, "Size of the raw body before compression, in bytes."),
            C("title", str, "Title found in the document."),
            C("text", str, "Extracted main text: blocks joined by blank lines."),
            C("structure", str, "JSON list of blocks {type: heading|paragraph|list_item, level, text, start, end}; start/end are character offsets into text."),
            C("extractor", str, "Which extractor produced the text (trafilatura, pypdf, markdown, text ...)."),
            C("source", str, "How this version was first obtained: crawl, import or archive (null in corpora made "
                             "before this column: see documents.source)."),
            C("capture_url", str, "For an archived version: the web archive's raw-capture URL it was read from."),
            C("captured_at", str, "For an archived version: the archive's capture time (UTC, ISO 8601); "
                                  "fetched_at equals it."),
            C("warc_path", str, "WARC file holding the crawl's response for this version (relative to the corpus "
                                "file's folder), written by the crawl."),
            C("warc_offset", int, "Byte offset of that WARC record in warc_path."),
            C("rendered", int, "1 if the crawl read this version from a headless browser's rendering of the page "
                               "(its text is inserted by scripts); raw is then the rendered HTML."),
            C("language", str, "Language of the version's text (ISO 639-1 code), detected offline by py3langid; a "
                               "page's lang attribute when the text is too short to tell."),
            C("policy_date", str, "The policy's own date as this version states it, not when it was collected (that "
                                  "is fetched_at): ISO 8601 as precise as stated (2025-04-02, 2019-03 or 2019); the "
                                  "latest date of the most trusted source that gives one (front matter, page "
                                  "metadata, the text, PDF metadata, HTTP Last-Modified). Null when none is stated."),
            C("policy_date_kind", str, "What policy_date is: published, updated, reviewed or effective."),
            C("policy_date_source", str, "Where policy_date was read, e.g. 'front matter: last_reviewed_at', "
                                         "'text: Last updated: 2 April 2025', 'HTTP Last-Modified'."),
            C("policy_dates", str, "JSON list of every date the version states about itself, each "
                                   "{date, kind, source, evidence}."),
            C("minhash", bytes, "MinHash signature of the text's word 3-shingles (128 unsigned 64-bit values, "
                                "datasketch), what finding near-identical documents compares; empty for a text too "
                                "short to compare, null until computed."),
        ],
        foreign_keys=[("document_id", "documents", "id")],
        indexes=[(("document_id", "text_hash"), True)],
        not_null=("document_id", "text_hash", "text"),
    ),
    Table(
        "document_versions",
        "The history of each document: every time its current text changed, which snapshot came into force and "
        "when. A policy that returns to an earlier text adds a row pointing at that earlier snapshot.",
        [
            C("id", int, "Row id."),
            C("document_id", int, "The document."),
            C("snapshot_id", int, "The snapshot whose text came into force."),
            C("since", str, "UTC time the text was seen in force (fetched or imported)."),
            C("source", str, "How it was seen: crawl, import or merge."),
        ],
        foreign_keys=[("document_id", "documents", "id"), ("snapshot_id", "snapshots", "id")],
        indexes=[(("document_id", "since"), False)],
    ),
    Table(
        "archive_captures",
        "Web-archive captures `policycorpus history` has read for each document (so a re-run or --resume never "
        "reads one twice): the capture, what came of it, and the snapshot it gave.",
        [
            C("id", int, "Row id."),
            C("document_id", int, "The document whose URL was looked up in the archive."),
            C("archive", str, "Base URL of the archive (e.g. https://web.archive.org)."),
            C("timestamp", str, "The capture's 14-digit archive timestamp (YYYYMMDDhhmmss, UTC)."),
            C("digest", str, "The archive's content digest of the capture."),
            C("capture_url", str, "Raw-capture (id_) URL that was fetched."),
            C("outcome", str, "new_version, same_text (text already stored), empty (nothing extracted) or failed."),
            C("snapshot_id", int, "The snapshot holding the capture's text (null when empty or failed)."),
            C("checked_at", str, "UTC time the capture was read."),
            C("error", str, "Why the capture failed, if it did."),
        ],
        foreign_keys=[("document_id", "documents", "id")],
        indexes=[(("document_id", "archive", "timestamp"), True)],
        not_null=("document_id", "archive", "timestamp"),
    ),
    Table(
        "archive_listings",
        "Documents whose archive captures `policycorpus history` has fully processed (what --resume skips).",
        [
            C("id", int, "Row id."),
            C("document_id", int, "The document."),
            C("archive", str, "Base URL of the archive."),
            C("params", str, "JSON of the --since/--until/--per-year the listing was made with."),
            C("captures", int, "How many captures the listing kept."),
            C("done_at", str, "UTC time every kept capture had been read."),
        ],
        foreign_keys=[("document_id", "documents", "id")],
        indexes=[(("document_id", "archive", "params"), True)],
    ),
    Table(
        "crawls",
        "One row per run of `policycorpus crawl` or `policycorpus history` (kind); crawl_log and the tallies "
        "below are per run.",
        [
            C("id", int, "Row id."),
            C("started_at", str, "UTC start time."),
            C("finished_at", str, "UTC end time (null while running or if killed)."),
            C("status", str, "running, finished or interrupted."),
            C("settings", str, "JSON of the crawl options used."),
            C("companies", int, "Companies crawled."),
            C("pages", int, "Pages received (responses but robots.txt files), rendered ones included."),
            C("policies", int, "Policy documents found."),
            C("errors", int, "Requests that failed (refusals, robots.txt rules and a missing sitemap.xml aside)."),
            C("job", str, "Name of the distributed crawl (`crawl --redis --job`) this run was a worker of; null for a single-process crawl."),
            C("worker", str, "Worker id of this run in a distributed crawl (`crawl --worker-id`); null for a single-process crawl."),
            C("kind", str, "crawl (a `policycorpus crawl`; null in corpora made before this column) or history (a "
                           "`policycorpus history` run: its crawl_log rows are the archive's CDX, redirect and "
                           "capture requests)."),
        ],
    ),
    Table(
        "crawl_companies",
        "Per crawl, which companies were fully crawled; `crawl --resume` skips those and re-crawls the rest.",
        [
            C("crawl_id", int, "The crawl."),
            C("company_id", int, "The company."),
            C("status", str, "done once every request for the company was answered."),
            C("pages", int, "Responses received for the company."),
            C("policies", int, "Pages accepted as policies."),
            C("finished_at", str, "UTC time."),
        ],
        pk=("crawl_id", "company_id"),
    ),
    Table(
        "candidates",
        "Every page the crawler judged, with its policy score and the reasons, for audit.",
        [
            C("id", int, "Row id."),
            C("crawl_id", int, "The crawl that judged the page."),
            C("company_id", int, "The company whose site the page is on."),
            C("url", str, "URL of the page (after redirects)."),
            C("depth", int, "Link depth from the start URL."),
            C("link_score", float, "Score of the link that led here (anchor text, URL, title)."),
            C("policy_score", float, "Policy classifier score of the page's text (0..1)."),
            C("accepted", int, "1 if the page became a document."),
            C("reasons", str, "JSON list of the signals behind the score."),
            C("title", str, "Page title."),
            C("content_type", str, "Media type of the response."),
            C("judged_at", str, "UTC time of the judgement."),
        ],
        foreign_keys=[("company_id", "companies", "id")],
        indexes=[(("company_id",), False), (("crawl_id", "url"), False)],
    ),
    Table(
        "crawl_log",
        "Every request's outcome: fetched, failed, filtered or refused, with the reason.",
        [
            C("id", int, "Row id."),
            C("crawl_id", int, "The crawl (or history run: crawls.kind) the request belongs to."),
            C("company_id", int, "The company being crawled."),
            C("url", str, "Requested URL."),
            C("status", int, "HTTP status, null when no response arrived."),
            C("outcome", str, "ok, error, timeout, too_large, robots, refused, offsite, not_html, http_error ..."),
            C("reason", str, "Human-readable detail of the outcome."),
            C("content_type", str, "Media type of the response."),
            C("size", int, "Body size in bytes."),
            C("elapsed_ms", float, "Download time in milliseconds."),
            C("at", str, "UTC time of the outcome."),
            C("worker", str, "Worker that made the request in a distributed crawl; null for a single-process crawl."),
            C("rendered", int, "1 for a page fetched through the headless browser (crawl --render); its requests "
                               "the network guard refused are logged as refused."),
        ],
        indexes=[(("crawl_id",), False), (("company_id",), False)],
    ),
    Table(
        "categories",
        "The clause taxonomy (from taxonomy/taxonomy.yaml): one row per category id of TAXONOMY.md.",
        [
            C("id", str, "Category id, as in TAXONOMY.md."),
            C("name", str, "Readable name."),
            C("group_name", str, "Who, When, Identity, Routing, Reporting, Conduct or Governance."),
            C("group_order", int, "Position of the group in reports."),
            C("position", int, "Position of the category in reports."),
            C("description", str, "What a clause of this category does."),
        ],
        pk="id",
    ),
    Table(
        "clauses",
        "Snapshots split into clauses: one per paragraph or list item, long paragraphs split at sentences.",
        [
            C("id", int, "Row id."),
            C("snapshot_id", int, "The snapshot the clause comes from."),
            C("document_id", int, "The document (denormalised for queries)."),
            C("company_id", int, "The company (denormalised for queries)."),
            C("position", int, "Order of the clause in the snapshot, from 0."),
            C("kind", str, "clause, heading or boilerplate; only clauses are tagged."),
            C("heading_path", str, "Headings above the clause, joined by ' > '."),
            C("lead_in", str, "The sentence introducing a list item ('You must not:'), if any."),
            C("text", str, "The clause text."),
            C("span_start", int, "Start offset of the clause in snapshots.text."),
            C("span_end", int, "End offset of the clause in snapshots.text."),
            C("segmenter_version", str, "Version of the segmenter that produced the clause."),
            C("modality", str, "Modality from the latest tagging: prohibition, obligation, recommendation, permission, information."),
            C("modality_score", float, "Confidence of the modality."),
            C("model_version", str, "Version of the model that produced the modality and tags."),
            C("key", str, "Stable key of the clause (from its document's key, its normalised text and occurrence): "
                          "kept across re-segmentation, re-tagging, re-imports and unchanged new versions."),
            C("scores", str, "JSON object: the latest tagging's probability (0..1) for every category, including "
                             "those below the tag threshold (what grid cells and review queues are computed from)."),
        ],
        foreign_keys=[
            ("snapshot_id", "snapshots", "id"),
            ("document_id", "documents", "id"),
            ("company_id", "companies", "id"),
        ],
        # (snapshot_id, id): a snapshot's latest segmentation is the one of its highest clause id.
        indexes=[(("snapshot_id", "position"), False), (("company_id",), False), (("snapshot_id", "id"), False),
                 (("key",), False)],
        fts=("text", "heading_path"),
    ),
    Table(
        "tags",
        "Categories given to clauses by the tagger, with confidence and model version.",
        [
            C("clause_id", int, "The tagged clause."),
            C("category", str, "Category id."),
            C("score", float, "Confidence (0..1)."),
            C("model_version", str, "Version of the tagger model."),
        ],
        pk=("clause_id", "category", "model_version"),
        foreign_keys=[("clause_id", "clauses", "id"), ("category", "categories", "id")],
        indexes=[(("category",), False)],
    ),
    Table(
        "coverage_cells",
        "The grid cells of each tagged snapshot: per category, whether the document covers it (covered), does not "
        "(absent) or should be checked by a person (uncertain), from the model's calibrated per-category thresholds, "
        "with the cell's score and its evidence clause (the clause with the highest probability).",
        [
            C("snapshot_id", int, "The snapshot (a version of a document)."),
            C("category", str, "Category id."),
            C("state", str, "covered, uncertain or absent."),
            C("score", float, "Calibrated probability (0..1) that the document covers the category."),
            C("best", float, "The highest clause probability for the category in the snapshot."),
            C("evidence_clause_id", int, "The clause with the highest probability (null when absent)."),
            C("calibrated", int, "1 when the states come from calibrated thresholds; 0 for a tagger without them "
                                 "(then nothing is marked uncertain)."),
            C("model_version", str, "The tagger model of the scores."),
        ],
        pk=("snapshot_id", "category", "model_version"),
        indexes=[(("category", "state"), False)],
    ),
    Table(
        "category_quality",
        "How well a tagger model agrees with hand-labelled policies, per category: the model's quality card "
        "(taxonomy/models/*.card.json), copied here by `policycorpus tag`. Read it before trusting a category's counts.",
        [
            C("model_version", str, "The tagger model version measured (compare with tags.model_version)."),
            C("dataset", str, "The labelled set, e.g. gold (shared/realcorpus/gold) or realdev (taxonomy/realdev)."),
            C("category", str, "Category id."),
            C("precision", float, "Share of the model's clause tags of this category that the labels confirm."),
            C("recall", float, "Share of the labelled clauses of this category that the model tags."),
            C("f1", float, "Harmonic mean of precision and recall, clause by clause."),
            C("support", int, "Labelled clauses of this category in the set."),
            C("coverage_precision", float, "Of the documents the model says cover the category, the share that do."),
            C("coverage_recall", float, "Of the documents that cover the category, the share the model finds."),
            C("coverage_f1", float, "Document-level F1: what a comparison grid cell depends on."),
            C("coverage_support", int, "Documents of the set that cover the category."),
            C("units", int, "Clauses in the labelled set."),
            C("documents", int, "Documents in the labelled set."),
            C("description", str, "What the labelled set is."),
        ],
        pk=("model_version", "dataset", "category"),
    ),
    Table(
        "processing",
        "Which snapshots each pipeline step has processed, and with which version (makes steps incremental).",
        [
            C("snapshot_id", int, "The processed snapshot."),
            C("step", str, "segment or tag."),
            C("version", str, "Segmenter or model version."),
            C("processed_at", str, "UTC time."),
        ],
        pk=("snapshot_id", "step", "version"),
    ),
    Table(
        "cluster_runs",
        "One row per `policycorpus cluster` run with every parameter, so runs are reproducible.",
        [
            C("id", int, "Row id."),
            C("created_at", str, "UTC time."),
            C("params", str, "JSON of every parameter (backend, seed, k range, ...)."),
            C("n_clauses", int, "Clauses clustered."),
            C("n_clusters", int, "Clusters found."),
            C("quality", float, "Silhouette score of the chosen clustering."),
        ],
    ),
    Table(
        "clusters",
        "Clusters of clauses with their label terms, representatives and taxonomy overlap.",
        [
            C("run_id", int, "The cluster run."),
            C("cluster", int, "Cluster number within the run (-1 = outliers)."),
            C("size", int, "Number of clauses."),
            C("label", str, "Distinctive terms (class-based TF-IDF)."),
            C("representatives", str, "JSON list of representative clause ids."),
            C("companies", str, "JSON list of company names the cluster spans."),
            C("n_companies", int, "How many companies the cluster spans."),
            C("top_category", str, "Most frequent taxonomy category among members."),
            C("category_overlap", float, "Share of members carrying top_category; low values flag clause types the taxonomy lacks."),
        ],
        pk=("run_id", "cluster"),
    ),
    Table(
        "cluster_members",
        "Which clause is in which cluster of a run.",
        [
            C("run_id", int, "The cluster run."),
            C("clause_id", int, "The clause."),
            C("cluster", int, "Its cluster."),
            C("x", float, "2-D map coordinate."),
            C("y", float, "2-D map coordinate."),
        ],
        pk=("run_id", "clause_id"),
    ),
    Table(
        "template_families",
        "Clauses shared almost word for word across organizations (near-duplicate families).",
        [
            C("id", int, "Row id."),
            C("run_id", int, "The template pass that found the family."),
            C("size", int, "Number of member clauses."),
            C("n_companies", int, "Number of distinct companies."),
            C("companies", str, "JSON list of company names."),
            C("example", str, "A representative member's text."),
            C("example_clause_id", int, "Id of that representative clause."),
        ],
        indexes=[(("run_id",), False)],
    ),
    Table(
        "template_runs",
        "One row per `policycorpus templates` pass with every parameter (shingle size, MinHash, threshold).",
        [
            C("id", int, "Row id."),
            C("created_at", str, "UTC time."),
            C("params", str, "JSON of every parameter of the pass."),
            C("n_clauses", int, "Current clauses examined."),
            C("n_eligible", int, "Clauses long enough to compare."),
            C("n_families", int, "Template families found."),
            C("n_documents", int, "Documents in the similarity matrix."),
        ],
    ),
    Table(
        "template_members",
        "Members of template families.",
        [
            C("family_id", int, "The template family."),
            C("clause_id", int, "The member clause."),
            C("company_id", int, "Its company."),
            C("similarity", float, "Estimated Jaccard similarity to the family's example."),
        ],
        pk=("family_id", "clause_id"),
    ),
    Table(
        "doc_similarity",
        "Pairwise similarity of whole policies (latest snapshot per document).",
        [
            C("run_id", int, "The template pass."),
            C("doc_a", int, "Document id."),
            C("doc_b", int, "Document id."),
            C("similarity", float, "Cosine similarity of TF-IDF vectors (0..1)."),
        ],
        pk=("run_id", "doc_a", "doc_b"),
    ),
    Table(
        "clause_embeddings",
        "Cache of sentence embeddings of clauses, keyed by model and clause key, so a second clustering run "
        "with the same model computes nothing (`policycorpus cluster --backend embedding`).",
        [
            C("model", str, "Embedding model name or path."),
            C("clause_key", str, "Stable key of the clause (clauses.key)."),
            C("text_hash", str, "SHA-256 of the text that was embedded (the clause without its organization's name)."),
            C("dim", int, "Number of dimensions."),
            C("vector", bytes, "The embedding, float32 little-endian."),
        ],
        pk=("model", "clause_key"),
    ),
    Table(
        "policy_stats",
        "Summary per policy document of its current clauses (latest snapshot, latest segmentation and tagging). "
        "Rebuilt by `policycorpus serve` and `publish` whenever clauses or tags changed, so rankings and charts "
        "stay fast on large corpora.",
        [
            C("document_id", int, "The policy document."),
            C("company_id", int, "Its company."),
            C("current_clauses", int, "Clauses in the document's latest snapshot (kind 'clause')."),
            C("judged_clauses", int, "Those with a modality."),
            C("restrictive_clauses", int, "Those whose modality is prohibition or obligation."),
            C("restrictiveness", float, "restrictive_clauses / judged_clauses (null when none is judged)."),
        ],
        pk="document_id",
        indexes=[(("company_id",), False)],
    ),
    Table(
        "category_coverage",
        "Summary per company and category of its current clauses carrying the category (the cells of the "
        "comparison grid). Rebuilt together with policy_stats.",
        [
            C("company_id", int, "The company."),
            C("category", str, "Category id."),
            C("clauses", int, "Current clauses of the company tagged with the category."),
            C("strongest_modality", str, "The most forceful modality among them (prohibition > obligation > recommendation > permission > information)."),
            C("state", str, "The company's grid cell: covered if one of its documents covers the category, else "
                            "uncertain if one may (check by hand), else absent (from current_cells)."),
            C("score", float, "The highest calibrated cell score among its documents."),
            C("documents_covered", int, "How many of its documents cover the category."),
            C("documents_uncertain", int, "How many of its documents are uncertain for it."),
        ],
        pk=("company_id", "category"),
        indexes=[(("category",), False)],
    ),
    Table(
        "duplicate_clauses",
        "Current clauses whose text (ignoring case and surrounding space) also appears in another company's "
        "current policy. Rebuilt together with policy_stats.",
        [
            C("clause_id", int, "The clause."),
            C("company_id", int, "Its company."),
            C("n_companies", int, "How many companies' current policies contain the same text."),
        ],
        pk="clause_id",
    ),
    Table(
        "llm_cache",
        "Answers of language models to the `llm` tagging backend (`policycorpus tag --backend llm`), one row per "
        "model, prompt version and clause text (with heading path and lead-in), so no clause is sent twice; "
        "failed clauses are recorded here too (status 'error'). Another corpus can share it (--llm-cache).",
        [
            C("model_id", str, "The llm model id (e.g. gpt-4o-mini)."),
            C("prompt_version", str, "Hash of the prompt and answer schema (the pNNN part of tags.model_version)."),
            C("clause_key", str, "SHA-256 of the clause text, heading path and lead-in."),
            C("text", str, "The clause text sent."),
            C("heading_path", str, "Its heading path."),
            C("lead_in", str, "Its lead-in."),
            C("status", str, "ok (answered) or error (no valid answer after every attempt)."),
            C("categories", str, "JSON list of the category ids answered."),
            C("modality", str, "The modality answered."),
            C("confidence", float, "The model's confidence (0..1)."),
            C("answer", str, "The model's raw answer for the clause (for an error: the raw response, cut)."),
            C("error_kind", str, "empty, malformed, refusal, unknown_category, bad_modality, bad_confidence, "
                                 "missing, timeout or error."),
            C("error", str, "What was wrong with the last answer."),
            C("attempts", int, "Requests the clause took."),
            C("created_at", str, "UTC time of the answer."),
        ],
        pk=("model_id", "prompt_version", "clause_key"),
        indexes=[(("status",), False)],
    ),
]

TABLES_BY_NAME = {t.name: t for t in TABLES}


@dataclass(frozen=True)
class View:
    """A read-only view for browsing (Datasette facets and search need one row per item)."""

    name: str
    description: str
    columns: list[Column]
    sql: str


# The languages the tagger reads (its training data is English). A document detected to be in another
# language is kept and shown, but not tagged in any useful sense: it is left out of coverage and comparisons
# and listed as "not tagged: language xx" (document_status). A document whose language is unknown counts.
TAGGER_LANGUAGES = ("en",)
# Which documents count in coverage, comparisons and facets: not a duplicate of another document of their
# organization (documents.duplicate_of) and in a language the tagger reads. The views below use it.
COUNTED_DOCUMENT_SQL = ("d.duplicate_of is null and (d.language is null or d.language in ("
                        + ", ".join(f"'{lang}'" for lang in TAGGER_LANGUAGES) + "))")

# The one definition of "current" and of "effective tags"; every reader (analysis, compare, the
# Datasette pages, canned queries and summaries) selects from these views and writes no SQL of its own
# for them (tests/test_current_views.py greps for it).
#   current_segments: every row (clauses, headings, boilerplate) of each document's current snapshot
#     (documents.latest_snapshot_id), from that snapshot's latest segmentation;
#   effective_tags: the tags a clause carries now, from the model version that last tagged it;
#   current_clauses: the taggable clauses of current_segments with their organization and tags, to browse
#     and count: only of counted documents (COUNTED_DOCUMENT_SQL), as current_cells;
#   document_status: every document with whether it counts, and why not (duplicate, language).
CURRENT_SEGMENTS_VIEW_SQL = """
select
  cl.id as clause_id,
  cl.key as clause_key,
  cl.snapshot_id as snapshot_id,
  cl.document_id as document_id,
  cl.company_id as company_id,
  cl.position as position,
  cl.kind as kind,
  cl.heading_path as heading_path,
  cl.lead_in as lead_in,
  cl.text as text,
  cl.span_start as span_start,
  cl.span_end as span_end,
  cl.modality as modality,
  cl.modality_score as modality_score,
  cl.model_version as model_version,
  cl.scores as scores
from documents d
join clauses cl on cl.snapshot_id = d.latest_snapshot_id
where coalesce(cl.segmenter_version, '') = coalesce(
    (select c2.segmenter_version from clauses c2 where c2.snapshot_id = cl.snapshot_id order by c2.id desc limit 1), '')
"""

SNAPSHOT_SEGMENTS_VIEW_SQL = """
select
  cl.id as clause_id,
  cl.key as clause_key,
  cl.snapshot_id as snapshot_id,
  cl.document_id as document_id,
  cl.company_id as company_id,
  cl.position as position,
  cl.kind as kind,
  cl.heading_path as heading_path,
  cl.lead_in as lead_in,
  cl.text as text,
  cl.modality as modality,
  cl.modality_score as modality_score,
  cl.model_version as model_version
from clauses cl
where coalesce(cl.segmenter_version, '') = coalesce(
    (select c2.segmenter_version from clauses c2 where c2.snapshot_id = cl.snapshot_id order by c2.id desc limit 1), '')
"""

EFFECTIVE_TAGS_VIEW_SQL = """
select t.clause_id as clause_id, t.category as category, t.score as score, t.model_version as model_version,
       'model' as source
from tags t
join clauses cl on cl.id = t.clause_id
where cl.model_version is null or t.model_version = cl.model_version
"""

CURRENT_CLAUSES_VIEW_SQL = """
select
  cs.clause_id as clause_id,
  cs.clause_key as clause_key,
  cs.company_id as company_id,
  co.name as company,
  co.industry as industry,
  co.country as country,
  co.org_type as org_type,
  s.year as year,
  cs.document_id as document_id,
  d.key as document_key,
  d.title as policy,
  case when d.url like 'file:%' then null else d.url end as url,
  d.file_name as file_name,
  cs.snapshot_id as snapshot_id,
  s.fetched_at as fetched_at,
  s.policy_date as policy_date,
  s.policy_date_kind as policy_date_kind,
  cs.position as position,
  cs.heading_path as heading_path,
  cs.text as text,
  cs.modality as modality,
  cs.model_version as model_version,
  cs.scores as scores,
  (select json_group_array(category) from (
      select et.category from effective_tags et left join categories cat on cat.id = et.category
      where et.clause_id = cs.clause_id
      order by cat.group_order, cat.position, et.category)) as categories,
  (select json_group_array(group_name) from (
      select distinct cat.group_name from effective_tags et join categories cat on cat.id = et.category
      where et.clause_id = cs.clause_id
      order by cat.group_order)) as groups
from current_segments cs
join documents d on d.id = cs.document_id
join snapshots s on s.id = cs.snapshot_id
join companies co on co.id = cs.company_id
where cs.kind = 'clause' and """ + COUNTED_DOCUMENT_SQL + "\n"

CURRENT_CELLS_VIEW_SQL = """
select
  d.id as document_id,
  d.key as document_key,
  d.company_id as company_id,
  co.name as company,
  co.org_type as org_type,
  co.industry as industry,
  d.title as policy,
  cc.snapshot_id as snapshot_id,
  cc.category as category,
  cat.group_name as group_name,
  cc.state as state,
  cc.score as score,
  cc.best as best,
  cc.calibrated as calibrated,
  cc.evidence_clause_id as evidence_clause_id,
  ev.key as evidence_clause_key,
  ev.text as evidence_text,
  cc.model_version as model_version
from documents d
join clauses last on last.id = (select max(c2.id) from clauses c2 where c2.snapshot_id = d.latest_snapshot_id)
join coverage_cells cc on cc.snapshot_id = d.latest_snapshot_id and cc.model_version = last.model_version
join companies co on co.id = d.company_id
left join categories cat on cat.id = cc.category
left join clauses ev on ev.id = cc.evidence_clause_id
where """ + COUNTED_DOCUMENT_SQL + "\n"

DOCUMENT_STATUS_VIEW_SQL = """
select
  d.id as document_id,
  d.key as document_key,
  d.company_id as company_id,
  co.name as company,
  co.org_type as org_type,
  d.title as policy,
  case when d.url like 'file:%' then null else d.url end as url,
  d.file_name as file_name,
  d.language as language,
  case when """ + COUNTED_DOCUMENT_SQL + """ then 1 else 0 end as counted,
  case when d.duplicate_of is not null then 'duplicate of ' || coalesce(kept.title, kept.key)
       when not (""" + COUNTED_DOCUMENT_SQL + """) then 'not tagged: language ' || d.language
       else 'counted' end as status,
  d.duplicate_of as duplicate_of,
  kept.key as duplicate_of_key,
  d.duplicate_similarity as duplicate_similarity,
  s.policy_date as policy_date,
  s.policy_date_kind as policy_date_kind,
  s.policy_date_source as policy_date_source,
  s.fetched_at as fetched_at
from documents d
join companies co on co.id = d.company_id
left join documents kept on kept.id = d.duplicate_of
left join snapshots s on s.id = d.latest_snapshot_id
"""

def segment_columns(snapshot: str, *, with_spans: bool = False) -> list[Column]:
    """The columns of the segment views (snapshot_segments, current_segments): one declaration for both."""
    return [
        C("clause_id", int, "Id of the segment (clauses.id)."),
        C("clause_key", str, "Stable key of the clause (clauses.key)."),
        C("snapshot_id", int, snapshot),
        C("document_id", int, "The document."),
        C("company_id", int, "Its organization."),
        C("position", int, "Order in the snapshot, from 0."),
        C("kind", str, "clause, heading, boilerplate, fragment ...; only clauses are tagged."),
        C("heading_path", str, "Headings above it, joined by ' > '."),
        C("lead_in", str, "The sentence introducing a list item, if any."),
        C("text", str, "The text."),
        *([C("span_start", int, "Start offset in snapshots.text."),
           C("span_end", int, "End offset in snapshots.text.")] if with_spans else []),
        C("modality", str, "Modality from the latest tagging."),
        C("modality_score", float, "Confidence of the modality."),
        C("model_version", str, "The tagger model of the modality and tags."),
        *([C("scores", str, "JSON object: every category's probability from the latest tagging.")] if with_spans else []),
    ]


VIEWS: list[View] = [
    View(
        "snapshot_segments",
        "Every segment of every snapshot (current or older versions), from that snapshot's latest segmentation: "
        "what a version of a policy says.",
        segment_columns("The snapshot."),
        SNAPSHOT_SEGMENTS_VIEW_SQL,
    ),
    View(
        "current_segments",
        "Every segment (clause, heading, boilerplate ...) of each document's current snapshot, from its latest "
        "segmentation: the definition of 'current' that every reader uses.",
        segment_columns("The document's current snapshot.", with_spans=True),
        CURRENT_SEGMENTS_VIEW_SQL,
    ),
    View(
        "effective_tags",
        "The categories each clause carries now, with their score and where they come from "
        "(source 'model': the model version that last tagged the clause).",
        [
            C("clause_id", int, "The clause."),
            C("category", str, "Category id."),
            C("score", float, "Confidence (0..1)."),
            C("model_version", str, "The tagger model that gave it."),
            C("source", str, "model (a tagger's tag)."),
        ],
        EFFECTIVE_TAGS_VIEW_SQL,
    ),
    View(
        "current_cells",
        "The comparison grid: for each counted document's current version and each category, covered / uncertain "
        "(check by hand) / absent, with the calibrated score and the evidence clause. Count cells from here. "
        "Duplicates and documents in a language the tagger does not read are left out (see document_status).",
        [
            C("document_id", int, "The policy document."),
            C("document_key", str, "Its stable key."),
            C("company_id", int, "Its organization."),
            C("company", str, "Organization name."),
            C("org_type", str, "Type of organization."),
            C("industry", str, "Industry of the organization."),
            C("policy", str, "Title of the document."),
            C("snapshot_id", int, "The current snapshot."),
            C("category", str, "Category id."),
            C("group_name", str, "The category's group."),
            C("state", str, "covered, uncertain or absent."),
            C("score", float, "Calibrated probability that the document covers the category."),
            C("best", float, "The highest clause probability for the category."),
            C("calibrated", int, "1 when the state comes from calibrated thresholds."),
            C("evidence_clause_id", int, "The evidence clause (highest probability)."),
            C("evidence_clause_key", str, "Its stable key."),
            C("evidence_text", str, "Its text."),
            C("model_version", str, "The tagger model."),
        ],
        CURRENT_CELLS_VIEW_SQL,
    ),
    View(
        "current_clauses",
        "Clauses of every counted document's current snapshot with their company, year, modality and categories: "
        "the view to browse, search, facet and count. Duplicates and documents in a language the tagger does not "
        "read are left out (see document_status; their clauses are in current_segments).",
        [
            C("clause_id", int, "Id of the clause (clauses.id)."),
            C("clause_key", str, "Stable key of the clause: the same in every build of the corpus."),
            C("company_id", int, "Id of the company."),
            C("company", str, "Company name."),
            C("industry", str, "Industry of the company."),
            C("country", str, "Country of the company."),
            C("org_type", str, "Type of organization (company, university, government, nonprofit ...)."),
            C("year", int, "Year the snapshot was fetched or imported."),
            C("document_id", int, "Id of the policy document."),
            C("document_key", str, "Stable key of the policy document."),
            C("policy", str, "Title of the policy document."),
            C("url", str, "Public source URL of the policy (null for a local file imported without one)."),
            C("file_name", str, "File name of an imported file."),
            C("snapshot_id", int, "Id of the snapshot the clause comes from."),
            C("fetched_at", str, "UTC time the snapshot was fetched or imported."),
            C("policy_date", str, "The policy's own date as its current version states it (snapshots.policy_date)."),
            C("policy_date_kind", str, "published, updated, reviewed or effective."),
            C("position", int, "Order of the clause in the snapshot, from 0."),
            C("heading_path", str, "Headings above the clause, joined by ' > '."),
            C("text", str, "The clause text."),
            C("modality", str, "prohibition, obligation, recommendation, permission or information."),
            C("model_version", str, "The tagger model of the modality and categories."),
            C("scores", str, "JSON object: every category's probability (0..1), also those below the tag threshold."),
            C("categories", str, "JSON list of the clause's category ids, in report order."),
            C("groups", str, "JSON list of the groups (Who, When, Identity ...) of those categories."),
        ],
        CURRENT_CLAUSES_VIEW_SQL,
    ),
    View(
        "document_status",
        "Every policy document with whether it counts in coverage, comparisons and facets, and why not: a "
        "near-identical copy of another document of its organization (one policy with several sources), or a "
        "language the tagger does not read (listed as 'not tagged: language ja', never as lacking a category). "
        "With the policy's own date as its current version states it.",
        [
            C("document_id", int, "The document."),
            C("document_key", str, "Its stable key."),
            C("company_id", int, "Its organization."),
            C("company", str, "Organization name."),
            C("org_type", str, "Type of organization."),
            C("policy", str, "Title of the document."),
            C("url", str, "Public source URL (null for a local file imported without one)."),
            C("file_name", str, "File name of an imported file."),
            C("language", str, "Detected language of the current text (ISO 639-1)."),
            C("counted", int, "1 when the document counts in coverage and comparisons."),
            C("status", str, "counted, 'duplicate of <title>' or 'not tagged: language <code>'."),
            C("duplicate_of", int, "The kept document this one duplicates."),
            C("duplicate_of_key", str, "Its stable key."),
            C("duplicate_similarity", float, "Estimated Jaccard similarity to it."),
            C("policy_date", str, "The policy's own date (snapshots.policy_date of the current version)."),
            C("policy_date_kind", str, "published, updated, reviewed or effective."),
            C("policy_date_source", str, "Where the date was read."),
            C("fetched_at", str, "When the current version was collected."),
        ],
        DOCUMENT_STATUS_VIEW_SQL,
    ),
]


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def inserted_id(table: sqlite_utils.db.Table) -> int:
    """The id of the row the table's last insert wrote (`table.insert(row)` returns the table)."""
    if table.last_pk is None:  # sqlite-utils types last_pk as optional: it is None only before any insert
        raise CorpusError(f"nothing was inserted into {table.name}")
    return table.last_pk


# PRAGMA application_id of every PolicyCorpus corpus ("PCo1"): tells our files from other programs' SQLite files.
APPLICATION_ID = 0x50436F31


def open_db(path: str | Path = DEFAULT_DB, *, create: bool = True) -> sqlite_utils.Database:
    """Open corpus.db with WAL and foreign keys on, creating or migrating the schema.

    Refuses, without changing a byte, a file that is not a PolicyCorpus corpus
    (not SQLite, or another program's database), a corpus made by a newer
    PolicyCorpus, and a file whose permissions make it read-only. With
    ``create=False`` a missing file is a NotFoundError.
    """
    path = Path(path)
    if not path.exists():
        if not create:
            raise NotFoundError(f"no corpus database at {path}")
        if path.parent and not path.parent.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CorpusError(f"{path}: cannot create its folder ({exc.strerror})") from None
    else:
        check_corpus_file(path)
    with sqlite_errors(path):
        conn = sqlite3.connect(str(path), timeout=60)
        _check_application(conn, path)
        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA busy_timeout=60000")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        ensure_schema(db)
        ensure_views(db)
    return db


def check_corpus_file(path: Path) -> None:
    """Refuse a folder, or a file its permissions make read-only, before SQLite opens it.

    The file is never opened here: closing any descriptor of a file drops every POSIX lock this process holds
    on it, which would let another process delete the WAL under an open connection. SQLite itself reads the
    header (a file that is not a database fails its first query: see _check_application).
    """
    if path.is_dir():
        raise CorpusError(f"{path}: is a folder, not a corpus database")
    # Root may write to any file: honour the permission bits ourselves, so a corpus marked read-only stays so.
    if not path.stat().st_mode & 0o222 or not os.access(path, os.W_OK):
        raise CorpusError(f"{path}: the corpus is read-only; PolicyCorpus needs to write to it (copy it somewhere writable)")


def _check_application(conn: sqlite3.Connection, path: Path) -> None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    ours = app_id == APPLICATION_ID or (app_id == 0 and _is_legacy_corpus(conn, tables))
    if app_id == 0 and not tables:
        ours = True  # a new, empty database
    if not ours:
        raise CorpusError(f"{path}: another program's SQLite database, not a PolicyCorpus corpus; nothing was changed")
    version = _schema_version(conn, tables)
    if version > SCHEMA_VERSION:
        raise CorpusError(
            f"{path}: made by a newer PolicyCorpus (schema {version}; this one knows up to {SCHEMA_VERSION}): "
            "upgrade policycorpus to use it")
    if app_id != APPLICATION_ID:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")


def _is_legacy_corpus(conn: sqlite3.Connection, tables: set[str]) -> bool:
    """A corpus from before application_id was set: our meta table with a schema version, and our core tables."""
    if not {"meta", "companies", "documents", "snapshots"} <= tables:
        return False
    return conn.execute("select 1 from meta where key = 'schema_version'").fetchone() is not None


def _schema_version(conn: sqlite3.Connection, tables: set[str]) -> int:
    if "meta" not in tables:
        return 0
    row = conn.execute("select value from meta where key = 'schema_version'").fetchone()
    try:
        return int(row[0]) if row else 0
    except (TypeError, ValueError):
        return 0


@contextlib.contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One real transaction: ``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error.

    IMMEDIATE takes the corpus's write lock up front, so two writers never
    interleave and a reader never sees half a write. Inside an open
    transaction it nests as a savepoint. SQLite's own errors about the file
    (locked too long, read-only, disk full) become one-line CorpusErrors.

        with transaction(db):
            db["snapshots"].insert(...)
            db["documents"].update(...)
    """
    conn = db.conn
    if conn.in_transaction:
        name = f"pc_{secrets.token_hex(8)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield db
        except BaseException:
            if conn.in_transaction:
                conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        else:
            conn.execute(f"RELEASE SAVEPOINT {name}")
        return
    with sqlite_errors():
        conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        try:
            with sqlite_errors():
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


@contextlib.contextmanager
def sqlite_errors(path: str | Path | None = None) -> Iterator[None]:
    """Turn SQLite's errors about the database file into one-line CorpusErrors."""
    where = f"{path}: " if path else ""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        lowered = message.lower()
        if "locked" in lowered or "busy" in lowered:
            raise BusyError(f"{where}the corpus is busy: another policycorpus command is writing to it; try again when it has finished") from exc
        if "readonly" in lowered or "read-only" in lowered:
            raise CorpusError(f"{where}the corpus is read-only (cannot write to it)") from exc
        if "full" in lowered:
            raise CorpusError(f"{where}the disk is full: nothing was written") from exc
        if "not a database" in lowered or "file is encrypted" in lowered:
            raise CorpusError(f"{where}not a PolicyCorpus corpus (not an SQLite database); nothing was changed") from exc
        if "malformed" in lowered:
            raise CorpusError(f"{where}the corpus file is damaged (database disk image is malformed)") from exc
        raise


def memory_db() -> sqlite_utils.Database:
    """A fresh corpus in memory (for tests and notebooks)."""
    db = sqlite_utils.Database(memory=True)
    db.execute("PRAGMA foreign_keys=ON")
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    ensure_schema(db)
    ensure_views(db)
    return db


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create missing tables, columns and indexes; record the schema version (one transaction)."""
    if _schema_is_current(db):
        return
    with transaction(db):
        for view in reversed(VIEWS):  # recreated by ensure_views once the tables are migrated
            db.execute(f"drop view if exists [{view.name}]")
        had_versions = db["document_versions"].exists()
        had_languages = not db["documents"].exists() or "language" in db["documents"].columns_dict
        for table in TABLES:
            _ensure_table(db, table)
        if not had_versions:
            _backfill_document_versions(db)
        _backfill_keys(db)
        if not had_languages:
            _backfill_languages_and_duplicates(db)
        db.table("meta").upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")
        if not db["meta"].count_where("key = 'created_at'"):
            db.table("meta").insert({"key": "created_at", "value": utcnow()}, pk="key")


def _schema_is_current(db: sqlite_utils.Database) -> bool:
    """True when every declared table and column exists (so opening a corpus writes nothing)."""
    existing: dict[str, set[str]] = {}
    for (name,) in db.execute("select name from sqlite_master where type = 'table'").fetchall():
        existing[name] = set()
    if any(t.name not in existing for t in TABLES):
        return False
    for table in TABLES:
        columns = {r[1] for r in db.execute(f"pragma table_info([{table.name}])").fetchall()}
        if any(c.name not in columns for c in table.columns):
            return False
    row = db.execute("select value from meta where key = 'schema_version'").fetchone()
    return bool(row) and row[0] == str(SCHEMA_VERSION)


def _backfill_keys(db: sqlite_utils.Database) -> None:
    """Give documents and clauses made before stable keys existed their keys."""
    from policycorpus.keys import clause_keys, document_key

    docs = db.execute("select d.id, c.name, d.url from documents d join companies c on c.id = d.company_id "
                      "where d.key is null").fetchall()
    db.conn.executemany("update documents set key = ? where id = ?", [(document_key(n, u), i) for i, n, u in docs])
    snapshots = db.execute("select distinct snapshot_id from clauses where key is null").fetchall()
    for (snapshot_id,) in snapshots:
        rows = db.execute("select c.id, c.text, d.key, coalesce(c.segmenter_version, '') from clauses c "
                          "join documents d on d.id = c.document_id where c.snapshot_id = ? "
                          "order by c.segmenter_version, c.position", [snapshot_id]).fetchall()
        by_version: dict[str, list] = {}
        for row in rows:
            by_version.setdefault(row[3], []).append(row)
        updates = [(key, row[0]) for group in by_version.values()
                   for row, key in zip(group, clause_keys(group[0][2] or "", [r[1] for r in group]))]
        db.conn.executemany("update clauses set key = ? where id = ?", updates)


def _backfill_languages_and_duplicates(db: sqlite_utils.Database) -> None:
    """Corpora made before languages and duplicates: detect each snapshot's language from its stored blocks and
    link the documents that duplicate one another. (Titles and policy dates of stored snapshots are read again
    by `policycorpus reextract`, which extracts their raw bytes anew.)"""
    from policycorpus.duplicates import link_duplicates
    from policycorpus.extract.metadata import detect_language
    from policycorpus.structure import blocks_from_json

    rows = db.execute("select id, structure from snapshots where language is null").fetchall()
    db.conn.executemany("update snapshots set language = ? where id = ?",
                        [(detect_language(blocks_from_json(structure)), sid) for sid, structure in rows])
    db.execute("update documents set language = (select s.language from snapshots s "
               "where s.id = documents.latest_snapshot_id) where language is null")
    link_duplicates(db)


def _backfill_document_versions(db: sqlite_utils.Database) -> None:
    """Corpora made before document_versions: each snapshot came into force when it was fetched."""
    db.execute(
        "insert into document_versions (document_id, snapshot_id, since, source) "
        "select s.document_id, s.id, s.fetched_at, coalesce(d.source, 'crawl') from snapshots s "
        "join documents d on d.id = s.document_id order by s.fetched_at, s.id")


def _ensure_table(db: sqlite_utils.Database, table: Table) -> None:
    columns = {c.name: c.type for c in table.columns}
    t = db.table(table.name)
    if not t.exists():
        t.create(
            columns,
            pk=table.pk,
            foreign_keys=table.foreign_keys or None,
            not_null=set(table.not_null) or None,
        )
    else:
        existing = set(t.columns_dict)
        for c in table.columns:
            if c.name not in existing:
                t.add_column(c.name, c.type)
    for cols, unique in table.indexes:
        t.create_index(list(cols), unique=unique, if_not_exists=True)


def ensure_views(db: sqlite_utils.Database) -> None:
    """Create or update the VIEWS (after the tables; only writes when a view's SQL changed)."""
    for view in VIEWS:
        _ensure_view(db, view)


def _ensure_view(db: sqlite_utils.Database, view: View) -> None:
    sql = view.sql.strip()
    row = db.execute("select sql from sqlite_master where type = 'view' and name = ?", [view.name]).fetchone()
    if row and row[0].strip().endswith(sql):
        return
    with transaction(db):
        db.execute(f"drop view if exists [{view.name}]")
        db.execute(f"create view [{view.name}] as {sql}")


def ensure_fts(db: sqlite_utils.Database, rebuild: bool = True) -> None:
    """Create or refresh the FTS5 indexes declared in TABLES (porter stemming, kept in sync by triggers).

    With rebuild=False existing indexes are left as they are (the triggers keep them in sync).
    """
    for table in TABLES:
        if not table.fts:
            continue
        t = db.table(table.name)
        if not t.detect_fts():
            t.enable_fts(list(table.fts), fts_version="FTS5", tokenize="porter", create_triggers=True)
        elif rebuild:
            t.rebuild_fts()


def loads(value: str | bytes | None, default: Any = None) -> Any:
    """Decode a JSON column, tolerating nulls."""
    if value in (None, ""):
        return default
    return json.loads(value)


def schema_markdown() -> str:
    """docs/schema.md, generated from TABLES."""
    out = [
        "# corpus.db schema",
        "",
        "Generated from `policycorpus/db.py` by `policycorpus schema --markdown`; do not edit by hand.",
        "",
    ]
    for table in TABLES:
        out += [f"## `{table.name}`", "", table.description, "", "| column | type | description |", "|---|---|---|"]
        for c in table.columns:
            typ = c.type.__name__ if isinstance(c.type, type) else c.type
            typ = {"str": "TEXT", "int": "INTEGER", "float": "REAL", "bytes": "BLOB"}.get(typ, typ)
            out.append(f"| `{c.name}` | {typ} | {c.description} |")
        out.append("")
    for view in VIEWS:
        out += [f"## `{view.name}` (view)", "", view.description, "", "| column | type | description |", "|---|---|---|"]
        for c in view.columns:
            typ = c.type.__name__ if isinstance(c.type, type) else c.type
            typ = {"str": "TEXT", "int": "INTEGER", "float": "REAL", "bytes": "BLOB"}.get(typ, typ)
            out.append(f"| `{c.name}` | {typ} | {c.description} |")
        out.append("")
    return "\n".join(out)
