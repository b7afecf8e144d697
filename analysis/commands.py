"""`policycorpus compare`, `cluster`, `templates` and `plot`: thin click commands over analysis/."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from policycorpus.db import open_db
from policycorpus.options import UserError, existing_db_option, quiet_option, writable_output

ALL_FORMATS = ("md", "html", "xlsx", "csv", "json")


def _select_companies(db, names, peer_group) -> list[dict]:
    from policycorpus.companies import companies_in_peer_group, find_companies

    selected = []
    if peer_group:
        selected += companies_in_peer_group(db, peer_group)
    if names:
        selected += find_companies(db, list(names))
    if not selected:
        raise UserError("name the companies to compare, or give --peer-group NAME")
    unique = {}
    for row in selected:
        unique.setdefault(row["id"], row)
    return list(unique.values())


def _targets(formats: list[str], output: str | None) -> list[tuple[str, Path | None]]:
    """Where each format goes: stdout (None) for one text format without -o, else files."""
    if len(formats) == 1:
        fmt = formats[0]
        if output is None and fmt == "xlsx":
            raise UserError("--format xlsx needs -o FILE")
        return [(fmt, Path(output) if output else None)]
    if not output:
        raise UserError("several formats need -o: a directory or a file name without extension")
    out = Path(output)
    if output.endswith(("/", "\\")) or out.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        out = out / "compare"
    elif out.suffix.lstrip(".") in ALL_FORMATS:
        out = out.with_suffix("")
    return [(fmt, out.with_name(f"{out.name}.{fmt}")) for fmt in formats]


@click.command()
@click.argument("companies", nargs=-1)
@click.option("--peer-group", help="Compare every company of this peer group (with any companies named too).")
@click.option("--client", "client_file", type=click.Path(exists=True, dir_okay=False),
              help="A draft policy (.md, .txt, .html or .pdf) to add as a column, with a gap list.")
@click.option("--client-name", help="Column name for the draft (default: 'Draft: FILE NAME').")
@click.option("-f", "--format", "formats", multiple=True, type=click.Choice(ALL_FORMATS + ("all",)),
              help="Output format; repeat for several, or 'all'. Default md.")
@click.option("-o", "--output", help="Output file; with several formats a directory or a stem (out/grid -> out/grid.md ...).")
@click.option("--gap-share", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="A category is a gap when at least this share of peers covers it and the draft does not.")
@existing_db_option
def compare(companies, peer_group, client_file, client_name, formats, output, gap_share, db_path):
    """Compare companies' policies category by category.

    The grid follows the taxonomy's groups (Who, When, Identity, Routing,
    Reporting, Conduct, Governance): for each category and company, whether
    it is covered, the strongest modality, the number of clauses and the most
    representative clause with its source and snapshot date. Above it: what
    all have in common, what only some have, what is unique to one, and each
    company's restrictiveness, readability and length.

    \b
    Example:
        policycorpus compare "Acme Bank" "Bolt Bank" "Cobalt Credit"
        policycorpus compare --peer-group retail-banks --format html -o grid.html
        policycorpus compare --peer-group retail-banks --client draft.md --format all -o out/
    """
    from analysis.client import read_client_draft
    from analysis.compare import compare_companies
    from analysis.render import write

    formats = list(ALL_FORMATS) if "all" in formats else list(dict.fromkeys(formats or ["md"]))
    targets = _targets(formats, output)
    db = open_db(db_path)
    rows = _select_companies(db, companies, peer_group)
    client = read_client_draft(client_file, name=client_name) if client_file else None
    comparison = compare_companies(db, rows, client=client, gap_share=gap_share)
    for fmt, path in targets:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        text = write(comparison, fmt, path)
        if text is not None:
            click.echo(text, nl=False)
        else:
            click.echo(f"Wrote {path}", err=True)


@click.command()
@click.option("--method", type=click.Choice(["kmeans", "hdbscan"]), default="kmeans", show_default=True,
              help="k-means with k chosen by silhouette, or HDBSCAN with a bounded outlier share.")
@click.option("--backend", type=click.Choice(["tfidf", "embedding"]), default="tfidf", show_default=True,
              help="Clause vectors: TF-IDF + LSA, or sentence embeddings (needs the 'embeddings' extra).")
@click.option("--model", "embedding_model", default="all-MiniLM-L6-v2", show_default=True,
              help="Sentence-transformers model name or path for --backend embedding.")
@click.option("--k-min", type=click.IntRange(2), default=4, show_default=True)
@click.option("--k-max", type=click.IntRange(2), default=40, show_default=True)
@click.option("--max-outliers", "max_outlier_share", type=click.FloatRange(0, 1), default=0.35, show_default=True,
              help="HDBSCAN: largest acceptable share of outliers.")
@click.option("--min-words", type=click.IntRange(1), default=4, show_default=True, help="Skip shorter clauses.")
@click.option("--sample-size", type=click.IntRange(100), default=20000, show_default=True,
              help="Clauses used to choose k (the final clustering uses all).")
@click.option("--seed", "random_state", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the clusters as JSON.")
@quiet_option
@existing_db_option
def cluster(method, backend, embedding_model, k_min, k_max, max_outlier_share, min_words, sample_size,
            random_state, as_json, quiet, db_path):
    """Cluster the current clauses to find clause types, including ones the taxonomy lacks.

    Each cluster gets its distinctive terms (class-based TF-IDF), its most
    central clauses, the companies it spans and the share of members carrying
    its most frequent category: a low overlap marks a clause type the
    taxonomy does not have. The run and every parameter are stored in
    cluster_runs, clusters and cluster_members.

    \b
    Example:
        policycorpus cluster
        policycorpus cluster --method hdbscan --max-outliers 0.3 --seed 1
    """
    from analysis.cluster import run_clustering

    if k_min > k_max:
        raise UserError("--k-min must not exceed --k-max")
    started = time.monotonic()
    db = open_db(db_path)
    try:
        run_id, model, summaries = run_clustering(
            db, min_words=min_words, method=method, backend=backend, embedding_model=embedding_model,
            k_min=k_min, k_max=k_max, max_outlier_share=max_outlier_share, sample_size=sample_size,
            random_state=random_state, verbose=not quiet,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if as_json:
        click.echo(json.dumps([s.__dict__ for s in summaries], ensure_ascii=False, indent=2))
        return
    quality = "n/a" if model.quality_ is None else f"{model.quality_:.3f}"
    click.echo(f"Cluster run {run_id}: {len(model.labels_)} clauses, {model.n_clusters_} clusters "
               f"(silhouette {quality}) in {time.monotonic() - started:.1f} s")
    for s in sorted(summaries, key=lambda s: (s.category_overlap, -s.size)):
        top = s.top_category or "-"
        click.echo(f"  #{s.cluster:<3} {s.size:>6} clauses  {len(s.companies):>3} cos  {top}:{s.category_overlap:.0%}  {s.label}")
        if s.examples:
            example = " ".join(s.examples[0].split())
            click.echo(f"        e.g. {example if len(example) <= 110 else example[:109] + '…'}")


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
@click.option("-o", "--output", default="heatmap", show_default=True, help="Output stem: writes STEM.png and STEM.svg.")
@existing_db_option
def heatmap_command(companies, peer_group, all_companies, output, db_path):
    """Coverage heatmap: companies × taxonomy categories, coloured by clauses per category.

    \b
    Example:
        policycorpus plot heatmap --all -o out/heatmap
    """
    from analysis.compare import compare_companies
    from analysis.plots import plot_heatmap

    db = open_db(db_path)
    rows = list(db["companies"].rows_where(order_by="name")) if all_companies else _select_companies(db, companies, peer_group)
    with_docs = {r[0] for r in db.execute("select distinct company_id from clauses")}
    rows = [r for r in rows if r["id"] in with_docs] or rows
    for path in plot_heatmap(compare_companies(db, rows), output):
        click.echo(f"Wrote {path}")


@plot.command("dendrogram")
@click.option("--run", "run_id", type=int, help="Template pass whose similarity matrix to use (default: the latest).")
@click.option("-o", "--output", default="dendrogram", show_default=True, help="Output stem: writes STEM.png and STEM.svg.")
@existing_db_option
def dendrogram_command(run_id, output, db_path):
    """Dendrogram of whole policies by TF-IDF similarity (from 'policycorpus templates').

    \b
    Example:
        policycorpus plot dendrogram -o out/dendrogram
    """
    from analysis.plots import plot_dendrogram, similarity_matrix

    labels, sims, _ = similarity_matrix(open_db(db_path), run_id)
    for path in plot_dendrogram(labels, sims, output):
        click.echo(f"Wrote {path}")


@plot.command("map")
@click.option("--run", "run_id", type=int, help="Cluster run to plot (default: the latest).")
@click.option("--max-points", type=click.IntRange(100), default=20000, show_default=True)
@click.option("-o", "--output", default="clause-map", show_default=True, help="Output stem: writes STEM.png and STEM.svg.")
@existing_db_option
def map_command(run_id, max_points, output, db_path):
    """2-D map of clauses coloured by cluster (from 'policycorpus cluster').

    \b
    Example:
        policycorpus plot map -o out/clause-map
    """
    from analysis.plots import cluster_points, plot_map

    x, y, clusters, labels, run = cluster_points(open_db(db_path), run_id, max_points)
    for path in plot_map(x, y, clusters, labels, output, title=f"Clauses by cluster (run {run})"):
        click.echo(f"Wrote {path}")
