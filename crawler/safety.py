"""Network safety: never let crawled content steer the crawler into private networks.

Checked for every request, including robots.txt, sitemap and redirect
targets (each redirect is a new request through this middleware), after DNS
resolution of the host name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IResolverSimple
from zope.interface import implementer

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from twisted.internet.base import ReactorBase
    from twisted.internet.defer import Deferred

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
    return tuple(sorted({str(info[4][0]) for info in infos}))


def parse_networks(values: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """'127.0.0.21', '127.0.0.100/30', '::1' -> networks; raises ValueError on anything else (host names too:
    a name could be pointed anywhere, so only addresses can be allowed)."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v and v.strip())


def check_url(url: str, allow_private: bool, allow_networks: tuple = ()) -> str | None:
    """Reason to refuse the URL, or None if it may be fetched.

    allow_networks: addresses that may be fetched although private (--allow-host); every other
    private, loopback, link-local or metadata address stays refused.
    """
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
        ip = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if any(ip.version == net.version and ip in net for net in allow_networks):
            continue
        why = forbidden_address(ip)
        if why:
            return (f"refused: {host} resolves to {address}, a {why} "
                    "(use --allow-host ADDRESS or --allow-private to crawl it)")
    return None


class NetworkSafetyMiddleware:
    def __init__(self, allow_private: bool, allow_networks: tuple = ()) -> None:
        self.allow_private = allow_private
        self.allow_networks = allow_networks

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler.settings.getbool("POLICYCORPUS_ALLOW_PRIVATE"),
                   parse_networks(crawler.settings.getlist("POLICYCORPUS_ALLOW_HOSTS")))

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        reason = check_url(request.url, self.allow_private, self.allow_networks)
        if reason:
            raise IgnoreRequest(reason)
        return None


def allowed_address(address: str, allow_networks: tuple = ()) -> str | None:
    """Why this resolved address must not be connected to, or None."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip.version == net.version and ip in net for net in allow_networks):
        return None
    return forbidden_address(ip)


@implementer(IResolverSimple)
class SafeResolver(CachingThreadedResolver):
    """The resolver Scrapy connects with (DNS_RESOLVER), checking the address it hands out.

    The middleware checks a URL's host before the request; this checks the address actually
    connected to, so a name that resolves to a public address for the check and to a private one
    a moment later (DNS rebinding) is still refused.
    """

    allow_private = False
    allow_networks: tuple = ()

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: ReactorBase) -> Self:
        resolver = super().from_crawler(crawler, reactor)
        resolver.allow_private = crawler.settings.getbool("POLICYCORPUS_ALLOW_PRIVATE")
        resolver.allow_networks = parse_networks(crawler.settings.getlist("POLICYCORPUS_ALLOW_HOSTS"))
        return resolver

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        d = super().getHostByName(name, timeout)
        if not self.allow_private:
            d.addCallback(self.check, name)
        return d

    def check(self, address: str, name: str) -> str:
        why = allowed_address(address, self.allow_networks)
        if why:
            reason = f"refused: {name} resolved to {address}, a {why}, when connecting"
            _REFUSED_AT_CONNECT[name.lower()] = reason
            while len(_REFUSED_AT_CONNECT) > 10_000:
                _REFUSED_AT_CONNECT.pop(next(iter(_REFUSED_AT_CONNECT)))
            raise DNSLookupError(reason)
        return address


# Twisted reports a refused resolution as "no results for hostname lookup"; the reason is kept here.
_REFUSED_AT_CONNECT: dict[str, str] = {}


def connect_refusal(host: str) -> str | None:
    """Why SafeResolver refused to connect to this host name, if it did."""
    return _REFUSED_AT_CONNECT.get(host.lower())
