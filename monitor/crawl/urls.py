"""URL canonicalization, same-site test and include/exclude filters.

The canonical URL is the article key (``store.seen``), so two spellings of one article must map to one
string, and the mapping must never merge two different articles. When in doubt we keep the URL as is:
a missed duplicate costs one extra fetch, a false merge loses an article.

What :func:`canonicalize` does, in order:

* strips surrounding whitespace and removes tabs/newlines inside (browsers do the same);
* resolves a relative URL against ``base``; without a base, a relative URL gives ``None``;
* accepts only ``http`` and ``https`` (anything else gives ``None``);
* lower-cases scheme and host, drops a trailing dot on the host, IDNA-encodes non-ASCII hosts,
  drops userinfo and the default port (80 for http, 443 for https);
* unwraps Google AMP cache / viewer URLs (``*.cdn.ampproject.org/c/s/host/path``,
  ``www.google.com/amp/s/host/path``) to the publisher URL;
* removes dot segments, normalizes percent-encoding (upper-case hex, unreserved characters decoded,
  unsafe characters and non-ASCII encoded as UTF-8) in path and query;
* AMP variants, where the plain URL is unambiguous: a path segment ``amp`` as the first or last
  segment (``/amp/world/x``, ``/world/x/amp``), a last segment ending in ``.amp``
  (``/news/world-123.amp``), ``.amp.html`` -> ``.html``, and the query parameters ``amp``,
  ``amp=1|true``, ``outputType=amp``, ``_amp=true``. We do NOT rewrite ``amp.`` hosts
  (``amp.example.com`` may map to ``www.`` or to the bare domain; we cannot know which);
* removes a trailing slash except on the root: ``/a/`` and ``/a`` are taken to be the same article
  (true on every news CMS we know; servers answer one of them with a redirect to the other);
* drops tracking query parameters (:data:`TRACKING_PARAMS`, :data:`TRACKING_PREFIXES`,
  case-insensitive) and empty ``&&`` pairs, then sorts the remaining parameters by name. The sort is
  stable, so repeated names keep their relative order (``?id=2&id=1`` is not ``?id=1&id=2``);
* drops the fragment (also ``#!`` "hashbang" fragments; AJAX crawling is long dead).

Deliberately NOT done: collapsing ``//`` in paths (some servers route on it, and embedded URLs like
``/proxy/http://x`` would break), removing ``index.html``/``index.php`` (on some sites ``/dir/`` and
``/dir/index.html`` are different resources), lower-casing paths, ``+`` <-> ``%20`` (the two are only
equal in form-encoded queries), ``http`` <-> ``https`` merging (a site may serve different things).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache, lru_cache
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from publicsuffixlist import PublicSuffixList

__all__ = [
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "canonicalize",
    "compile_filter",
    "matches_filters",
    "registrable_domain",
    "same_site",
]

# Exact query parameter names (compared lower-cased) that only identify a campaign or click.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        # Google / Microsoft / Meta / other ad clicks
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "fbclid",
        "igshid",
        "twclid",
        "ttclid",
        "yclid",
        "li_fat_id",
        "_ga",
        "_gl",
        # Mailchimp, HubSpot, Marketo
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        # Twitter/X embeds
        "ref_src",
        "ref_url",
        # publishers' campaign ids (CNN/MSN "cmpid"/"ocid", Guardian "CMP", NYT "smid"/"smtyp")
        "cmpid",
        "ocid",
        "cmp",
        "smid",
        "smtyp",
        "hpt",  # CNN "homepage tracking" (hpt=hp_t2): one article, many slots
        # AT Internet (BBC and others)
        "at_medium",
        "at_campaign",
        "at_campaign_type",
        "at_creation",
        "at_format",
        "at_link",
        "at_link_id",
        "at_link_origin",
        "at_link_type",
        "at_ptr_name",
        "at_custom1",
        "at_custom2",
        "at_custom3",
        "at_custom4",
        "at_bbc_team",
        # comScore / Webtrends
        "ns_mchannel",
        "ns_source",
        "ns_campaign",
        "ns_linkname",
        "ns_fee",
        "wt.mc_id",
        "wt.mc_ev",
    }
)
TRACKING_PREFIXES: tuple[str, ...] = ("utm_",)

# Query parameters that only select the AMP rendering of the same article.
_AMP_PARAMS: frozenset[tuple[str, str]] = frozenset(
    {("amp", ""), ("amp", "1"), ("amp", "true"), ("outputtype", "amp"), ("_amp", "true"), ("_amp", "1")}
)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters left literal in paths and in query components (RFC 3986 pchar / query, minus '%').
_PATH_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:@/")
_QUERY_SAFE = _UNRESERVED | frozenset("!$'()*+,;:@/?")  # '=' and '&' are structure, handled apart
_HEX = frozenset("0123456789abcdefABCDEF")
_MAX_URL = 8192  # longer "URLs" are junk or attacks; no store should key on them
_AMP_CACHE = re.compile(r"^/(?:c|v)/(s/)?([^/]+)(/.*)?$")
_GOOGLE_AMP = re.compile(r"^/amp/(s/)?([^/]+)(/.*)?$")


_MAX_REWRITES = 4  # real URLs settle after one pass; the bound only stops a pathological one


def canonicalize(url: str, base: str | None = None) -> str | None:
    """The canonical form of ``url`` (resolved against ``base``), or ``None`` if it is not http(s).

    Idempotent: one rewrite can expose another (``/amp/amp``, or an empty port and a ``//`` path that
    parse differently once normalized, found by tests/test_fuzz.py), so it runs to a fixed point.
    """
    canonical = _canonicalize_once(url, base)
    if canonical == url:  # already canonical (most feed and sitemap links): a fixed point, no re-check
        return canonical
    for _ in range(_MAX_REWRITES):
        if canonical is None:
            return None
        again = _canonicalize_once(canonical)
        if again == canonical:
            return canonical
        canonical = again
    return canonical


def _canonicalize_once(url: object, base: str | None = None) -> str | None:
    if not isinstance(url, str):
        return None
    url = url.strip(" \t\r\n\f\v\x00")
    url = url.replace("\t", "").replace("\n", "").replace("\r", "")
    if not url or len(url) > _MAX_URL:
        return None
    try:
        if base:
            url = urljoin(base.strip(), url)
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            return None
        host = _normalize_host(parts.hostname)
        port = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        return None
    if host is None:
        return None

    path, query = parts.path, parts.query
    unwrapped = _unwrap_amp_cache(host, path, query)
    if unwrapped is not None:
        return _canonicalize_once(unwrapped)

    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _normalize_path(path)
    query = _normalize_query(query)
    canonical = urlunsplit((scheme, netloc, path, query, ""))
    # Percent-encoding can triple a URL's length: the limit applies to the result too, or a canonical
    # URL would not survive its own canonicalization (found by tests/test_fuzz.py).
    return canonical if len(canonical) <= _MAX_URL else None


def _normalize_host(hostname: str | None) -> str | None:
    if not hostname:
        return None
    host = hostname.rstrip(".")  # urlsplit already lower-cased it
    if not host:
        return None
    if ":" in host:  # IPv6 literal; urlsplit removed the brackets
        return f"[{host}]"
    if host.isascii():
        if any(c in host for c in ' <>"{}|\\^`%'):
            return None
        return host
    try:
        import idna  # UTS #46 / IDNA 2008, as browsers do; ships with aiohttp (yarl)

        return idna.encode(host, uts46=True).decode("ascii")
    except ImportError:
        pass
    except Exception:
        return None
    try:
        return host.encode("idna").decode("ascii")  # stdlib IDNA 2003 as a fallback
    except UnicodeError:
        return None


def _unwrap_amp_cache(host: str, path: str, query: str) -> str | None:
    """The publisher URL behind a Google AMP cache or viewer URL, if this is one."""
    if host.endswith(".cdn.ampproject.org"):
        m = _AMP_CACHE.match(path)
    elif host in ("www.google.com", "google.com"):
        m = _GOOGLE_AMP.match(path)
    else:
        return None
    if m is None:
        return None
    scheme = "https" if m.group(1) else "http"
    rest = m.group(3) or "/"
    return f"{scheme}://{m.group(2)}{rest}" + (f"?{query}" if query else "")


def _pct_normalize(text: str, safe: frozenset[str]) -> str:
    """Upper-case escapes, decode escaped unreserved characters, escape everything unsafe."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "%" and i + 2 < n and text[i + 1] in _HEX and text[i + 2] in _HEX:
            ch = chr(int(text[i + 1 : i + 3], 16))
            out.append(ch if ch in _UNRESERVED else "%" + text[i + 1 : i + 3].upper())
            i += 3
            continue
        if c in safe:
            out.append(c)
        else:
            out.extend(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    if "." not in path:
        return path
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        if seg == ".":
            if i == len(segments) - 1:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if i == len(segments) - 1:
                out.append("")
        else:
            out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


def _normalize_path(path: str) -> str:
    path = _pct_normalize(path, _PATH_SAFE) or "/"
    if not path.startswith("/"):
        path = "/" + path
    path = _remove_dot_segments(path)
    path = _strip_amp_path(path)
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path


def _strip_amp_path(path: str) -> str:
    if "amp" not in path:
        return path
    segments = path.strip("/").split("/")
    # A lone "/amp" may be a real page (about amplifiers, say): only drop the segment when the
    # article path remains.
    if len(segments) >= 2 and segments[0] == "amp":
        segments = segments[1:]
    elif len(segments) >= 2 and segments[-1] == "amp":
        segments = segments[:-1]
    last = segments[-1]
    if last.endswith(".amp.html"):
        segments[-1] = last[: -len(".amp.html")] + ".html"
    elif last.endswith(".amp") and len(last) > 4:
        segments[-1] = last[: -len(".amp")]
    return "/" + "/".join(segments)


def _is_tracking(name: str) -> bool:
    key = name.lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def _normalize_query(query: str) -> str:
    if not query:
        return ""
    pairs: list[tuple[str, str | None]] = []
    for item in query.split("&"):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = _pct_normalize(name, _QUERY_SAFE)
        value_n = _pct_normalize(value, _QUERY_SAFE | {"="}) if sep else None
        lname = _decoded_lower(name)
        if _is_tracking(lname) or (lname, (value_n or "").lower()) in _AMP_PARAMS:
            continue
        pairs.append((name, value_n))
    pairs.sort(key=lambda p: p[0])
    return "&".join(name if value is None else f"{name}={value}" for name, value in pairs)


def _decoded_lower(name: str) -> str:
    return unquote(name).lower() if "%" in name else name.lower()


# --- same site ------------------------------------------------------------------------------------


@cache
def _public_suffixes() -> PublicSuffixList:
    # The snapshot bundled with the package, never a download: a release of publicsuffixlist is the
    # update. Built on first use, not at import: building it takes noticeable time and most commands never
    # ask.
    return PublicSuffixList()


def _host_of(url: str) -> str | None:
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return _normalize_host(host) if host else None


def registrable_domain(host: str) -> str:
    """The eTLD+1 of ``host`` by the Public Suffix List (ICANN and private sections):
    ``edition.cnn.com`` -> ``cnn.com``, ``news.bbc.co.uk`` -> ``bbc.co.uk``, ``news.kyiv.ua`` -> itself,
    ``alice.wixsite.com`` -> itself. IP literals, single labels and bare suffixes are returned as is.
    """
    host = host.lower().rstrip(".")
    if host.startswith("[") or re.fullmatch(r"[\d.]+", host):
        return host
    return _public_suffixes().privatesuffix(host) or host


def same_site(url: str, site_url: str) -> bool:
    """Whether ``url`` belongs to the same site as ``site_url``.

    Same site means the same registrable domain (see :func:`registrable_domain`), so ``www.``, the
    site's own subdomains and its sibling subdomains (``money.cnn.com`` for ``edition.cnn.com``) all
    count, while two customers of one platform (``evil.wixsite.com``, ``news.wixsite.com``) do not.
    Scheme and port are ignored.
    """
    a, b = _host_of(url), _host_of(site_url)
    if not a or not b:
        return False
    if a == b:
        return True
    return registrable_domain(a) == registrable_domain(b)


# --- include / exclude ----------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def compile_filter(pattern: str) -> re.Pattern[str] | str:
    """A filter as used by :func:`matches_filters`: ``re:<regex>`` compiles (raises ``ValueError`` on a
    bad regex, so config validation can call this), anything else is a lower-cased substring."""
    if pattern.startswith("re:"):
        try:
            return re.compile(pattern[3:])
        except re.error as exc:
            raise ValueError(f"bad regular expression {pattern[3:]!r}: {exc}") from exc
    return pattern.lower()


def _hit(pattern: str, target: str, target_lower: str) -> bool:
    compiled = compile_filter(pattern)
    if isinstance(compiled, str):
        return compiled in target_lower
    return compiled.search(target) is not None


def matches_filters(url: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Whether ``url`` passes the source's include/exclude filters.

    Filters apply to the path plus query (``/world/2024/story?id=3``), not to scheme or host.
    A plain filter is a case-insensitive substring; ``re:<regex>`` is a case-sensitive
    ``re.search`` (use ``(?i)`` for the other). No include filters means include everything;
    exclude wins over include.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lower = target.lower()
    if include and not any(_hit(p, target, lower) for p in include):
        return False
    return not any(_hit(p, target, lower) for p in exclude)
