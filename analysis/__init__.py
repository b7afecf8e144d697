"""PolicyCorpus analysis: the functions behind `compare`, `cluster`, `templates` and `plot`.

Everything the commands do can be called from a notebook on an open corpus::

    from policycorpus.db import open_db
    from policycorpus.companies import companies_in_peer_group
    from analysis.compare import compare_companies
    from analysis.render import to_html, to_xlsx
    from analysis.cluster import ClauseClusterer, run_clustering
    from analysis.template_families import TemplateFinder, run_templates, document_similarity
    from analysis.plots import plot_heatmap, plot_dendrogram, plot_map

    db = open_db("corpus.db")
    grid = compare_companies(db, companies_in_peer_group(db, "regional-banks"))
    grid.cells["Harbourline Bank"]["privacy"]          # covered, count, modality, clause
    run_id, model, clusters = run_clustering(db, k_max=30, random_state=0)
    templates = run_templates(db, threshold=0.6)       # families, documents, similarity matrix

``analysis.corpus.current_clauses(db)`` gives the clauses (with tags) every
analysis works on: each document's latest snapshot, latest segmentation and
the tags of the model version that last tagged each clause.
"""
