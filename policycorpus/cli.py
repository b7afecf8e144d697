"""The `policycorpus` command line: a thin click layer over the library.

Subcommands live next to the code they drive (crawler/commands.py,
taxonomy/commands.py, analysis/commands.py, publish/commands.py) and are
imported only when used, so `policycorpus --help` stays fast.
"""

from __future__ import annotations

import importlib
import sqlite3
from typing import Any

import click

from policycorpus import __version__
from policycorpus.errors import PolicyCorpusError

# command name -> "module:attribute"
COMMANDS = {
    "companies": "policycorpus.commands:companies",
    "import-docs": "crawler.commands:import_docs",
    "crawl": "crawler.commands:crawl",
    "merge": "crawler.commands:merge",
    "history": "crawler.commands:history",
    "reextract": "crawler.commands:reextract",
    "status": "policycorpus.commands:status",
    "schema": "policycorpus.commands:schema",
    "release": "policycorpus.commands:release",
    "segment": "taxonomy.commands:segment",
    "tag": "taxonomy.commands:tag",
    "taxonomy": "taxonomy.commands:taxonomy",
    "compare": "analysis.commands:compare",
    "cluster": "analysis.commands:cluster",
    "templates": "analysis.commands:templates",
    "plot": "analysis.commands:plot",
    "serve": "publish.commands:serve",
    "publish": "publish.commands:publish",
    "review": "policycorpus.review_commands:review",
    "agreement": "policycorpus.review_commands:agreement",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
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

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; the library's errors and anything unexpected become one `Error: …` line."""
        try:
            return super().invoke(ctx)
        except PolicyCorpusError as exc:
            raise one_line_error(str(exc), exc.exit_code) from None
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise one_line_error(unexpected_message(exc), 1) from None


def one_line_error(message: str, exit_code: int = 1) -> click.ClickException:
    error = click.ClickException(" ".join(message.split()) or "failed")
    error.exit_code = exit_code  # type: ignore[misc]  # click types exit_code as a class constant; ours varies
    return error


def unexpected_message(exc: Exception) -> str:
    """What to say about an error the library did not anticipate, in one line."""
    if isinstance(exc, sqlite3.DatabaseError):
        from policycorpus.db import sqlite_errors

        try:
            with sqlite_errors():
                raise exc
        except PolicyCorpusError as known:
            return str(known)
        except sqlite3.DatabaseError:
            pass
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return f"unexpected {type(exc).__name__}{': ' + detail if detail else ''} (run 'policycorpus --debug ...' for the traceback)"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="policycorpus")
@click.option("--debug", is_flag=True, help="Show the Python traceback of an unexpected error.")
@click.pass_context
def cli(ctx, debug):
    """Find, collect, tag and compare organizations' social media policies.

    \b
    Example, the whole pipeline on a company list:
        policycorpus companies import companies.csv
        policycorpus crawl
        policycorpus segment && policycorpus tag
        policycorpus compare --peer-group retail-banks --format html -o grid.html
        policycorpus serve
    """
    ctx.ensure_object(dict)["debug"] = debug
