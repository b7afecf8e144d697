"""How a request ended, in the words of crawl_log: (outcome, HTTP status, reason).

Shared by the spider's errback, the crawl-log extension and the robots.txt middlewares,
so each maps failures the same way (and none has to import another).
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from twisted.python.failure import Failure

from crawler.safety import ALLOWED_SCHEMES

REDIRECT_STATUSES = {301, 302, 303, 307, 308}


def outcome_of(response: Response) -> str:
    if unfollowed_redirect(response) or rendered_away(response):
        return "refused"
    return "ok" if response.status < 400 else "http_error"


def unfollowed_redirect(response: Response) -> str | None:
    """Why a redirect response reached the spider instead of being followed (a scheme other than
    http or https, e.g. file://, which Scrapy's RedirectMiddleware leaves alone), or None."""
    location = response.headers.get(b"Location")
    if response.status not in REDIRECT_STATUSES or not location:
        return None
    target = urljoin(response.url, location.decode("latin-1").strip())
    scheme = urlsplit(target).scheme.lower()
    if scheme in ALLOWED_SCHEMES:
        return None
    return f"refused: redirect to {target[:200]}: scheme {scheme!r} is not http or https; not followed"


def rendered_away(response: Response) -> str | None:
    """Why a rendered page is no page: its scripts navigated to an address the guard refused (the browser
    shows its error page instead), or None."""
    if not response.meta.get("rendered") or response.url.startswith(("http://", "https://")):
        return None
    return ("refused: while rendering, the page's scripts navigated to an address the network guard refused; "
            f"the browser ended on {response.url[:100]}; not judged")


def reason_of(response: Response, request: Request) -> str:
    refused = unfollowed_redirect(response) or rendered_away(response)
    if refused:
        return refused
    if response.url.endswith("/robots.txt"):
        return "robots.txt"
    if response.status < 400:
        return ""
    reason = f"HTTP {response.status}"
    retries = request.meta.get("retry_times")
    if retries:
        reason += f" after {retries} retr{'y' if retries == 1 else 'ies'}"
    retry_after = response.headers.get(b"Retry-After")
    if retry_after:
        reason += f" (server asked to retry after {retry_after.decode('latin-1')[:40]})"
    return reason


def describe_failure(failure: Failure, max_size: int | None = None) -> tuple[str, int | None, str]:
    """Map a download failure to (outcome, HTTP status, reason) for crawl_log."""
    from scrapy import exceptions as scrapy_exc
    from scrapy.spidermiddlewares.httperror import HttpError
    from twisted.internet.error import ConnectionRefusedError, DNSLookupError, TCPTimedOutError, TimeoutError

    exc = failure.value
    if isinstance(exc, HttpError):
        return "http_error", exc.response.status, f"HTTP {exc.response.status}"
    if isinstance(exc, IgnoreRequest):
        text = str(exc) or type(exc).__name__
        if "robots" in text.lower():
            return "robots", None, text
        if "max redirections" in text:
            return "redirect_loop", None, f"{text} (more than REDIRECT_MAX_TIMES redirects)"
        if text.startswith("refused"):
            return "refused", None, text
        if "maxsize" in text.lower() or "max size" in text.lower() or "too large" in text.lower():
            return "too_large", None, text
        return "ignored", None, text
    timeouts = (TimeoutError, TCPTimedOutError, getattr(scrapy_exc, "DownloadTimeoutError", TimeoutError))
    if isinstance(exc, timeouts):
        return "timeout", None, str(exc) or "timed out"
    if isinstance(exc, DNSLookupError):
        if "refused:" in str(exc):  # crawler.safety.SafeResolver: private address at connection time
            return "refused", None, str(exc)[str(exc).index("refused:"):]
        return "dns_error", None, str(exc)
    if isinstance(exc, (ConnectionRefusedError, getattr(scrapy_exc, "DownloadConnectionRefusedError", ConnectionRefusedError))):
        return "connection_refused", None, str(exc) or "connection refused"
    text = f"{type(exc).__name__}: {exc}"
    if "maxsize" in text.lower() or "max size" in text.lower() or "cancelled" in text.lower():
        # Scrapy cancels a body over DOWNLOAD_MAXSIZE (announced or while receiving) without a message
        limit = f" of {max_size} bytes" if max_size else ""
        return "too_large", None, f"{text.rstrip(': ')}: response body over the max size{limit} (DOWNLOAD_MAXSIZE)"
    return "error", None, text[:500]
