"""Build the static demo sites in demo/web/<slug>/ from demo/content/.

    python -m demo.build_web            # rebuild every site (and the PDF)
    python -m demo.build_web --check    # exit 1 if demo/web is not what the content builds

Content layout, per site ``demo/content/<slug>/``:

- ``site.yaml``: layout (classic | modern | portal | minimal), variables, nav, footer, sidebars,
  shared pages (``shared: {url path: template name}`` from ``demo/content/_shared/``), sitemap settings;
- ``pages/<url path>``: HTML fragments (the main content) with a YAML front matter (title, ...);
- ``_gen2/pages/<url path>``: fragments replacing pages in generation 2 (written to ``web/<slug>/_gen2/``);
- ``static/``: files copied as they are (robots.txt, ...);
- ``pdf/<name>.txt``: text rendered by demo/make_pdf.py to ``web/<slug>/<pdf target>``.

Fragments and shared pages may use ``{{var}}`` placeholders from site.yaml ``vars``. ``{{BASE_URL}}``
is left in place: the server replaces it with the site's real address (ports vary per run).
"""

from __future__ import annotations

import argparse
import filecmp
import html
import re
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from demo import make_pdf

DEMO_DIR = Path(__file__).resolve().parent
CONTENT = DEMO_DIR / "content"
WEB = DEMO_DIR / "web"
KEEP_IN_WEB = {"sites.yaml"}

FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def read_fragment(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    match = FRONT_MATTER.match(text)
    if not match:
        raise ValueError(f"{path}: missing front matter")
    return yaml.safe_load(match.group(1)) or {}, text[match.end():]


def fill(text: str, variables: dict, where: str, escape: bool = True) -> str:
    """Replace {{var}} by its value (plain text in site.yaml, HTML-escaped here unless escape=False)."""

    def repl(m: re.Match) -> str:
        name = m.group(1)
        if name == "BASE_URL":
            return m.group(0)
        if name not in variables:
            raise KeyError(f"{where}: unknown placeholder {{{{{name}}}}}")
        value = str(variables[name])
        return html.escape(value, quote=False) if escape else value

    return PLACEHOLDER.sub(repl, text)


def link_list(links: list, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    items = "".join(f'<li><a href="{html.escape(href)}">{html.escape(label)}</a></li>' for label, href in links)
    return f"<ul{cls}>{items}</ul>"


def sidebar_for(config: dict, url_path: str) -> list:
    best = ""
    for prefix in config.get("sidebars", {}):
        if url_path.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return config.get("sidebars", {}).get(best, []) if best else []


def breadcrumbs(url_path: str, title: str) -> str:
    parts = [p for p in url_path.split("/") if p and not p.endswith(".html")]
    crumbs = ['<a href="/">Home</a>']
    acc = "/"
    for p in parts:
        acc += p + "/"
        if acc != url_path:
            crumbs.append(f'<a href="{acc}">{html.escape(p.replace("-", " ").capitalize())}</a>')
    crumbs.append(f"<span>{html.escape(title)}</span>")
    return " &rsaquo; ".join(crumbs)


def head(config: dict, title: str, meta: dict, url_path: str) -> str:
    v = config["vars"]
    description = html.escape(meta.get("description", v.get("tagline", "")))
    canonical = "{{BASE_URL}}" + url_path.replace("index.html", "")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{config.get("lang", "en")}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)} | {html.escape(v['company'])}</title>\n"
        f'<meta name="description" content="{description}">\n'
        f'<link rel="canonical" href="{canonical}">\n'
        '<link rel="stylesheet" href="/assets/site.css">\n'
        f"<style>:root{{--accent:{config.get('accent', '#234')}}}</style>\n"
    )


def social_icons(config: dict) -> str:
    handles = config.get("social", {})
    if not handles:
        return ""
    links = "".join(
        f'<a class="icon icon-{html.escape(net.lower())}" href="https://{html.escape(url)}" rel="noopener">{html.escape(net)}</a>'
        for net, url in handles.items()
    )
    return f'<div class="follow">Follow us: {links}</div>'


def render_classic(config, title, meta, body, url_path):
    v = config["vars"]
    side = sidebar_for(config, url_path)
    side_html = f'<div class="left-col">{link_list(side, "subnav")}</div>' if side else ""
    topbar = " ".join(f'<a href="{html.escape(h)}">{html.escape(label)}</a>' for label, h in config.get("topbar", []))
    return (
        head(config, title, meta, url_path) + "</head>\n<body>\n<div id=\"wrapper\">\n"
        f'<div id="topbar"><span>{html.escape(v.get("phone", ""))}</span> {topbar}</div>\n'
        f'<div id="header"><a href="/" class="logo">{html.escape(v["company"])}</a>\n'
        f'{link_list(config["nav"], "menu")}</div>\n'
        f'<div id="content-area">{side_html}\n<div class="main-col">\n{body}\n</div>\n</div>\n'
        f'<div id="footer">{link_list(config["footer"], "footer-links")}\n{social_icons(config)}\n'
        f'<p class="legal-note">{config.get("footer_note", "")}</p>\n'
        f'<p>&copy; 2025 {html.escape(v["company"])}. All rights reserved.</p></div>\n'
        "</div>\n</body>\n</html>\n"
    )


def render_modern(config, title, meta, body, url_path):
    v = config["vars"]
    side = sidebar_for(config, url_path)
    aside = f'<aside class="related"><h2>In this section</h2>{link_list(side)}</aside>' if side else ""
    return (
        head(config, title, meta, url_path)
        + "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}gtag('js',new Date());</script>\n"
        "</head>\n<body>\n"
        '<a class="skip-link" href="#main">Skip to content</a>\n'
        f'<header class="site-header"><a class="brand" href="/">{html.escape(v["company"])}</a>\n'
        f'<nav aria-label="Main">{link_list(config["nav"])}</nav>\n'
        '<form class="search" action="/search/" role="search"><input name="q" placeholder="Search"><button>Go</button></form>\n'
        "</header>\n"
        f'<div class="breadcrumbs">{breadcrumbs(url_path, title)}</div>\n'
        f'<main id="main"><article class="content">\n{body}\n</article>\n{aside}</main>\n'
        '<div class="cookie-banner" role="dialog">We use cookies to make this site work and to understand how it is used. '
        '<a href="/legal/cookies.html">Cookie settings</a> <button>Accept all</button></div>\n'
        '<footer class="site-footer">\n'
        f'<nav aria-label="Footer">{link_list(config["footer"])}</nav>\n'
        '<form class="newsletter"><label>Get our newsletter <input type="email" name="email"></label><button>Sign up</button></form>\n'
        f"{social_icons(config)}\n"
        f'<p class="small">{config.get("footer_note", "")}</p>\n'
        f'<p class="small">&copy; 2025 {html.escape(v["company"])}</p>\n'
        "</footer>\n</body>\n</html>\n"
    )


def render_portal(config, title, meta, body, url_path):
    v = config["vars"]
    side = sidebar_for(config, url_path)
    side_html = f'<nav class="side-nav" aria-label="Section">{link_list(side)}</nav>' if side else ""
    columns = "".join(
        f'<div class="footer-col"><h3>{html.escape(heading)}</h3>{link_list(links)}</div>'
        for heading, links in config.get("footer_columns", {}).items()
    )
    return (
        head(config, title, meta, url_path) + "</head>\n<body>\n"
        '<a href="#content" class="skip">Skip to main content</a>\n'
        f'<div class="alert-banner">{config.get("alert", "")}</div>\n'
        f'<header role="banner"><div class="seal">{html.escape(v["company"])}</div>'
        f'<div class="tagline">{html.escape(v.get("tagline", ""))}</div>\n'
        f'<nav class="mega">{link_list(config["nav"])}</nav></header>\n'
        f'<div class="layout">{side_html}\n<div role="main" id="content">\n'
        f'<p class="crumbs">{breadcrumbs(url_path, title)}</p>\n{body}\n'
        f'<p class="page-updated">Page last reviewed: {html.escape(str(meta.get("updated", "2025")))}</p>\n'
        "</div></div>\n"
        f'<footer role="contentinfo">{columns}\n{link_list(config["footer"], "footer-links")}\n{social_icons(config)}\n'
        f'<p>{config.get("footer_note", "")}</p></footer>\n</body>\n</html>\n'
    )


def render_minimal(config, title, meta, body, url_path):
    v = config["vars"]
    return (
        head(config, title, meta, url_path) + "</head>\n<body>\n"
        f'<header><h2 class="logo"><a href="/">{html.escape(v["company"])}</a></h2>'
        f'<nav>{" &middot; ".join(f"<a href={chr(34)}{h}{chr(34)}>{html.escape(label)}</a>" for label, h in config["nav"])}</nav></header>\n'
        f'<div class="page">\n{body}\n</div>\n'
        f'<footer><p>{" | ".join(f"<a href={chr(34)}{h}{chr(34)}>{html.escape(label)}</a>" for label, h in config["footer"])}</p>\n'
        f'{social_icons(config)}<p>{config.get("footer_note", "")}</p></footer>\n</body>\n</html>\n'
    )


LAYOUTS = {"classic": render_classic, "modern": render_modern, "portal": render_portal, "minimal": render_minimal}

SITE_CSS = """body{font-family:system-ui,sans-serif;margin:0;color:#222;line-height:1.5}
a{color:var(--accent)}header,#header,.site-header{background:var(--accent);color:#fff;padding:1rem}
header a,#header a,.site-header a{color:#fff}nav ul,.menu,.footer-links{list-style:none;padding:0;display:flex;gap:1rem;flex-wrap:wrap}
main,#content-area,.layout,.page{display:flex;gap:2rem;max-width:70rem;margin:auto;padding:1rem}
.content,.main-col,[role=main]{flex:1}aside,.left-col,.side-nav{width:16rem}
footer,#footer,.site-footer{background:#eee;padding:1rem;font-size:.9rem}.cookie-banner{position:fixed;bottom:0;background:#333;color:#fff;padding:.5rem}
"""


def render_page(config: dict, src: Path, url_path: str, where: str) -> str:
    meta, body = read_fragment(src)
    body = fill(body, config["vars"], where)
    title = fill(meta.get("title", config["vars"]["company"]), config["vars"], where, escape=False)
    if meta.get("raw"):
        return body  # the fragment is a whole page of its own
    return LAYOUTS[config.get("layout", "modern")](config, title, meta, body, url_path)


def url_path_for(rel: Path) -> str:
    path = "/" + rel.as_posix()
    return path[: -len("index.html")] if path.endswith("/index.html") else path


def build_site(slug: str, out_root: Path) -> list[Path]:
    src = CONTENT / slug
    config = yaml.safe_load((src / "site.yaml").read_text(encoding="utf-8"))
    config.setdefault("vars", {})
    out = out_root / slug
    written: list[Path] = []

    def write(dest: Path, data: str | bytes) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            dest.write_text(data, encoding="utf-8")
        else:
            dest.write_bytes(data)
        written.append(dest)

    for prefix, pages_dir in (("", src / "pages"), ("_gen2", src / "_gen2" / "pages")):
        if not pages_dir.is_dir():
            continue
        for page in sorted(pages_dir.rglob("*.html")):
            rel = page.relative_to(pages_dir)
            write(out / prefix / rel, render_page(config, page, url_path_for(rel), f"{slug}/{rel}"))
    for url_path, template in (config.get("shared") or {}).items():
        rel = Path(url_path.lstrip("/"))
        if url_path.endswith("/"):
            rel = rel / "index.html"
        write(out / rel, render_page(config, CONTENT / "_shared" / f"{template}.html", url_path, f"{slug}:{template}"))
    static = src / "static"
    if static.is_dir():
        for f in sorted(p for p in static.rglob("*") if p.is_file()):
            write(out / f.relative_to(static), f.read_bytes())
    write(out / "assets" / "site.css", SITE_CSS)
    for pdf in config.get("pdfs", []):
        data = make_pdf.render((src / pdf["source"]).read_text(encoding="utf-8"), header=pdf.get("header", ""))
        write(out / pdf["target"].lstrip("/"), data)
    if config.get("sitemap"):
        write(out / "sitemap.xml", sitemap_xml(out, written, config))
    return written


def sitemap_xml(out: Path, written: list[Path], config: dict) -> str:
    exclude = set(config.get("sitemap_exclude", []))
    robots = out / "robots.txt"
    disallow = [line.split(":", 1)[1].strip() for line in (robots.read_text().splitlines() if robots.is_file() else [])
                if line.lower().startswith("disallow:") and line.split(":", 1)[1].strip()]
    urls = []
    for f in written:
        rel = f.relative_to(out)
        if rel.parts[0].startswith("_") or f.suffix not in (".html", ".pdf"):
            continue
        path = url_path_for(rel)
        if path in exclude or any(path.startswith(d) for d in disallow):
            continue
        urls.append(path)
    entries = "".join(
        f"  <url><loc>{{{{BASE_URL}}}}{html.escape(p)}</loc><lastmod>2025-01-15</lastmod></url>\n" for p in sorted(set(urls))
    )
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            f"{entries}</urlset>\n")


def site_slugs() -> list[str]:
    return sorted(p.name for p in CONTENT.iterdir() if p.is_dir() and not p.name.startswith("_"))


def build_all(out_root: Path) -> None:
    for slug in site_slugs():
        target = out_root / slug
        if target.exists():
            shutil.rmtree(target)
        build_site(slug, out_root)


def same_tree(a: Path, b: Path) -> list[str]:
    diffs = []
    cmp = filecmp.dircmp(a, b)
    diffs += [str(a / n) for n in cmp.left_only + cmp.right_only + cmp.diff_files + cmp.funny_files]
    for sub in cmp.common_dirs:
        diffs += same_tree(a / sub, b / sub)
    return diffs


def check() -> list[str]:
    """Paths where demo/web differs from a fresh build of demo/content."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        build_all(fresh)
        diffs = []
        for slug in site_slugs():
            if not (WEB / slug).is_dir():
                diffs.append(str(WEB / slug) + " (missing)")
                continue
            filecmp.clear_cache()
            diffs += [d.replace(str(fresh), str(WEB)) for d in same_tree(fresh / slug, WEB / slug)]
        return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.build_web", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report differences, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        diffs = check()
        for d in diffs:
            print(f"out of date: {d}", file=sys.stderr)
        return 1 if diffs else 0
    build_all(WEB)
    print(f"Built {len(site_slugs())} sites into {WEB}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
