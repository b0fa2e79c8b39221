"""The story's summary as a reader sees it: the standfirst under the headline, or a meta description that
is also visible on the page."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.extract.nodes import clean, link_chars, node_text

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


def find_standfirst(tree: LexborHTMLParser, title: str) -> str:
    """The first visible standfirst-like element near the headline, or "".

    Only the headline's surroundings (up to its great-grandparent: the article header) are searched;
    elsewhere such classes mark teasers of other stories, and a page-wide search costs a millisecond.
    """
    headlines = [h for h in tree.css("h1") if node_text(h)]
    if not headlines:
        return ""
    # A logo or section name in an <h1> of its own comes first on some pages: prefer the headline.
    headline = next((h for h in headlines if node_text(h) == title), headlines[0])
    scope = headline
    for _ in range(_STANDFIRST_LEVELS):
        if scope.parent is None or scope.parent.tag in ("body", "html"):
            break
        scope = scope.parent
    for node in scope.css(_STANDFIRST):
        if node.tag == "meta":
            continue
        text = node_text(node)
        if (
            _MIN_STANDFIRST <= len(text) <= _MAX_STANDFIRST
            and _visible(node)
            and link_chars(node) * 2 < len(text)
        ):
            return text
    return ""


def visible_description(meta: dict[str, str], visible: str) -> str:
    """The meta description, if a reader also sees it on the page (often it is the lead paragraph);
    a site-wide or SEO description that appears nowhere is not the story's summary."""
    for key in ("description", "og:description", "twitter:description"):
        description = clean(meta.get(key))
        probe = description
        for mark in _ELLIPSIS:
            probe = probe.removesuffix(mark).rstrip()
        if len(probe) >= _MIN_STANDFIRST and probe in visible:
            return description
    return ""
