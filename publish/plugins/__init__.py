"""PolicyCorpus's Datasette plugins, installed through the ``datasette`` entry point (pyproject.toml).

``policycorpus_site`` adds the policy, comparison and chart pages; ``csv_formulas``
neutralises spreadsheet formulas in CSV exports; ``sql_guard`` bounds what
anonymous SQL may do. Datasette loads them from the installed package's entry
points; ``register`` adds any that are missing (a source tree run without
``pip install``), never one twice.
"""

from __future__ import annotations

import importlib

# entry point name -> module, as declared in pyproject.toml's [project.entry-points.datasette]
PLUGINS = {
    "policycorpus": "publish.plugins.policycorpus_site",
    "policycorpus_csv": "publish.plugins.csv_formulas",
    "policycorpus_sql_guard": "publish.plugins.sql_guard",
}


def register() -> list[str]:
    """Register with Datasette's plugin manager the plugins its entry points did not load; their names."""
    from datasette.plugins import pm

    added = []
    for name, module_name in PLUGINS.items():
        module = importlib.import_module(module_name)
        if pm.is_registered(module) or pm.get_plugin(name) is not None:
            continue
        pm.register(module, name)
        added.append(name)
    return added
