"""The `policycorpus` command line: a thin click layer over the library.

Subcommands live next to the code they drive (crawler/commands.py,
taxonomy/commands.py, analysis/commands.py, publish/commands.py) and are
imported only when used, so `policycorpus --help` stays fast.
"""

from __future__ import annotations

import importlib

import click

from policycorpus import __version__

# command name -> "module:attribute"
COMMANDS = {
    "companies": "policycorpus.companies:companies",
    "import-docs": "crawler.importer:import_docs_command",
    "crawl": "crawler.commands:crawl",
    "merge": "crawler.commands:merge",
    "status": "policycorpus.status:status",
    "schema": "policycorpus.status:schema",
    "segment": "taxonomy.commands:segment",
    "tag": "taxonomy.commands:tag",
    "taxonomy": "taxonomy.commands:taxonomy",
    "compare": "analysis.commands:compare",
    "cluster": "analysis.commands:cluster",
    "templates": "analysis.commands:templates",
    "plot": "analysis.commands:plot",
    "serve": "publish.commands:serve",
    "publish": "publish.commands:publish",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return None  # that part of the tool is not built yet
            raise
        return getattr(module, attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="policycorpus")
def cli():
    """Find, collect, tag and compare organizations' social media policies.

    \b
    Example, the whole pipeline on a company list:
        policycorpus companies import companies.csv
        policycorpus crawl
        policycorpus segment && policycorpus tag
        policycorpus compare --peer-group retail-banks --format html -o grid.html
        policycorpus serve
    """
