"""`policycorpus compare`, `cluster`, `templates` and `plot`: thin click commands over analysis/."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from policycorpus.db import open_db
from policycorpus.options import UserError, existing_db_option, quiet_option, writable_output

if TYPE_CHECKING:
    from analysis.cluster import ClusterRun

ALL_FORMATS = ("md", "html", "summary", "xlsx", "csv", "json", "docx", "pptx", "pdf")
EVERY_FORMAT = tuple(f for f in ALL_FORMATS if f != "pdf")  # what --format all writes
FILE_SUFFIX = {"summary": "summary.html"}


def _select_companies(db, names, peer_group) -> list[dict]:
    from policycorpus.companies import companies_in_peer_group, find_companies

    selected = []
    if peer_group:
        selected += companies_in_peer_group(db, peer_group)
    if names:
        selected += find_companies(db, list(names))
    if not selected:
        raise UserError("name the companies to compare, or give --peer-group NAME")
    unique: dict[int, dict] = {}
    for row in selected:
        unique.setdefault(row["id"], row)
    return list(unique.values())


def _compare_subjects(db, names, peer_group, document_keys) -> tuple[list[dict], list[dict]]:
    """(companies, documents) the user means: names as people type them, 'Company:title' and --document keys."""
    from analysis.compare import find_document
    from policycorpus.companies import companies_in_peer_group
    from policycorpus.errors import PolicyCorpusError
    from policycorpus.names import find_company

    companies, documents, problems = [], [], []
    if peer_group:
        companies += companies_in_peer_group(db, peer_group)
    for name in names:
        if ":" in name:  # 'Company:title' first; a company whose name has a colon still works
            try:
                documents.append(find_document(db, name))
                continue
            except PolicyCorpusError as exc:
                doc_problem = str(exc)
        try:
            companies.append(find_company(db, name))
        except PolicyCorpusError as exc:
            problems.append(doc_problem if ":" in name else str(exc))
    for key in document_keys:
        try:
            documents.append(find_document(db, key))
        except PolicyCorpusError as exc:
            problems.append(str(exc))
    if problems:
        raise UserError("; ".join(problems) + " (see 'policycorpus companies list')")
    if not companies and not documents:
        raise UserError("name the companies or documents to compare, or give --peer-group NAME")
    unique: dict[int, dict] = {}
    for row in companies:
        unique.setdefault(row["id"], row)
    docs: dict[int, dict] = {}
    for row in documents:
        docs.setdefault(row["id"], row)
    return list(unique.values()), list(docs.values())


def _targets(formats: list[str], output: str | None) -> list[tuple[str, Path | None]]:
    """Where each format goes: stdout (None) for one text format without -o, else files."""
    from analysis.render import FILE_FORMATS

    if len(formats) == 1:
        fmt = formats[0]
        if output is None and fmt in FILE_FORMATS:
            raise UserError(f"--format {fmt} needs -o FILE")
        return [(fmt, Path(output) if output else None)]
    if not output:
        raise UserError("several formats need -o: a directory or a file name without extension")
    out = Path(output)
    if output.endswith(("/", "\\")) or out.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        out = out / "compare"
    elif out.suffix.lstrip(".") in ALL_FORMATS:
        out = out.with_suffix("")
    return [(fmt, out.with_name(f"{out.name}.{FILE_SUFFIX.get(fmt, fmt)}")) for fmt in formats]


@click.command()
@click.argument("companies", nargs=-1)
@click.option("--peer-group", help="Compare every company of this peer group (with any companies named too).")
@click.option("--document", "document_keys", multiple=True, metavar="KEY",
              help="Compare this one document (documents.key, or 'Company:title') as its own column; repeatable.")
@click.option("--all-documents", is_flag=True,
              help="Merge all of a company's documents into its column (default: its main employee policy).")
@click.option("--client", "client_file", type=click.Path(exists=True, dir_okay=False),
              help="A draft policy (.md, .txt, .html or .pdf) to add as a column, with a gap list.")
@click.option("--client-name", help="Column name for the draft (default: 'Draft: FILE NAME').")
@click.option("--category", help="Print every column's clauses of this category side by side, strongest first.")
@click.option("-f", "--format", "formats", multiple=True, type=click.Choice(ALL_FORMATS + ("all",)),
              help="Output format; repeat for several; 'all' is every format but pdf. Default md.")
@click.option("-o", "--output", help="Output file; with several formats a directory or a stem (out/grid -> out/grid.md ...).")
@click.option("--paper", type=click.Choice(["a4", "letter"]), default="a4", show_default=True,
              help="Paper size of the printed HTML and PDF.")
@click.option("--gap-share", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="A category is a gap when at least this share of peers covers it and the draft does not.")
@click.option("--reviews", "reviews_path", type=click.Path(dir_okay=False),
              help="Review store whose decisions override the model's tags (default: CORPUS.reviews.db when it exists).")
@existing_db_option
def compare(companies, peer_group, document_keys, all_documents, client_file, client_name, category, formats, output,
            paper, gap_share, reviews_path, db_path):
    """Compare policies category by category: a one-page summary, a grid, gaps.

    Name companies as you would say them ("gitlab", "deeson": any case, a
    prefix, or close enough for "did you mean"). A company with several
    documents is represented by its main employee policy (highest policy
    score, then most clauses); the report says which and lists the others.
    Compare one document on its own with --document KEY or "Company:title".

    Each grid cell is covered (✓), check (?: weak evidence, read it) or not
    found (—), with its confidence and the evidence clause and its document.
    Formats: md, html (print-ready, summary first), summary (the one-page
    executive summary), xlsx, csv, json, docx (memo), pptx (deck), pdf (needs
    Chromium).

    \b
    Example:
        policycorpus compare gitlab deeson mattermost
        policycorpus compare --peer-group peers --client draft.md --format all -o out/
        policycorpus compare gitlab "GitLab Inc.:developer" --format summary -o summary.html
        policycorpus compare --peer-group peers --client draft.md --category confidentiality
    """
    from analysis.client import read_client_draft
    from analysis.compare import columns_for, compare_columns
    from analysis.export import write

    if category and formats:
        raise UserError("--category prints the clauses side by side as text: drop --format (use -o FILE to save it)")
    formats = list(dict.fromkeys(f for name in (formats or ["md"]) for f in (EVERY_FORMAT if name == "all" else [name])))
    targets = [] if category else _targets(formats, output)
    db = open_db(db_path)
    from policycorpus.reviews import attach_if_present

    attach_if_present(db, db_path, reviews_path)  # reviewed tags and modalities override the model's
    rows, documents = _compare_subjects(db, companies, peer_group, document_keys)
    client = read_client_draft(client_file, name=client_name) if client_file else None
    columns = columns_for(db, rows, documents, all_documents=all_documents)
    comparison = compare_columns(db, columns, client=client, gap_share=gap_share)
    if category:
        from analysis.render import side_by_side

        if category not in {c["id"] for c in comparison.categories}:
            raise UserError(f"unknown category {category!r}; one of: {', '.join(c['id'] for c in comparison.categories)}")
        import shutil

        width = 160 if output else shutil.get_terminal_size((160, 40)).columns
        text = side_by_side(comparison, category, width=width)
        if output:
            Path(output).write_text(text, encoding="utf-8")
            click.echo(f"Wrote {output}", err=True)
        else:
            click.echo(text, nl=False)
        return
    for p in comparison.companies:
        if p.other_documents:
            others = "; ".join(f"{o['title']} (--document {o['key']})" for o in p.other_documents)
            click.echo(f"{p.name}: compared its {p.choice}; not compared: {others}", err=True)
    for fmt, path in targets:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        written = write(comparison, fmt, path, paper=paper)
        if written is not None:
            click.echo(written, nl=False)
        else:
            click.echo(f"Wrote {path}", err=True)


@click.command()
@click.option("--method", type=click.Choice(["kmeans", "hdbscan"]), default="kmeans", show_default=True,
              help="k-means with k chosen by a criterion that must peak inside --k-min..--k-max, or HDBSCAN.")
@click.option("--backend", type=click.Choice(["function", "function-embedding", "function-static", "tfidf", "embedding",
                                              "static"]), default="function", show_default=True,
              help="Clause vectors: 'function' (no extra install): the tagger's probability for every category and "
                   "the modality, joined with TF-IDF + LSA of the wording, so clauses group by what they do; "
                   "'function-embedding' (recommended when the 'embeddings' extra is installed; cached in "
                   "clause_embeddings): the same with sentence embeddings; 'function-static': with GloVe word "
                   "vectors (the 'static' extra); 'tfidf', 'embedding' or 'static': the wording alone.")
@click.option("--function-weight", type=click.FloatRange(0), default=1.0, show_default=True,
              help="Weight of the tagger's probabilities against the wording (weight 1) in the function backends.")
@click.option("--modality-weight", type=click.FloatRange(0), default=0.25, show_default=True,
              help="Weight of the modality in the function backends.")
@click.option("--model", "embedding_model", default="all-MiniLM-L6-v2", show_default=True,
              help="Sentence-transformers model name or path for the embedding backends.")
@click.option("--clusters", "n_clusters", type=click.IntRange(1), help="k-means: use this k instead of choosing one.")
@click.option("--k-min", type=click.IntRange(2), default=4, show_default=True)
@click.option("--k-max", type=click.IntRange(2), default=40, show_default=True)
@click.option("--max-outliers", "max_outlier_share", type=click.FloatRange(0, 1), default=0.35, show_default=True,
              help="HDBSCAN: largest acceptable share of outliers (reported when not met).")
@click.option("--reduce-outliers", is_flag=True,
              help="HDBSCAN: reassign the outliers nearest to a cluster until --max-outliers is met.")
@click.option("--min-words", type=click.IntRange(1), help="Skip clauses of fewer words (default: analysis/clause_filter.yaml).")
@click.option("--max-per-org", type=click.IntRange(1), help="Cluster at most this many clauses per organization (a random sample).")
@click.option("--keep-duplicate-documents", is_flag=True,
              help="Keep every copy of a policy imported twice by one organization (default: one copy).")
@click.option("--no-filter", "no_filter", is_flag=True,
              help="Cluster every clause of --min-words, with URLs, citations, metric lines and table debris.")
@click.option("--projection", type=click.Choice(["pca", "tsne", "umap"]), default="pca", show_default=True,
              help="2-D projection stored for 'plot map'.")
@click.option("--sample-size", type=click.IntRange(100), default=20000, show_default=True,
              help="Clauses used to choose k (the final clustering uses all).")
@click.option("--seed", "random_state", type=int, default=0, show_default=True)
@click.option("--export", "export_file", type=click.Path(dir_okay=False),
              help="Write every member (cluster, label, organization, clause ...) to a .csv, .parquet or .jsonl file.")
@click.option("--export-novel", "novel_file", type=click.Path(dir_okay=False),
              help="Write the candidate new clause types as taxonomy.yaml-style categories to this YAML file.")
@click.option("--json", "as_json", is_flag=True, help="Print the clusters as JSON.")
@quiet_option
@existing_db_option
def cluster(method, backend, function_weight, modality_weight, embedding_model, n_clusters, k_min, k_max, max_outlier_share, reduce_outliers, min_words,
            max_per_org, keep_duplicate_documents, no_filter, projection, sample_size, random_state, export_file,
            novel_file, as_json, quiet, db_path):
    """Cluster the current clauses to find clause types, including ones the taxonomy lacks.

    Only clauses worth clustering are used: taggable clauses without URLs,
    citations, metric lines, table debris or fragments, one copy of a policy
    imported twice. Each cluster gets its distinctive terms (class-based
    TF-IDF), its most central clauses, the organizations it spans, the share
    of members carrying its most frequent category and its cohesion; a
    cohesive cluster over 3+ organizations that no category covers is flagged
    NEW (a candidate category). The run and every parameter are stored in
    cluster_runs, clusters and cluster_members.

    \b
    Example:
        policycorpus cluster --export members.csv
        policycorpus cluster --backend function-embedding --clusters 40
        policycorpus cluster --method hdbscan --max-outliers 0.3 --reduce-outliers --seed 1
        policycorpus cluster --max-per-org 200 --export-novel candidates.yaml
    """
    from analysis.cluster import run_clustering

    if k_min > k_max:
        raise UserError("--k-min must not exceed --k-max")
    started = time.monotonic()
    db = open_db(db_path)
    try:
        run = run_clustering(
            db, min_words=min_words, max_per_org=max_per_org, dedupe_documents=not keep_duplicate_documents,
            filter_clauses=not no_filter, method=method, backend=backend, embedding_model=embedding_model,
            function_weight=function_weight, modality_weight=modality_weight,
            n_clusters=n_clusters, k_min=k_min, k_max=k_max, max_outlier_share=max_outlier_share,
            reduce_outliers=reduce_outliers, projection=projection, sample_size=sample_size,
            random_state=random_state, verbose=not quiet,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    summaries = run.summaries
    if export_file:
        from analysis.frames import cluster_members, export_frame

        click.echo(f"Wrote {export_frame(cluster_members(db, run.run_id), export_file)}", err=True)
    if novel_file:
        from analysis.novel import write_candidates

        click.echo(f"Wrote {write_candidates(summaries, novel_file)}", err=True)
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in summaries], ensure_ascii=False, indent=2))
        return
    for line in run_report(run, time.monotonic() - started):
        click.echo(line)


def run_report(run: ClusterRun, seconds: float) -> list[str]:
    """The text summary of a cluster run: counts, how k was chosen, outliers, then one block per cluster."""
    from analysis.cluster import ONE_ORGANIZATION_SHARE

    model, summaries, selection = run.model, run.summaries, run.selection
    quality = "n/a" if model.quality_ is None else f"{model.quality_:.3f}"
    lines = [f"Cluster run {run.run_id}: {len(model.labels_)} clauses, {model.n_clusters_} clusters "
             f"(silhouette {quality}) in {seconds:.1f} s"]
    removed = ", ".join(f"{k} {v}" for k, v in sorted(selection.removed.items()))
    if removed:
        lines.append(f"  left out: {removed}")
    if model.method == "kmeans" and model.n_clusters is None:
        how = ("a peak inside the range" if model.k_peaked_ else
               f"NO peak inside {model.k_min}..{model.k_max}: the silhouette kept rising or falling, so k is an end "
               "of the range, not a choice (set --clusters K or widen the range)")
        lines.append(f"  k = {model.n_clusters_} chosen by silhouette: {how}")
        suggested = len(model.labels_) // 30
        if suggested > model.n_clusters_:
            lines.append(f"  the silhouette favours broad groups; for clause types set --clusters (about one per 30 "
                         f"clauses: --clusters {suggested}; see docs/clustering-judgement.md)")
    if model.stability_ is not None:
        lines.append(f"  stability across seeds: mean ARI {model.stability_:.2f}")
    if model.method == "hdbscan" or model.outlier_share_ > 0:
        before = model.outlier_share_before_
        share = f"  outliers: {model.outlier_share_:.0%}"
        if model.outliers_reassigned_:
            share += f" ({model.outliers_reassigned_} reassigned to their nearest cluster; {before:.0%} before)"
        if model.outlier_bound_met_:
            share += f", within --max-outliers {model.max_outlier_share:.0%}"
        else:
            share += (f": ABOVE --max-outliers {model.max_outlier_share:.0%}; the bound was NOT met "
                      f"(use --reduce-outliers to reassign outliers)")
        lines.append(share)
    for s in sorted(summaries, key=lambda s: (not s.novel, s.category_overlap, -s.size)):
        top = s.top_category or "-"
        flag = "NEW " if s.novel else ""
        cohesion = "" if s.coherence is None else f"  coherence {s.coherence:.2f}"
        if s.largest_company_share > ONE_ORGANIZATION_SHARE:
            cohesion += f" (one organization: {s.largest_company_share:.0%})"
        lines.append(f"  {flag}#{s.cluster:<3} {s.size:>6} clauses  {len(s.companies):>3} orgs  {top}:{s.category_overlap:.0%}"
                     f"{cohesion}  {s.label}")
        if s.examples:
            example = " ".join(s.examples[0].split())
            lines.append(f"        e.g. {example if len(example) <= 110 else example[:109] + '…'}")
    return lines


@click.command()
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Least estimated Jaccard similarity of word shingles for two clauses to be linked.")
@click.option("--shingle-size", type=click.IntRange(1, 8), default=3, show_default=True, help="Words per shingle.")
@click.option("--num-perm", type=click.IntRange(8), default=128, show_default=True, help="MinHash permutations.")
@click.option("--bands", type=click.IntRange(1), default=32, show_default=True, help="LSH bands (must divide --num-perm).")
@click.option("--min-words", type=click.IntRange(1), default=6, show_default=True, help="Skip shorter clauses.")
@click.option("--min-companies", type=click.IntRange(1), default=2, show_default=True,
              help="Least number of organizations sharing a family.")
@click.option("--no-mask-names", "mask_names", is_flag=True, flag_value=False, default=True,
              help="Do not mask each organization's own name before comparing.")
@click.option("--min-doc-similarity", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Store document pairs at least this similar.")
@click.option("--matrix", "matrix_file", type=click.Path(dir_okay=False),
              help="Also write the whole document similarity matrix to this CSV file.")
@click.option("--seed", "random_state", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the families as JSON.")
@quiet_option
@existing_db_option
def templates(threshold, shingle_size, num_perm, bands, min_words, min_companies, mask_names, min_doc_similarity,
              matrix_file, random_state, as_json, quiet, db_path):
    """Find template families: clauses shared almost word for word across organizations.

    Word shingles, MinHash and LSH banding find the near-duplicate pairs;
    linked pairs form families, kept when they span --min-companies
    organizations. The pass also stores the similarity of whole policies
    (doc_similarity), the input of 'policycorpus plot dendrogram'.

    \b
    Example:
        policycorpus templates
        policycorpus templates --threshold 0.7 --min-companies 3 --json > families.json
        policycorpus templates --matrix out/doc-similarity.csv
    """
    from analysis.template_families import run_templates

    if num_perm % bands:
        raise UserError(f"--bands {bands} does not divide --num-perm {num_perm}")
    if matrix_file:
        writable_output(matrix_file)
    started = time.monotonic()
    db = open_db(db_path)
    run = run_templates(
        db, min_doc_similarity=min_doc_similarity, verbose=not quiet, threshold=threshold, shingle_size=shingle_size,
        num_perm=num_perm, bands=bands, min_words=min_words, min_companies=min_companies, mask_names=mask_names,
        random_state=random_state,
    )
    if matrix_file:
        from analysis.template_families import similarity_csv

        Path(matrix_file).write_text(similarity_csv(run.documents, run.similarity), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(run.families, ensure_ascii=False, indent=2))
        return
    click.echo(f"Template pass {run.run_id}: {run.n_clauses} clauses, {len(run.families)} families, "
               f"{len(run.documents)} documents compared, in {time.monotonic() - started:.1f} s")
    from analysis.template_families import template_groups

    for group in template_groups(run.families)[:10]:
        click.echo(f"  {len(group['companies'])} organizations share {group['families']} template clause(s): "
                   f"{', '.join(group['companies'])}")
    for family in run.families:
        example = " ".join(family["example"].split())
        example = example if len(example) <= 100 else example[:99] + "…"
        click.echo(f"  family {family['id']}: {family['size']} clauses, {len(family['companies'])} organizations "
                   f"({', '.join(family['companies'])}): {example}")


@click.group()
def plot():
    """Plots for analysts, each written as PNG and SVG.

    \b
    Example:
        policycorpus plot heatmap --peer-group retail-banks -o out/heatmap
        policycorpus plot dendrogram -o out/dendrogram
        policycorpus plot map -o out/clauses
    """


@plot.command("heatmap")
@click.argument("companies", nargs=-1)
@click.option("--peer-group", help="Plot every company of this peer group.")
@click.option("--all", "all_companies", is_flag=True, help="Plot every company in the corpus.")
@click.option("--share", is_flag=True, help="Colour by the share of each company's tagged clauses, not raw counts.")
@click.option("-o", "--output", default="heatmap", show_default=True, help="Output stem: writes STEM.png and STEM.svg.")
@existing_db_option
def heatmap_command(companies, peer_group, all_companies, share, output, db_path):
    """Coverage heatmap: companies × taxonomy categories, coloured by clauses (or shares) per category.

    \b
    Example:
        policycorpus plot heatmap --all -o out/heatmap
        policycorpus plot heatmap --all --share -o out/heatmap-shares
    """
    from analysis.compare import compare_companies
    from analysis.plots import plot_heatmap

    db = open_db(db_path)
    rows = list(db["companies"].rows_where(order_by="name")) if all_companies else _select_companies(db, companies, peer_group)
    with_docs = {r[0] for r in db.execute("select distinct company_id from clauses")}
    rows = [r for r in rows if r["id"] in with_docs] or rows
    for path in plot_heatmap(compare_companies(db, rows), output, share=share):
        click.echo(f"Wrote {path}")


@plot.command("dendrogram")
@click.option("--run", "run_id", type=int, help="Template pass whose similarity matrix to use (default: the latest).")
@click.option("-o", "--output", default="dendrogram", show_default=True, help="Output stem: writes STEM.png and STEM.svg.")
@existing_db_option
def dendrogram_command(run_id, output, db_path):
    """Dendrogram of every current policy by TF-IDF similarity (from 'policycorpus templates').

    \b
    Example:
        policycorpus plot dendrogram -o out/dendrogram
    """
    from analysis.plots import plot_dendrogram, similarity_matrix

    labels, sims, run, left_out = similarity_matrix(open_db(db_path), run_id)
    for path in plot_dendrogram(labels, sims, output, left_out=left_out):
        click.echo(f"Wrote {path}")
    click.echo(f"{len(labels)} documents drawn" + (f"; left out: {'; '.join(left_out)}" if left_out else ""))


@plot.command("map")
@click.option("--run", "run_id", type=int, help="Cluster run to plot (default: the latest).")
@click.option("--max-points", type=click.IntRange(100), default=20000, show_default=True)
@click.option("-o", "--output", default="clause-map", show_default=True,
              help="Output stem: writes STEM.png, STEM.svg and the interactive STEM.html (+ STEM.vl.json).")
@existing_db_option
def map_command(run_id, max_points, output, db_path):
    """2-D map of clauses coloured by cluster (from 'policycorpus cluster'), as stored by its --projection.

    \b
    Example:
        policycorpus plot map -o out/clause-map
    """
    from analysis.frames import cluster_members
    from analysis.plots import map_spec, plot_map, write_interactive

    db = open_db(db_path)
    members = cluster_members(db, run_id)
    if members.empty:
        raise UserError("the cluster run has no members")
    if len(members) > max_points:
        members = members.sample(n=max_points, random_state=0)
    run = int(members["run_id"].iloc[0])
    params = json.loads(db.table("cluster_runs").get(run)["params"])
    labels = dict(zip(members["cluster"], members["cluster_label"]))
    x, y, clusters = members["x"].to_numpy(), members["y"].to_numpy(), members["cluster"].to_numpy()
    projection = str(params.get("projection", "pca")).upper().replace("TSNE", "t-SNE")
    title = f"Clauses by cluster (run {run})"
    for path in plot_map(x, y, clusters, labels, output, title=title, projection=projection):
        click.echo(f"Wrote {path}")
    spec = map_spec(x, y, clusters, labels, members["text"].fillna("").tolist(), title=title)
    for path in write_interactive(spec, output):
        click.echo(f"Wrote {path}")


@plot.command("shares")
@click.option("--by", type=click.Choice(["industry", "country", "peer_group", "company", "year"]), default="industry",
              show_default=True, help="Class to compare (year: clusters over time).")
@click.option("--run", "run_id", type=int, help="Cluster run (default: the latest).")
@click.option("-o", "--output", default="cluster-shares", show_default=True, help="Output stem: writes STEM.png and STEM.svg.")
@existing_db_option
def shares_command(by, run_id, output, db_path):
    """Share of each class's clauses in each cluster (topics per class / over time).

    \b
    Example:
        policycorpus plot shares --by industry -o out/shares-by-industry
        policycorpus plot shares --by year -o out/shares-over-time
    """
    from analysis.frames import clusters_per_class
    from analysis.plots import plot_cluster_shares

    for path in plot_cluster_shares(clusters_per_class(open_db(db_path), by, run_id), by, output):
        click.echo(f"Wrote {path}")
