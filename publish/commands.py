"""`policycorpus serve` and `policycorpus publish`: thin click commands over publish.server and publish.package."""

from __future__ import annotations

import errno
import socket
import sqlite3
import sys

import click

from policycorpus.errors import PolicyCorpusError
from policycorpus.options import UserError, existing_db_option


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket first, so the URL printed is the real one (also with --port 0)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UserError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    except (UnicodeError, ValueError) as exc:  # a label over 63 characters, a NUL byte ...
        raise UserError(f"cannot resolve host {host[:100]!r}: {exc}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} on {host} is in use (choose another with --port)") from None
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def prepare(db_path: str, purpose: str) -> None:
    """publish.server.prepare_database, its errors as one-line UserErrors."""
    from publish.server import prepare_database

    try:
        prepare_database(db_path)
    except PolicyCorpusError as exc:
        raise UserError(f"cannot prepare {db_path} for {purpose}: {exc}") from None
    except sqlite3.Error as exc:
        raise UserError(f"cannot prepare {db_path} for {purpose} (it must be writable once): {exc}") from None


@click.command()
@existing_db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("-p", "--port", default=8001, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@click.option("--title", help="The site's title (default: PolicyCorpus).")
@click.option("--source", help="Where the documents come from (default: counted from the corpus).")
@click.option("--source-url", help="Link for --source.")
@click.option("--license", "license_name", help="Licence of the data, shown in the footer.")
@click.option("--license-url", help="Link for --license.")
@click.option("--citation", help="How to cite this corpus (shown in every 'Cite this' box).")
@click.option("--review", "review_mode", is_flag=True,
              help="Add the review queue (/-/review): decisions are written to the review store only.")
@click.option("--reviewer", help="Your name, recorded with every decision (required with --review).")
@click.option("--reviews", "reviews_path", type=click.Path(dir_okay=False),
              help="The review store (default: CORPUS.reviews.db beside the corpus); its decisions are shown "
                   "whenever it exists.")
def serve(db_path, host, port, title, source, source_url, license_name, license_url, citation, review_mode, reviewer,
          reviews_path):
    """Serve the corpus read-only with Datasette: search, facets, canned queries,
    tagged policy pages, the comparison grid and charts.

    The database is opened writable once to build the full-text indexes,
    views and summary tables, then served through read-only connections with
    an SQL time limit: what other commands commit meanwhile shows at once
    (the summary tables behind rankings and charts are rebuilt at the next start).

    \b
    Example:
        policycorpus serve --db corpus.db --port 8001
        policycorpus serve --title "Employee SM policies 2026" --license CC-BY-4.0 \\
            --citation "Doe, J. (2026). Employee social media policies, release 2026.1."
        # then open http://127.0.0.1:8001/-/compare?companies=Acme,Globex
        policycorpus serve --review --reviewer ana   # then open /-/review?companies=Acme,Globex,Initech
    """
    import uvicorn
    from datasette.cli import run_sync
    from datasette.utils import StartupError

    from policycorpus import reviews
    from publish.server import make_datasette

    if review_mode and not (reviewer or "").strip():
        raise UserError("--review needs --reviewer NAME (recorded with every decision)")
    if reviewer and len(reviewer) > reviews.MAX_NAME:
        raise UserError(f"--reviewer is limited to {reviews.MAX_NAME} characters")
    store = reviews.resolve(db_path, reviews_path)
    if reviews_path and not review_mode and not store.exists():
        raise UserError(f"no review store at {store}")
    sock = bind_socket(host, port)  # first: a taken port or a bad host is reported before any work
    try:
        prepare(db_path, "serving")
        if review_mode:
            reviews.open_store(store).close()
        review_config = {"review": bool(review_mode), "reviewer": (reviewer or "").strip() or None,
                         "reviews": str(store.resolve()) if store.exists() else None}
        ds = make_datasette(db_path, plugin_config=review_config, site={"title": title, "source": source, "source_url": source_url,
                                           "license": license_name, "license_url": license_url,
                                           "citation": citation})
        run_sync(ds.invoke_startup)
    except StartupError as exc:
        sock.close()
        raise UserError(str(exc)) from None
    except sqlite3.Error as exc:
        sock.close()
        raise UserError(f"cannot serve {db_path}: {exc}") from None
    except BaseException:
        sock.close()
        raise
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{bound_port}/"
    click.echo(f"Datasette is serving {db_path} (read-only) at {url}")
    if review_mode:
        click.echo(f"  review queue: {url}-/review?companies=A,B,C (decisions go to {store}, as {reviewer})", err=True)
    click.echo(f"  compare companies: {url}-/compare   charts: {url}-/charts", err=True)
    click.echo("Press Ctrl-C to stop.", err=True)
    sys.stdout.flush()
    config = uvicorn.Config(ds.app(), log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


@click.command()
@existing_db_option
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory to create with the deployable package.")
@click.option("--name", default="policycorpus", show_default=True, help="Name of the deployment.")
@click.option("--version-note", default=None, help="Note shown next to the Datasette version.")
@click.option("--force", is_flag=True, help="Replace the output directory if it exists.")
def publish(db_path, out_dir, name, version_note, force):
    """Prepare a deployable Datasette package of the corpus: a directory with
    a snapshot of the database, metadata, templates, static files, the
    project's wheel (which brings the plugins) and a Dockerfile that installs
    it, made by Datasette's own packaging machinery (`datasette package`),
    without building the image.

    \b
    Example:
        policycorpus publish --db corpus.db --out dist/policycorpus
        cd dist/policycorpus && docker build -t policycorpus . && docker run -p 8001:8001 policycorpus
    """
    from publish.package import build_package, check_name, check_output_dir, check_version_note

    try:
        check_name(name)
        check_version_note(version_note)
        check_output_dir(out_dir, force=force)
    except PolicyCorpusError as exc:
        raise UserError(str(exc)) from None
    prepare(db_path, "publishing")
    try:
        result = build_package(db_path, out_dir, name=name, version_note=version_note, force=force)
    except PolicyCorpusError as exc:
        raise UserError(str(exc)) from None
    except (OSError, sqlite3.Error) as exc:
        raise UserError(f"cannot write the package to {out_dir}: {exc}") from None
    click.echo(f"Package written to {result}", err=False)
    click.echo(f"Build and run it with: cd {result} && docker build -t {name} . && docker run -p 8001:8001 {name}")
