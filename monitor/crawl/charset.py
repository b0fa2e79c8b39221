"""Bytes of a web page -> text, the way browsers decide: BOM, HTTP charset, UTF-8, ``<meta>``, detection.

Listing pages, article pages and discovery all read HTML whose encoding is declared loosely or not at
all; they decode it here so every reader sees the same text.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["decode_html"]


_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Pages and servers name legacy encodings loosely; browsers (WHATWG) decode them as the superset.
_SUPERSETS = {
    "ascii": "cp1252",
    "latin_1": "cp1252",
    "iso8859_1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso8859_9": "cp1254",
    "tis_620": "cp874",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
}
# Encodings in which every byte string decodes: "decodes without error" proves nothing for them.
_PERMISSIVE = frozenset({"cp1252", "cp1254", "latin_1", "iso8859_15", "cp874"})
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_SNIFF_BYTES = 4096
_CLOSE_CHAOS = 0.12  # charset-normalizer "mess" scores this close to the best are as good a reading


def _codec(label: str | None) -> str | None:
    """Python codec name for a charset label, widened to the superset browsers use; None if unknown."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'").lower()).name
    except LookupError:
        return None
    return _SUPERSETS.get(name.replace("-", "_"), name)


def _try_decode(body: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _detected(body: bytes) -> str | None:
    """The page decoded in the charset charset-normalizer finds likeliest, or None when it finds none.

    Short Western text is ambiguous between the Latin code pages (cp1250/cp1257 read "déjà" as well as
    cp1252 does, the detector cannot tell): among guesses as clean as the best, cp1252 wins, as it is
    what browsers assume for an undeclared page. Cyrillic, CJK or Greek bytes read as cp1252 are far
    messier, so there it never comes close.
    """
    from charset_normalizer import from_bytes  # deferred: only undeclared non-UTF-8 pages need it

    results = list(from_bytes(body))
    if not results:
        return None
    best = results[0]
    western = next(
        (r for r in results if r.chaos <= best.chaos + _CLOSE_CHAOS and "cp1252" in r.could_be_from_charset),
        None,
    )
    return _try_decode(body, "cp1252" if western is not None else _codec(best.encoding))


def decode_html(body: bytes, http_charset: str | None) -> str:
    """Bytes -> text: BOM, HTTP charset, strict UTF-8, the page's ``<meta>`` charset, detection, cp1252.

    A BOM is checked first because it cannot occur by accident (WHATWG sniffing puts it first too).
    The meta charset comes after UTF-8 because real pages declare gb2312 or iso-8859-15 and are UTF-8.
    A page that declares nothing and is not UTF-8 is detected (windows-1251, KOI8-R, GB2312, ...).
    A permissive single-byte HTTP charset (latin-1 and kin) yields to valid non-ASCII UTF-8, since
    every byte string "decodes" in it and misconfigured servers label UTF-8 pages that way.
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            text = _try_decode(body, codec)
            if text is not None:
                return text
            break
    http_codec = _codec(http_charset)
    utf8 = None
    if http_codec is not None and http_codec in _PERMISSIVE and not body.isascii():
        utf8 = _try_decode(body, "utf-8")
        if utf8 is not None:
            return utf8
    text = _try_decode(body, http_codec)
    if text is not None:
        return text
    text = utf8 or _try_decode(body, "utf-8")
    if text is not None:
        return text
    match = _META_CHARSET.search(body, 0, _SNIFF_BYTES)
    if match:
        text = _try_decode(body, _codec(match.group(1).decode("ascii")))
        if text is not None:
            return text
    return _detected(body) or body.decode("cp1252", errors="replace")
