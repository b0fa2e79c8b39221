"""HTML page -> :class:`Article`: decode, parse once, read metadata, find the main text.

The hot path is selectolax (lexbor): one tree per page serves metadata and a densest-paragraph-cluster
body heuristic (~1-2 ms/page). trafilatura (~25 ms/page) runs only when the heuristic's result looks
too thin to trust. ``benchmarks/extraction.py`` measures both against the shared corpus.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from html import unescape
from typing import Any
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.crawl.urls import same_site
from monitor.dates import parse_date
from monitor.errors import ParseError
from monitor.html_guard import check_nesting
from monitor.model import Article, Candidate, Fetched

__all__ = ["decode_html", "extract"]

# --------------------------------------------------------------------------- decoding

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


# --------------------------------------------------------------------------- small text helpers

# C0 controls other than tab, LF, FF, CR, plus U+FFFD (what undecodable bytes became).
_BINARY_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\ufffd]")


def _clean(text: str | None) -> str:
    """Collapse all whitespace (incl. NBSP and newlines from source formatting) to single spaces."""
    # str.split() splits on exactly the characters re's Unicode \s matches (both use str.isspace), and is
    # ~3x faster than a regex substitution plus strip on the hot path.
    return " ".join(text.split()) if text else ""


def _looks_binary(text: str) -> bool:
    """NUL bytes or a high share of control/replacement characters: not an HTML page."""
    head = text[:2048]
    if "\x00" in head:
        return True
    return len(_BINARY_CHARS.findall(head)) > len(head) // 10


# --------------------------------------------------------------------------- metadata

_ARTICLE_TYPES = frozenset(
    {
        "article",
        "newsarticle",
        "reportagenewsarticle",
        "analysisnewsarticle",
        "opinionnewsarticle",
        "backgroundnewsarticle",
        "blogposting",
        "liveblogposting",
        "socialmediaposting",
        "webpage",
        "report",
    }
)
_DATE_META = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "og:published_time",
    "published_time",
    "article.published",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dc.date",
    "dcterms.issued",
    "dcterms.created",
    "date",
)
_MODIFIED_META = "article:modified_time"  # better than nothing: modified is rarely far from published
_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—·:»/]\s+|\s+::\s+|\s*[｜：]\s*")


def _meta_map(tree: LexborHTMLParser) -> dict[str, str]:
    """First non-empty content per lower-cased ``property`` / ``name`` / ``itemprop`` / ``http-equiv``."""
    out: dict[str, str] = {}
    for node in tree.css("meta"):
        attrs = node.attributes
        content = attrs.get("content")
        if not content:
            continue
        for key in ("property", "name", "itemprop", "http-equiv"):
            name = attrs.get(key)
            if name:
                out.setdefault(name.strip().lower(), content.strip())
    return out


def _walk_ld(data: Any) -> Iterator[dict[str, Any]]:
    """Every JSON-LD object, descending into lists and ``@graph``."""
    if isinstance(data, list):
        for item in data:
            yield from _walk_ld(item)
    elif isinstance(data, dict):
        yield data
        graph = data.get("@graph")
        if graph is not None:
            yield from _walk_ld(graph)


def _ld_types(obj: dict[str, Any]) -> set[str]:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.lower() for k in kinds if isinstance(k, str)}


def _json_ld_article(tree: LexborHTMLParser) -> dict[str, Any]:
    """The most article-like JSON-LD object (news types beat WebPage); {} when none."""
    best: dict[str, Any] = {}
    best_rank = 0
    for script in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(script.text(deep=True) or "null")
        except ValueError:  # broken JSON-LD is common; the other sources still apply
            continue
        for obj in _walk_ld(data):
            kinds = _ld_types(obj)
            if not kinds & _ARTICLE_TYPES:
                continue
            rank = 1 if kinds <= {"webpage", "report"} else 2
            if rank > best_rank:
                best, best_rank = obj, rank
    return best


def _ld_str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if isinstance(value, list) and value:
        value = value[0]
    # JSON-LD is often filled from escaped HTML: "&#8216;" must read as a quote.
    return _clean(unescape(value)) if isinstance(value, str) else ""


def _strip_site(title: str, site: str, *, aggressive: bool) -> str:
    """Drop a " | Site" suffix (or "Site | " prefix) from a title.

    A segment equal to og:site_name always goes. With ``aggressive`` (for ``<title>``, which nearly
    always carries the site name) a last segment at most half as long as the rest goes too.
    """
    seps = list(_TITLE_SEPARATORS.finditer(title))
    if not seps:
        return title
    first, last = seps[0], seps[-1]
    head, tail = title[: last.start()].strip(), title[last.end() :].strip()
    site_l = site.strip().lower()
    if site_l and tail.lower() == site_l:
        return head
    if site_l and title[: first.start()].strip().lower() == site_l:
        return title[first.end() :].strip()
    if aggressive and head and len(tail) * 2 <= len(head):
        return head
    return title


def _h1(tree: LexborHTMLParser) -> str:
    """The page's single headline; several ``<h1>`` usually mean logos or teasers, so none is trusted."""
    found = tree.css("h1")
    texts = [t for t in (_clean(h.text(deep=True, separator="")) for h in found) if t]
    return texts[0] if len(texts) == 1 else ""


def _title(tree: LexborHTMLParser, meta: dict[str, str], ld: dict[str, Any], hint: Candidate | None) -> str:
    # Measured on the fundus corpus: JSON-LD headline and the lone <h1> are the visible headline;
    # og:/twitter: titles are often rewritten for social media (and carry the site name).
    site = meta.get("og:site_name", "")
    title = _strip_site(_ld_str(ld, "headline"), site, aggressive=False) or _h1(tree)
    if title:
        return title
    for raw in (meta.get("og:title"), meta.get("twitter:title")):
        title = _clean(raw)
        if title:
            return _strip_site(title, site, aggressive=False)
    node = tree.css_first("title")
    title = _clean(node.text(deep=True)) if node is not None else ""
    if title:
        return _strip_site(title, site, aggressive=True)
    return _clean(hint.title) if hint is not None and hint.title else ""


def _published(
    tree: LexborHTMLParser, meta: dict[str, str], ld: dict[str, Any], hint: Candidate | None
) -> datetime | None:
    candidates: list[str | None] = [_ld_str(ld, "datePublished")]
    candidates += [meta.get(key) for key in _DATE_META]
    node = tree.css_first('[itemprop="datePublished"]')
    if node is not None:
        candidates.append(node.attributes.get("datetime") or node.attributes.get("content"))
    node = tree.css_first("time[datetime]")
    if node is not None:
        candidates.append(node.attributes.get("datetime"))
    candidates += [_ld_str(ld, "dateCreated"), meta.get(_MODIFIED_META), _ld_str(ld, "dateModified")]
    for value in candidates:
        parsed = parse_date(value)
        if parsed is not None:
            return parsed
    return hint.published if hint is not None else None


def _http_url(value: str | None, base: str) -> str | None:
    if not value or not value.strip():
        return None
    url = urljoin(base, value.strip())
    return url if urlsplit(url).scheme in ("http", "https") else None


def _canonical(tree: LexborHTMLParser, meta: dict[str, str], page_url: str) -> str:
    """The page's canonical URL, trusted only within the page's own registrable domain: any page can
    name any URL, and the canonical becomes the alert's link and the seen-key that suppresses the
    real article. Syndicated copies on other sites are joined by their story fingerprint instead."""
    link = tree.css_first('link[rel="canonical"]')
    for claimed in (link.attributes.get("href") if link is not None else None, meta.get("og:url")):
        url = _http_url(claimed, page_url)
        if url is not None and same_site(url, page_url):
            return url
    return page_url


def _language(tree: LexborHTMLParser, meta: dict[str, str]) -> str | None:
    root = tree.css_first("html")
    lang = _clean(root.attributes.get("lang") or root.attributes.get("xml:lang")) if root else ""
    lang = lang or _clean(meta.get("content-language", "").split(",")[0])
    return lang or None


# --------------------------------------------------------------------------- main text

# Never visible or never article text. Dropped before the body heuristic runs.
_BOILERPLATE = (
    "script, style, noscript, template, svg, iframe, object, canvas, nav, footer, aside, form, button,"
    " select, figure, figcaption, [hidden], [aria-hidden=true], [role=navigation], [role=complementary],"
    " #comments, .comments, .comment-list, .commentlist"
)
_BLOCKS = "p, h2, h3, h4, h5, h6, li, blockquote, pre"
_NESTED_BLOCK = "p, li, blockquote, pre"
# Inside the chosen container: image captions and credits, related/teaser rails, newsletter boxes,
# blocked-embed and consent placeholders, comment widgets, author bios, elements hidden by class.
# Matched on class substrings because every CMS spells them its own way.
_CLUTTER_CLASSES = (
    "caption",
    "related",
    "newsletter",
    "author-bio",
    "trending",
    "recommend",
    "placeholder",
    "consent",
    "comment",
    "modal",
)
_IN_ARTICLE_CLUTTER = ", ".join(f'[class*="{word}"]' for word in _CLUTTER_CLASSES) + ", [class~=hidden]"
_MIN_BODY_CHARS = 600  # below this the heuristic probably missed the article: ask trafilatura
_MIN_BLOCK_CHARS = 30  # a <p> shorter than this does not vote for its container
_MAX_CLIMB = 4
_CLIMB_RATIO = 1.5


def _text(node: LexborNode) -> str:
    # separator="" keeps "<b>North Korean</b> troops" one phrase; source newlines become spaces.
    return _clean(node.text(deep=True, separator=""))


def _link_chars(node: LexborNode) -> int:
    return sum(len(_text(a)) for a in node.css("a"))


def _element_children(node: LexborNode) -> int:
    return sum(1 for _ in node.iter(include_text=False))


def _effective_parent(node: LexborNode) -> LexborNode | None:
    """The parent, skipping wrappers that hold nothing but this one element.

    Many sites wrap every paragraph in its own ``<div><div>``; without this the paragraphs of one
    article would vote for as many different parents.
    """
    parent = node.parent
    while parent is not None and parent.parent is not None and _element_children(parent) == 1:
        parent = parent.parent
    return parent


@dataclass(slots=True)
class _Vote:
    length: int
    signature: tuple[str, str]  # (tag, class) of the paragraph's effective parent
    chain: list[int]  # mem_ids from the effective parent up to the root


def _signature(node: LexborNode) -> tuple[str, str]:
    return node.tag or "", node.attributes.get("class") or ""


def _paragraph_votes(root: LexborNode, nodes: dict[int, LexborNode]) -> list[_Vote]:
    """One vote per substantial, non-link paragraph; fills ``nodes`` with every ancestor seen."""
    votes: list[_Vote] = []
    for p in root.css("p"):
        length = len(_text(p))
        if length < _MIN_BLOCK_CHARS or _link_chars(p) * 2 > length:
            continue
        parent = _effective_parent(p)
        if parent is None:
            continue
        chain: list[int] = []
        node: LexborNode | None = parent
        while node is not None:
            if node.tag == "a":  # teaser cards: the whole paragraph is a link
                break
            key = node.mem_id
            nodes.setdefault(key, node)
            chain.append(key)
            node = node.parent
        else:
            votes.append(_Vote(length, _signature(parent), chain))
    return votes


def _best_container(root: LexborNode) -> LexborNode | None:
    """The element whose paragraphs hold the most text, widened when an article is split in parts.

    Readability-style votes pick the block (parent full weight, grandparent half). Live blogs and
    ad-interrupted stories spread paragraphs over sibling blocks built alike, so we climb to an
    ancestor while paragraphs in blocks of the same (tag, class) add clearly more text; paragraphs of
    differently built blocks (teasers, comments) do not count for the climb.
    """
    nodes: dict[int, LexborNode] = {}
    votes = _paragraph_votes(root, nodes)
    if not votes:
        return None
    score: dict[int, float] = {}
    for vote in votes:
        for key, weight in zip(vote.chain, (1.0, 0.5), strict=False):
            score[key] = score.get(key, 0.0) + vote.length * weight
    best = max(score, key=score.__getitem__)
    signature = _signature(nodes[best])
    like: dict[int, int] = {}
    for vote in votes:
        if vote.signature == signature:
            for key in vote.chain:
                like[key] = like.get(key, 0) + vote.length
    chain = next((v.chain for v in votes if best in v.chain), [best])
    start = chain.index(best)
    for key in chain[start + 1 : start + 1 + _MAX_CLIMB]:
        if nodes[key].tag in ("body", "html"):
            break
        if like.get(key, 0) >= like.get(best, 0) * _CLIMB_RATIO:
            best = key
    return nodes[best]


def _inside_link(node: LexborNode, container: LexborNode) -> bool:
    """Whether an ``<a>`` between the node and the container wraps it (a teaser card's headline)."""
    parent = node.parent
    while parent is not None and parent.mem_id != container.mem_id:
        if parent.tag == "a":
            return True
        parent = parent.parent
    return False


def _blocks(container: LexborNode) -> list[str]:
    """Visible paragraph-level texts in document order, skipping link lists, teasers and clutter."""
    total = len(_text(container))
    for node in container.css(_IN_ARTICLE_CLUTTER):
        # A class like "paywalled" or "related-content" on the wrapper of the story itself (seen on
        # real sites) matches too; holding a large share of the text, it is the story, not clutter.
        if len(_text(node)) * 4 < total:
            node.decompose()
    out: list[str] = []
    for node in container.css(_BLOCKS):
        if node.tag != "p" and node.css_first(_NESTED_BLOCK) is not None:
            continue  # its inner <p>/<li> are visited on their own
        text = _text(node)
        if not text:
            continue
        if node.tag == "li" and (len(text) < 60 or _link_chars(node) * 2 > len(text)):
            continue
        if node.tag != "li" and len(text) < 120 and _link_chars(node) * 2 > len(text):
            continue
        if _inside_link(node, container):
            continue
        out.append(text)
    return out


def _heuristic_body(tree: LexborHTMLParser) -> tuple[str, str]:
    """(main text, all visible blocks): the second is a last resort for pages without paragraphs."""
    for br in tree.css("br"):
        br.replace_with(" ")  # "line<br>line" must not glue two words
    root = tree.body or tree.root
    if root is None:
        return "", ""
    for node in root.css(_BOILERPLATE):
        node.decompose()
    container = _best_container(root)
    if container is None:
        return "", "\n\n".join(_blocks(root))
    return "\n\n".join(_blocks(container)), ""


def _trafilatura_body(html: str, url: str) -> str:
    import trafilatura  # deferred: ~0.3 s import, and only the fallback path needs it

    try:
        text = trafilatura.extract(
            html, url=url, include_comments=False, include_tables=False, favor_precision=True
        )
    except Exception:  # a fallback must never turn a usable page into an error
        return ""
    if not text:
        return ""
    return "\n\n".join(line.strip() for line in text.splitlines() if line.strip())


# --------------------------------------------------------------------------- entry point


def extract(fetched: Fetched, *, source: str, hint: Candidate | None = None) -> Article:
    """Decode and parse one fetched page into an Article. Raises only :class:`ParseError`."""
    if not fetched.body:
        raise ParseError(fetched.url, "empty body")
    html = decode_html(fetched.body, fetched.charset)
    if _looks_binary(html):
        raise ParseError(fetched.url, "body is not HTML text")
    check_nesting(html, fetched.url)
    try:
        return _extract(html, fetched, source, hint)
    except ParseError:
        raise
    except Exception as exc:  # selectolax/lexbor or stdlib surprises become our documented error
        raise ParseError(fetched.url, f"{type(exc).__name__}: {exc}") from exc


def _extract(html: str, fetched: Fetched, source: str, hint: Candidate | None) -> Article:
    tree = LexborHTMLParser(html)
    meta = _meta_map(tree)
    ld = _json_ld_article(tree)
    title = _title(tree, meta, ld, hint)
    published = _published(tree, meta, ld, hint)
    url = _canonical(tree, meta, fetched.url)
    language = _language(tree, meta)
    summary = _clean(meta.get("description") or meta.get("og:description") or meta.get("twitter:description"))
    if not summary and hint is not None and hint.summary:
        summary = _clean(hint.summary)
    body, last_resort = _heuristic_body(tree)  # mutates the tree: metadata must be read before
    if len(body) < _MIN_BODY_CHARS:
        fallback = _trafilatura_body(html, fetched.url)
        if len(fallback) > len(body):
            body = fallback
    body = body or last_resort
    if not body and not title:
        raise ParseError(fetched.url, "no title and no text found")
    return Article(
        url=url,
        source=source,
        title=title,
        body=body,
        summary=summary,
        published=published,
        language=language,
        fetched_url=fetched.url,
    )


def article_from_text(text: str, *, url: str, source: str) -> Article:
    """A plain-text article (``rules test --file x.txt``): the first line that reads like a headline is
    the title, the rest is the body. Copied pages often start with menu crumbs, hence "reads like"."""
    lines = [line.strip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        if len(line.split()) >= 4 and len(line) <= 200 and not line.endswith((".", ":")):
            body = "\n".join(lines[i + 1 :]).strip()
            return Article(url=url, source=source, title=line, body=body)
    return Article(url=url, source=source, title="", body=text.strip())
