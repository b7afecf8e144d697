"""`policycorpus serve` and `policycorpus publish`: thin click commands over publish.server and publish.package."""

from __future__ import annotations

import errno
import socket
import sqlite3
import sys

import click

from policycorpus.options import UserError, existing_db_option


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket first, so the URL printed is the real one (also with --port 0)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UserError(f"cannot resolve host {host!r}: {exc.strerror}") from None
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


@click.command()
@existing_db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("-p", "--port", default=8001, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
def serve(db_path, host, port):
    """Serve the corpus read-only with Datasette: search, facets, canned queries,
    tagged policy pages, the comparison grid and charts.

    The database is opened writable once to build the full-text indexes and
    views, then served immutable with an SQL time limit.

    \b
    Example:
        policycorpus serve --db corpus.db --port 8001
        # then open http://127.0.0.1:8001/-/compare?companies=Acme,Globex
    """
    import uvicorn
    from datasette.cli import run_sync
    from datasette.utils import StartupError

    from publish.server import make_datasette, prepare_database

    sock = bind_socket(host, port)  # a bad host or a busy port is refused before the corpus is touched
    try:
        prepare_database(db_path)
    except sqlite3.Error as exc:
        raise UserError(f"cannot prepare {db_path} for serving (it must be writable once): {exc}") from None
    try:
        ds = make_datasette(db_path)
    except StartupError as exc:
        raise UserError(str(exc)) from None
    run_sync(ds.invoke_startup)
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{bound_port}/"
    click.echo(f"Datasette is serving {db_path} (read-only) at {url}")
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
    the database, metadata, templates, plugins, static files and a Dockerfile,
    made by Datasette's own packaging machinery (`datasette package`), without
    building the image.

    \b
    Example:
        policycorpus publish --db corpus.db --out dist/policycorpus
        cd dist/policycorpus && docker build -t policycorpus . && docker run -p 8001:8001 policycorpus
    """
    from publish.package import PackageError, build_package
    from publish.server import prepare_database

    try:
        prepare_database(db_path)
    except sqlite3.Error as exc:
        raise UserError(f"cannot prepare {db_path} for publishing (it must be writable once): {exc}") from None
    try:
        result = build_package(db_path, out_dir, name=name, version_note=version_note, force=force)
    except PackageError as exc:
        raise UserError(str(exc)) from None
    click.echo(f"Package written to {result}", err=False)
    click.echo(f"Build and run it with: cd {result} && docker build -t {name} . && docker run -p 8001:8001 {name}")
