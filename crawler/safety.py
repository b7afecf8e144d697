"""Network safety: never let crawled content steer the crawler into private networks.

Checked for every request, including robots.txt, sitemap and redirect
targets (each redirect is a new request through this middleware), after DNS
resolution of the host name.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest

ALLOWED_SCHEMES = ("http", "https")
METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                      ipaddress.ip_address("100.100.100.200")}


def forbidden_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address must not be crawled, or None if it is public."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "cloud metadata address"
    for attr, label in (("is_loopback", "loopback"), ("is_link_local", "link-local"), ("is_private", "private"),
                        ("is_multicast", "multicast"), ("is_unspecified", "unspecified"),
                        ("is_reserved", "reserved")):
        if getattr(ip, attr):
            return f"{label} address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"):
        return "shared address space"
    return None


@lru_cache(maxsize=4096)
def resolve(host: str) -> tuple[str, ...]:
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return tuple(sorted({info[4][0] for info in infos}))


def check_url(url: str, allow_private: bool) -> str | None:
    """Reason to refuse the URL, or None if it may be fetched."""
    parts = urlsplit(url)
    if parts.scheme not in ALLOWED_SCHEMES:
        return f"refused: scheme {parts.scheme!r} is not http or https"
    host = (parts.hostname or "").strip("[]")
    if not host:
        return "refused: URL has no host"
    if allow_private:
        return None
    try:
        addresses = resolve(host)
    except (OSError, UnicodeError) as exc:
        return f"refused: cannot resolve {host}: {exc}"
    for address in addresses:
        why = forbidden_address(ipaddress.ip_address(address.split("%")[0]))
        if why:
            return f"refused: {host} resolves to {address}, a {why} (use --allow-private to crawl it)"
    return None


class NetworkSafetyMiddleware:
    def __init__(self, allow_private: bool):
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getbool("POLICYCORPUS_ALLOW_PRIVATE"))

    def process_request(self, request, spider=None):
        reason = check_url(request.url, self.allow_private)
        if reason:
            raise IgnoreRequest(reason)
        return None
