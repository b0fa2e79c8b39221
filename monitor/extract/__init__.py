"""HTML page -> :class:`Article`: decode, parse once, read metadata, find the main text.

The hot path is selectolax (lexbor): one tree per page serves metadata and a densest-paragraph-cluster
body heuristic (:mod:`~monitor.extract.body`). trafilatura runs only when the heuristic's result looks too
thin to trust. The page's own metadata (:mod:`~monitor.extract.metadata`) and summary
(:mod:`~monitor.extract.summary`) are read before the body heuristic, which prunes the tree.
``benchmarks/extraction.py`` measures quality and cost against the shared corpus.
"""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser

from monitor.crawl.charset import decode_html
from monitor.errors import ParseError
from monitor.extract.body import MIN_BODY_CHARS, heuristic_body, trafilatura_body
from monitor.extract.metadata import (
    find_canonical,
    find_language,
    find_published,
    find_title,
    json_ld_article,
    meta_map,
)
from monitor.extract.nodes import clean, looks_binary
from monitor.extract.summary import find_standfirst, visible_description
from monitor.html_guard import check_nesting
from monitor.model import Article, Candidate, Fetched

__all__ = ["article_from_text", "extract"]


def extract(fetched: Fetched, *, source: str, hint: Candidate | None = None) -> Article:
    """Decode and parse one fetched page into an Article. Raises only :class:`ParseError`."""
    if not fetched.body:
        raise ParseError(fetched.url, "empty body")
    html = decode_html(fetched.body, fetched.charset)
    if looks_binary(html):
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
    meta = meta_map(tree)
    ld = json_ld_article(tree)
    title = find_title(tree, meta, ld, hint)
    published = find_published(tree, meta, ld, hint)
    url = find_canonical(tree, meta, fetched.url)
    # The page's own declaration first: a feed's language is the site's, not always the article's.
    language = find_language(tree, meta) or (hint.language if hint is not None else None)
    standfirst = find_standfirst(tree, title)
    body, last_resort = heuristic_body(tree)  # mutates the tree: metadata must be read before
    if len(body) < MIN_BODY_CHARS:
        fallback = trafilatura_body(html, fetched.url)
        if len(fallback) > len(body):
            body = fallback
    body = body or last_resort
    if standfirst and standfirst not in body:
        body = f"{standfirst}\n\n{body}" if body else standfirst  # the lead is part of the story
    if not body and not title:
        raise ParseError(fetched.url, "no title and no text found")
    # What a reader sees: the standfirst, else a meta description shown on the page, else the feed's.
    summary = standfirst or visible_description(meta, f"{title}\n{body}")
    if not summary and hint is not None:
        summary = clean(hint.summary)
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
