"""The rule playground: a pasted rule file against a URL or a pasted text, as ``newsmon rules test`` does it.

A URL is fetched by the daemon's own crawler client, so the SSRF guard, robots.txt and per-host politeness
apply exactly as they do to sources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.errors import FetchError, ParseError, RuleError
from monitor.extract import article_from_text, extract
from monitor.matching.engine import Engine, Explanation
from monitor.matching.rules import rules_from_text
from monitor.model import FIELDS, Article, Fetched, Hit
from monitor.ui.daemon import Daemon
from monitor.ui.history import DAYS, History, history
from monitor.ui.present import marked

EXAMPLE_RULE = """\
rules:
  - id: atacms-strikes
    title: ATACMS strikes inside Russia
    all:
      - [ATACMS, ATACM, Army Tactical Missile System]
      - [Russia, Russian, Kursk, Bryansk]
"""
SOURCE = "playground"
MAX_TEXT = 1_000_000  # characters of pasted text the playground reads


@dataclass(slots=True)
class PlaygroundView:
    rule: str
    url: str
    text: str
    source: str
    errors: list[str] = field(default_factory=list)
    article: Article | None = None
    fields: list[tuple[str, list[tuple[str, bool]]]] = field(default_factory=list)
    matches: list[Explanation] = field(default_factory=list)
    misses: list[Explanation] = field(default_factory=list)
    tried: int = 0  # rules in the pasted file
    days: str = ""  # look back over the archive this many days ("" for no)
    history: History | None = None
    day_choices: tuple[str, ...] = DAYS


async def run(daemon: Daemon, form: Mapping[str, str]) -> PlaygroundView:
    view = PlaygroundView(
        rule=form.get("rule", EXAMPLE_RULE),
        url=form.get("url", "").strip(),
        text=form.get("text", "")[:MAX_TEXT],
        source=form.get("source", "").strip() or SOURCE,
        days=form.get("days", ""),
    )
    if not form:
        return view
    try:
        rules = rules_from_text(view.rule, "pasted rule")
    except RuleError as exc:
        view.errors = [str(p) for p in exc.problems]
        return view
    view.tried = len(rules.rules)
    view.history = await history(daemon, rules.rules, view.days)
    try:
        article = await _article(daemon, view)
    except (FetchError, ParseError) as exc:
        view.errors = [str(exc)]
        return view
    if article is None:
        if view.history is None:
            view.errors = ["give a URL to fetch or paste the article's text, or choose days to look back"]
        return view
    explained = Engine(rules.rules).explain(article)
    view.article = article
    view.matches = [x for x in explained if x.match is not None]
    view.misses = [x for x in explained if x.match is None]
    view.fields = _marked_fields(article, [h for x in explained for h in x.hits])
    return view


async def _article(daemon: Daemon, view: PlaygroundView) -> Article | None:
    if view.url:
        fetched = await daemon.http.fetch(view.url)
        return extract(fetched, source=view.source)
    if not view.text.strip():
        return None
    if view.text.lstrip().startswith("<"):
        page = Fetched(url="about:pasted", status=200, body=view.text.encode(), content_type="text/html")
        return extract(page, source=view.source)
    return article_from_text(view.text, url="about:pasted", source=view.source)


def _marked_fields(article: Article, hits: list[Hit]) -> list[tuple[str, list[tuple[str, bool]]]]:
    """Each field of the article as the rules read it, with every hit of every rule marked."""
    out = []
    for name in FIELDS:
        text = getattr(article, name)
        spans: list[tuple[int, int]] = []
        for start, end in sorted({(h.start, h.end) for h in hits if h.field == name}):
            if not spans or start >= spans[-1][1]:
                spans.append((start, end))
        out.append((name, marked(text, spans)))
    return out
