"""Publishing corpus.db with Datasette: `policycorpus serve` and `policycorpus publish`.

The Datasette configuration lives in ``publish/site/`` (metadata.yml, settings.json,
templates/, plugins/, static/); table and column descriptions are generated from
``policycorpus.db.TABLES`` and ``VIEWS`` when the metadata is built.
"""
