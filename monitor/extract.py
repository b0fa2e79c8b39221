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
# " | Sport", " » News", " :: World": up to three words after a pipe-like separator, at the end.
_SECTION_SUFFIX = re.compile(r"\s+(?:[|»｜]|::)\s+((?:[^\s|»｜]+\s?){1,3})$")
_MAX_SECTIONS = 3
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
    """Drop a " | Site" suffix (or "Site | " prefix) and " | Section" suffixes from a title.

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
        return _strip_section(head)
    if site_l and title[: first.start()].strip().lower() == site_l:
        return _strip_section(title[first.end() :].strip())
    if aggressive and head and len(tail) * 2 <= len(head):
        return _strip_section(head)
    return _strip_section(title)


def _strip_section(title: str) -> str:
    """Drop section names a CMS appends with a pipe: "Rooney retires | Sport | Football" -> "Rooney
    retires". Only pipe-like separators: " - " and ": " join parts of real headlines."""
    for _ in range(_MAX_SECTIONS):
        match = _SECTION_SUFFIX.search(title)
        if match is None or len(match.group(1)) > match.start():
            break
        title = title[: match.start()].rstrip()
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
    lang = lang or _clean(meta.get("og:locale"))  # "ru_RU": rule matching reads its inflected forms
    lang = lang or _clean(meta.get("content-language", "").split(",")[0])
    return lang or None


# --------------------------------------------------------------------------- summary

# Where templates put the standfirst (dek, lead, intro): the visible sentence under the headline.
# Whole class tokens for short words ("lead" is also "leaderboard", an ad slot).
_STANDFIRST = (
    '[itemprop="description"], [class*="standfirst"], [class*="strapline"], [class*="subheadline"],'
    ' [class*="sub-headline"], [class*="article-subtitle"], [class*="article__subtitle"], [class~="dek"],'
    ' [class*="__dek"], [class*="-dek"], [class~="lede"], [class~="lead"], [class*="article-lead"],'
    ' [class*="article__lead"], [class*="article-intro"], [class*="article__intro"], [class~="intro"],'
    ' [class*="article-summary"], [class*="article__summary"], [class~="excerpt"], [class~="subtitle"]'
)
_HIDDEN_ANCESTORS = frozenset({"head", "nav", "footer", "aside", "a", "script", "noscript", "template"})
_MIN_STANDFIRST = 30
_STANDFIRST_LEVELS = 3
_MAX_STANDFIRST = 600
_ELLIPSIS = ("...", "…")


def _visible(node: LexborNode | None) -> bool:
    while node is not None:
        attrs = node.attributes
        if node.tag in _HIDDEN_ANCESTORS or "hidden" in attrs or attrs.get("aria-hidden") == "true":
            return False
        if "hidden" in (attrs.get("class") or "").split():
            return False
        node = node.parent
    return True


def _standfirst(tree: LexborHTMLParser, title: str) -> str:
    """The first visible standfirst-like element near the headline, or "".

    Only the headline's surroundings (up to its great-grandparent: the article header) are searched;
    elsewhere such classes mark teasers of other stories, and a page-wide search costs a millisecond.
    """
    headlines = [h for h in tree.css("h1") if _text(h)]
    if not headlines:
        return ""
    # A logo or section name in an <h1> of its own comes first on some pages: prefer the headline.
    headline = next((h for h in headlines if _text(h) == title), headlines[0])
    scope = headline
    for _ in range(_STANDFIRST_LEVELS):
        if scope.parent is None or scope.parent.tag in ("body", "html"):
            break
        scope = scope.parent
    for node in scope.css(_STANDFIRST):
        if node.tag == "meta":
            continue
        text = _text(node)
        if (
            _MIN_STANDFIRST <= len(text) <= _MAX_STANDFIRST
            and _visible(node)
            and _link_chars(node) * 2 < len(text)
        ):
            return text
    return ""


def _visible_description(meta: dict[str, str], visible: str) -> str:
    """The meta description, if a reader also sees it on the page (often it is the lead paragraph);
    a site-wide or SEO description that appears nowhere is not the story's summary."""
    for key in ("description", "og:description", "twitter:description"):
        description = _clean(meta.get(key))
        probe = description
        for mark in _ELLIPSIS:
            probe = probe.removesuffix(mark).rstrip()
        if len(probe) >= _MIN_STANDFIRST and probe in visible:
            return description
    return ""


# --------------------------------------------------------------------------- main text

# Never visible or never article text. Dropped before the body heuristic runs. <form> is not here:
# ASP.NET pages wrap the whole page in one (see _drop_forms).
_BOILERPLATE = (
    "script, style, noscript, template, svg, iframe, object, canvas, nav, footer, aside, button, select,"
    " textarea, figure, figcaption, [hidden], [aria-hidden=true], [role=navigation], [role=complementary],"
    " #comments, .comments, .comment-list, .commentlist"
)
# Paragraph-level elements emitted as body blocks. Old templates put text straight into cells, <div>s
# or a <span> cut by <br>: such "leaf" elements (only inline children) stand in for <p>.
_LEAF_TAGS = frozenset({"td", "th", "div", "dd", "center", "section", "article", "span", "font", "main"})
_BLOCKS = "p, h2, h3, h4, h5, h6, li, blockquote, pre, tr"
_BLOCKS_AND_LEAVES = _BLOCKS + ", " + ", ".join(sorted(_LEAF_TAGS))
_PARAGRAPHS = "p, " + ", ".join(sorted(_LEAF_TAGS))
_NESTED_BLOCK = "p, li, blockquote, pre, table"
_TEXT_BLOCK_TAGS = frozenset({"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "dt"})
_INLINE = frozenset(
    {
        "-text", "-comment", "a", "abbr", "b", "bdi", "bdo", "big", "br", "cite", "code", "data", "del",
        "dfn", "em", "font", "i", "img", "ins", "kbd", "label", "mark", "nobr", "picture", "q", "s",
        "samp", "small", "source", "span", "strike", "strong", "sub", "sup", "time", "tt", "u", "var",
        "wbr",
    }
)  # fmt: skip
# Inside the chosen container: image captions and credits, related/teaser rails, newsletter boxes,
# blocked-embed and consent placeholders, comment widgets, author bios, elements hidden by class,
# the next story that infinite-scroll templates append, share and follow buttons, reader polls,
# WordPress "filed under" lines.
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
    "next-article",
    "next-story",
    "read-next",
    "up-next",
    "promo",
    "share",
    "social",
    "poll",
    "postmetadata",
)
_IN_ARTICLE_CLUTTER = ", ".join(f'[class*="{word}"]' for word in _CLUTTER_CLASSES) + ", [class~=hidden]"
# Paragraphs in elements named like these (a whole class token or id) never vote: a footer's or
# sidebar's text is not the story, however dense it is. Layout classes like "has-sidebar" or
# "sidebar-layout" on the page wrapper do not match.
_NO_VOTE = re.compile(
    r"(?:site-|page-|global-|main-)?(?:(?:footer|copyright)(?:[-_][\w-]*)?|sidebar)", re.IGNORECASE
)
# A block led by a teaser label ("READ MORE:", "DON'T MISS", "Related:") and made of links.
_TEASER_LABEL = re.compile(
    r"^\W*(?:read|see|watch|listen|click)(?: (?:more|also|next|here|now))?\b|^\W*(?:don'?t|do not) miss\b"
    r"|^\W*(?:related|more|also|recommended|trending|top stories|most read|popular|latest)\b[^.!?]{0,40}:"
    r"|^\W*(?:lesen sie auch|mehr zum thema|lire aussi|à lire aussi|lee también|leia também|leggi anche)\b",
    re.IGNORECASE,
)
# Promotion of the site rather than the story: follow us, newsletters, app downloads, subscriptions.
_PROMO = re.compile(
    r"\b(?:follow|like) (?:us|\w+(?: \w+){0,3}) on (?:facebook|twitter|x|instagram|tiktok|threads|linkedin"
    r"|youtube|telegram)\b|^\W*newsletter\b\s*:|\bsign up\b.{0,80}\b(?:newsletter|inbox)"
    r"|\bfollow (?:live|our) (?:updates|coverage)\b"
    r"|\bsubscribe to (?:our|the)\b.{0,40}\b(?:newsletter|channel|podcast)"
    r"|^\W*more (?:ap|afp|reuters) [\w -]{1,40}:"
    r"|\bdownload (?:our|the) (?:free )?(?:\w+ )?app\b|\bclick here to\b",
    re.IGNORECASE,
)
# Words every _PROMO pattern contains: a substring test first spares the regex on ordinary paragraphs.
_PROMO_HINTS = (
    "facebook", "twitter", "instagram", "tiktok", "threads", "linkedin", "youtube", "telegram",
    "newsletter", "subscribe", "app", "click here", "more a", "sign up", "follow",
    "more reuters", " on x",
)  # fmt: skip
_MAX_PROMO_CHARS = 300  # a longer paragraph that mentions a newsletter is a paragraph about one
_MIN_BODY_CHARS = 600  # below this the heuristic probably missed the article: ask trafilatura
_MIN_BLOCK_CHARS = 30  # a paragraph shorter than this does not vote for its container
_SCAN_OWN_TEXT_BELOW = 3000  # <p> text above this is the story: no page-wide scan for text in <div>s
_MIN_OWN_TEXT = 200  # text directly inside an element with block children that makes it a paragraph
_MIN_LEAF_CHARS = 80  # a <div>/<td>/<span> standing in for <p> must be this long to count as text
_MAX_FORM_CHARS = 1000  # a <form> with more text than this wraps the page rather than a search box
_MIN_LIST_CHARS = 60  # a whole <ul>/<ol> shorter than this is a meta strip ("By X · 3 min read")
_MAX_CELL_CHARS = 200  # a table cell holding this much text is a layout cell, not data
_MAX_CLIMB = 4
_MIN_RUN = 3  # blocks built alike that make a run (live-blog entries), not a one-off box
_CLIMB_RATIO = 1.5


def _text(node: LexborNode) -> str:
    # separator="" keeps "<b>North Korean</b> troops" one phrase; source newlines become spaces.
    return _clean(node.text(deep=True, separator=""))


def _link_chars(node: LexborNode) -> int:
    return sum(len(_text(a)) for a in node.css("a"))


def _element_children(node: LexborNode) -> int:
    return sum(1 for _ in node.iter(include_text=False))


def _only_inline_children(node: LexborNode) -> bool:
    # An empty element is a spacer whatever its tag (<div class="fake-br"></div> between sentences).
    return all(child.tag in _INLINE or child.child is None for child in node.iter(include_text=False))


def _holds_text(node: LexborNode) -> bool:
    """A <div>/<td>/<span>... whose text is its own: only inline children, or long runs of text between
    its children (``text<br><br>text<center>caption</center><br>text``) and no paragraphs inside."""
    if node.tag not in _LEAF_TAGS:
        return False
    if _only_inline_children(node):
        return True
    own = node.text(deep=False)
    return (
        len(own) >= _MIN_OWN_TEXT
        and len(_clean(own)) >= _MIN_OWN_TEXT
        and node.css_first(_NESTED_BLOCK) is None
    )


def _own_text_over(root: LexborNode, limit: int) -> bool:
    """Whether a <div> or cell holds more than ``limit`` characters of text directly (not in children)."""
    for node in root.css("div, td"):
        own = node.text(deep=False)
        if len(own) > limit and len(_clean(own)) > limit:  # the raw length first: it is free
            return True
    return False


def _is_leaf_block(node: LexborNode) -> bool:
    """The outermost element holding its own text: a paragraph of a template that has no ``<p>``."""
    if not _holds_text(node):
        return False
    parent = node.parent
    if parent is None:
        return True
    if parent.tag in _TEXT_BLOCK_TAGS or parent.tag in _INLINE:
        return False
    return not _holds_text(parent)


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


def _no_vote(node: LexborNode) -> bool:
    if node.tag in ("body", "html"):  # Drupal names the layout there: "one-sidebar sidebar-second"
        return False
    attrs = node.attributes
    names = f"{attrs.get('id') or ''} {attrs.get('class') or ''}".split()
    return any(_NO_VOTE.fullmatch(name) for name in names)


def _chain(parent: LexborNode, nodes: dict[int, LexborNode]) -> list[int] | None:
    """mem_ids from ``parent`` up to the root, or None when a link or a footer/sidebar is on the way."""
    chain: list[int] = []
    node: LexborNode | None = parent
    while node is not None:
        if node.tag == "a" or _no_vote(node):  # teaser cards (the paragraph is a link), footers
            return None
        key = node.mem_id
        nodes.setdefault(key, node)
        chain.append(key)
        node = node.parent
    return chain


def _paragraph_votes(root: LexborNode, nodes: dict[int, LexborNode], *, leaves: bool) -> list[_Vote]:
    """One vote per substantial, non-link paragraph; fills ``nodes`` with every ancestor seen.

    ``leaves``: leaf blocks (text in a <div>, cell or <span>) stand in for paragraphs too."""
    votes: list[_Vote] = []
    chains: dict[int, list[int] | None] = {}  # paragraphs of one parent share its chain
    for p in root.css(_PARAGRAPHS if leaves else "p"):
        if p.tag != "p" and not _is_leaf_block(p):
            continue
        length = len(_text(p))
        if length < (_MIN_BLOCK_CHARS if p.tag == "p" else _MIN_LEAF_CHARS) or _link_chars(p) * 2 > length:
            continue
        parent = _effective_parent(p)
        if parent is None:
            continue
        key = parent.mem_id
        if key not in chains:
            chains[key] = _chain(parent, nodes)
        chain = chains[key]
        if chain is not None:
            votes.append(_Vote(length, _signature(parent), chain))
    return votes


def _headlines(node: LexborNode) -> int:
    return sum(1 for _ in node.css("h1"))


def _best_container(votes: list[_Vote], nodes: dict[int, LexborNode]) -> LexborNode | None:
    """The element whose paragraphs hold the most text, widened when an article is split in parts.

    Readability-style votes pick the block (parent full weight, grandparent half). Live blogs and
    ad-interrupted stories spread paragraphs over sibling blocks built alike, so we climb to an
    ancestor while paragraphs in blocks of the same (tag, class) add clearly more text: blocks built
    like the best one, or a run of blocks built like each other (a live blog's entries below its
    introduction). One-off blocks (a teaser, a bio) do not count for the climb, and no climb reaches
    an ancestor holding a second headline (the next story, appended below this one).
    """
    if not votes:
        return None
    score: dict[int, float] = {}
    for vote in votes:
        for key, weight in zip(vote.chain, (1.0, 0.5), strict=False):
            score[key] = score.get(key, 0.0) + vote.length * weight
    best = max(score, key=score.__getitem__)
    signature = _signature(nodes[best])
    runs: dict[tuple[str, str], set[int]] = {}  # signature -> the distinct blocks built that way
    for vote in votes:
        runs.setdefault(vote.signature, set()).add(vote.chain[0])
    like: dict[int, int] = {}
    for vote in votes:
        if vote.signature == signature or len(runs[vote.signature]) >= _MIN_RUN:
            for key in vote.chain:
                like[key] = like.get(key, 0) + vote.length
    chain = next((v.chain for v in votes if best in v.chain), [best])
    start = chain.index(best)
    headlines = _headlines(nodes[best])
    for key in chain[start + 1 : start + 1 + _MAX_CLIMB]:
        if nodes[key].tag in ("body", "html"):
            break
        if like.get(key, 0) >= like.get(best, 0) * _CLIMB_RATIO:
            if _headlines(nodes[key]) > max(headlines, 1):
                break
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


def _has_nested_block(node: LexborNode) -> bool:
    # css() matches the node itself too: an <li> is not "an <li> holding an <li>".
    return any(inner.mem_id != node.mem_id for inner in node.css(_NESTED_BLOCK))


def _row_text(row: LexborNode) -> str | None:
    """A data table's row as one block (cells joined by spaces), or None for a layout table's row,
    whose cells hold blocks or paragraphs of their own and are visited one by one."""
    cells = [cell for cell in row.iter(include_text=False) if cell.tag in ("td", "th")]
    if not all(_only_inline_children(cell) for cell in cells):
        return None
    texts = [_text(cell) for cell in cells]
    if any(len(text) >= _MAX_CELL_CHARS for text in texts):
        return None
    return " ".join(text for text in texts if text)


def _tiny_list(item: LexborNode) -> bool:
    """An item of a list too short to be content: a byline/date/reading-time strip, not teams or points."""
    parent = item.parent
    return parent is not None and len(_text(parent)) < _MIN_LIST_CHARS


def _is_boilerplate_line(node: LexborNode, text: str) -> bool:
    """Link lists, teaser blocks, "follow us"/newsletter/app promotion: not the story's text."""
    if len(text) > _MAX_PROMO_CHARS and node.tag != "li" and not _TEASER_LABEL.search(text):
        return False  # a long paragraph made of links is rare; counting them costs on every page
    links = _link_chars(node)
    if links * 5 >= len(text) * 4:
        return True
    if node.tag == "li":
        return links * 2 > len(text)
    if len(text) < 120 and links * 2 > len(text):
        return True
    if links * 10 >= len(text) * 3 and _TEASER_LABEL.search(text):
        return True
    if len(text) > _MAX_PROMO_CHARS:
        return False
    lower = text.lower()
    return any(hint in lower for hint in _PROMO_HINTS) and _PROMO.search(text) is not None


def _blocks(container: LexborNode, *, leaves: bool) -> list[str]:
    """Visible paragraph-level texts in document order, skipping link lists, teasers and clutter.

    ``leaves``: the page has (almost) no <p>, so leaf blocks are its paragraphs. On a page with <p>
    they are widgets (newsletter boxes, bylines, cookie notes) and are not emitted."""
    total = len(_text(container))
    for node in container.css(_IN_ARTICLE_CLUTTER):
        # A class like "paywalled" or "related-content" on the wrapper of the story itself (seen on
        # real sites) matches too; holding a large share of the text, it is the story, not clutter.
        if len(_text(node)) * 4 < total:
            node.decompose()
    out: list[str] = []
    rows: set[int] = set()  # table rows emitted whole: their cells are not emitted again
    for node in container.css(_BLOCKS_AND_LEAVES if leaves else _BLOCKS):
        tag = node.tag
        if tag == "tr":
            text = _row_text(node)
            if text is None:
                continue
            rows.add(node.mem_id)
        elif tag in _LEAF_TAGS:
            if (
                not leaves
                or not _is_leaf_block(node)
                or (node.parent is not None and node.parent.mem_id in rows)
            ):
                continue
            text = _text(node)
            if len(text) < _MIN_LEAF_CHARS and tag not in ("td", "th"):
                continue
        else:
            if tag != "p" and _has_nested_block(node):
                continue  # its inner <p>/<li> are visited on their own
            if tag == "li" and _tiny_list(node):
                continue
            text = _text(node)
        if not text or _is_boilerplate_line(node, text) or _inside_link(node, container):
            continue
        out.append(text)
    return out


def _drop_forms(root: LexborNode) -> None:
    """Drop search, login and newsletter forms; keep a form that wraps the page (ASP.NET WebForms):
    one that holds the headline or a page's worth of text."""
    for form in root.css("form"):
        if form.css_first("h1") is None and len(_text(form)) < _MAX_FORM_CHARS:
            form.decompose()


def _heuristic_body(tree: LexborHTMLParser) -> tuple[str, str]:
    """(main text, all visible blocks): the second is a last resort for pages without paragraphs."""
    for br in tree.css("br"):
        br.replace_with(" ")  # "line<br>line" must not glue two words
    root = tree.body or tree.root
    if root is None:
        return "", ""
    for node in root.css(_BOILERPLATE):
        node.decompose()
    _drop_forms(root)
    nodes: dict[int, LexborNode] = {}
    votes = _paragraph_votes(root, nodes, leaves=False)
    p_text = sum(vote.length for vote in votes)
    # An old or odd template: text in cells, <div>s or <br>-cut <span>s, where the <p>s on the page
    # (bios, footers) hold less than one such block alone.
    leaves = p_text < _MIN_BODY_CHARS or (p_text < _SCAN_OWN_TEXT_BELOW and _own_text_over(root, p_text))
    if leaves:
        votes = _paragraph_votes(root, nodes, leaves=True)
    container = _best_container(votes, nodes)
    if container is None:
        return "", "\n\n".join(_blocks(root, leaves=leaves))
    return "\n\n".join(_blocks(container, leaves=leaves)), ""


def _trafilatura_body(html: str, url: str) -> str:
    import trafilatura  # deferred: ~0.3 s import, and only the fallback path needs it

    try:
        text = trafilatura.extract(
            html, url=url, include_comments=False, include_tables=True, favor_precision=True
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
    # The page's own declaration first: a feed's language is the site's, not always the article's.
    language = _language(tree, meta) or (hint.language if hint is not None else None)
    standfirst = _standfirst(tree, title)
    body, last_resort = _heuristic_body(tree)  # mutates the tree: metadata must be read before
    if len(body) < _MIN_BODY_CHARS:
        fallback = _trafilatura_body(html, fetched.url)
        if len(fallback) > len(body):
            body = fallback
    body = body or last_resort
    if standfirst and standfirst not in body:
        body = f"{standfirst}\n\n{body}" if body else standfirst  # the lead is part of the story
    if not body and not title:
        raise ParseError(fetched.url, "no title and no text found")
    # What a reader sees: the standfirst, else a meta description shown on the page, else the feed's.
    summary = standfirst or _visible_description(meta, f"{title}\n{body}")
    if not summary and hint is not None:
        summary = _clean(hint.summary)
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
