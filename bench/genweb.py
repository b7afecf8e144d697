"""A generated local web for benchmarks: N sites x M pages, each site on its own 127.0.x.y address.

Run as a separate process so the server does not compete with the crawler for
the GIL:  python bench/genweb.py --sites 200 --pages 50 --port 8700
Every site has a homepage, section pages, a policy page two clicks deep,
privacy/terms pages, robots.txt and sitemap.xml. Pages are generated
deterministically from the path, so both spiders see the same web.
"""

from __future__ import annotations

import argparse
import random
import sys

from twisted.web import resource, server

WORDS = ("market customers service quality team product annual report growth community people careers "
         "investor news update region office branch support delivery partner program value strategy").split()
POLICY = (
    "<h1>Social media policy</h1><p>This policy applies to all employees and contractors who use social media.</p>"
    "<h2>Speaking for the company</h2><p>Only the communications team may speak on behalf of the company.</p>"
    "<ul><li>You must not disclose confidential information.</li><li>You must not post customer data.</li>"
    "<li>Identify yourself as an employee when you discuss our products.</li></ul>"
    "<h2>Conduct</h2><p>Be respectful. Harassment and discrimination are not tolerated online.</p>"
    "<p>Violations of this social media policy may lead to disciplinary action up to termination.</p>"
    "<p>Questions about social media use go to the communications team.</p>"
)


def site_address(index: int) -> str:
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


def page_paths(pages: int) -> list[str]:
    paths = ["/", "/about/", "/about/policies/", "/about/policies/social-media-policy.html", "/privacy.html",
             "/terms.html"]
    section = 0
    while len(paths) < pages:
        paths.append(f"/section/{section // 10}/page-{section}.html")
        section += 1
    return paths[:pages]


def render(path: str, paths: list[str], site: int) -> bytes:
    rng = random.Random(f"{site}:{path}")
    if path.endswith("social-media-policy.html"):
        main = POLICY
    else:
        main = "".join(f"<p>{' '.join(rng.choice(WORDS) for _ in range(60))}.</p>" for _ in range(6))
    index = paths.index(path) if path in paths else 0
    links = [paths[(index + k) % len(paths)] for k in (1, 2, 3, 7, 11)]
    if path == "/":
        links = paths[1:3] + [p for p in paths if p.startswith("/section/") and p.endswith("0.html")]
    nav = "".join(f'<a href="{link}">{link.strip("/").replace("/", " ") or "home"}</a> ' for link in links)
    footer = '<footer><a href="/privacy.html">Privacy</a> <a href="/terms.html">Terms</a> Follow us on social media</footer>'
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Site {site} {path}</title></head>"
            f"<body><nav>{nav}</nav><main>{main}</main>{footer}</body></html>").encode()


class Site(resource.Resource):
    isLeaf = True

    def __init__(self, index: int, pages: int):
        super().__init__()
        self.index = index
        self.paths = page_paths(pages)
        self.path_set = set(self.paths)

    def render_GET(self, request):
        path = request.path.decode()
        if path == "/robots.txt":
            request.setHeader(b"content-type", b"text/plain")
            return b"User-agent: *\nDisallow: /private/\n"
        if path == "/sitemap.xml":
            request.setResponseCode(404)
            return b"not found"
        if path not in self.path_set:
            request.setResponseCode(404)
            return b"not found"
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return render(path, self.paths, self.index)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--port", type=int, default=8700)
    args = parser.parse_args(argv)
    from twisted.internet import reactor  # installed only in the server process

    for index in range(args.sites):
        factory = server.Site(Site(index, args.pages))
        factory.log = lambda request: None  # no access log
        reactor.listenTCP(args.port, factory, interface=site_address(index))
    print("ready", flush=True)
    sys.stdout.flush()
    reactor.run()


if __name__ == "__main__":
    main()
