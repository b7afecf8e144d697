"""Bytes -> text: BOM, HTTP charset, <meta charset>, then detection; control characters removed."""

from __future__ import annotations

import re

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def detect_encoding(body: bytes) -> str | None:
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(body[:65536]).best()
        return best.encoding if best else None
    except Exception:  # noqa: BLE001 - detection is best effort
        return None


_CONTROL_BYTES = bytes(b for b in range(32) if not 9 <= b <= 13)


def looks_binary(body: bytes) -> bool:
    """True for bytes that are clearly not text (many control bytes in the first 8 KB)."""
    sample = body[:8192]
    if not sample or sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls > len(sample) * 0.01


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Bytes -> str using BOM, the HTTP charset, <meta charset>, then detection; never raises."""
    from w3lib.encoding import html_to_unicode

    if not body.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Valid UTF-8 with non-ASCII bytes is UTF-8 whatever the server declares
        # (a wrong "charset=iso-8859-1" header is common; the reverse is vanishingly rare).
        try:
            text = body.decode("utf-8")
            if not body[:65536].isascii():
                return CONTROL.sub("", text.lstrip("\ufeff"))
        except UnicodeDecodeError:
            pass
    try:
        _, text = html_to_unicode(content_type, body, default_encoding="cp1252", auto_detect_fun=detect_encoding)
    except Exception:  # noqa: BLE001 - unknown codec names in headers etc.
        text = body.decode("utf-8", errors="replace")
    return CONTROL.sub("", text)


def decode_text(body: bytes) -> str:
    """Bytes of a text file -> str (BOM, UTF-8, detection, cp1252 as the last resort)."""
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if body.startswith(bom):
            return CONTROL.sub("", body.decode(codec, errors="replace").lstrip("\ufeff"))
    encoding = detect_encoding(body) or "cp1252"
    try:
        text = body.decode(encoding, errors="replace")
    except LookupError:
        text = body.decode("cp1252", errors="replace")
    return CONTROL.sub("", text)
