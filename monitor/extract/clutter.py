"""What is on an article page but is not the story: menus, widgets, teasers, promotion, forms.

Removed from the tree before the body heuristic runs, or skipped line by line as it collects the text.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from monitor.extract.nodes import link_chars, node_text

# Never visible or never article text. Dropped before the body heuristic runs. <form> is not here:
# ASP.NET pages wrap the whole page in one (see drop_forms).
BOILERPLATE = (
    "script, style, noscript, template, svg, iframe, object, canvas, nav, footer, aside, button, select,"
    " textarea, figure, figcaption, [hidden], [aria-hidden=true], [role=navigation], [role=complementary],"
    " #comments, .comments, .comment-list, .commentlist"
)
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
IN_ARTICLE_CLUTTER = ", ".join(f'[class*="{word}"]' for word in _CLUTTER_CLASSES) + ", [class~=hidden]"
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
_MAX_FORM_CHARS = 1000  # a <form> with more text than this wraps the page rather than a search box


def no_vote(node: LexborNode) -> bool:
    if node.tag in ("body", "html"):  # Drupal names the layout there: "one-sidebar sidebar-second"
        return False
    attrs = node.attributes
    names = f"{attrs.get('id') or ''} {attrs.get('class') or ''}".split()
    return any(_NO_VOTE.fullmatch(name) for name in names)


def is_boilerplate_line(node: LexborNode, text: str) -> bool:
    """Link lists, teaser blocks, "follow us"/newsletter/app promotion: not the story's text."""
    if len(text) > _MAX_PROMO_CHARS and node.tag != "li" and not _TEASER_LABEL.search(text):
        return False  # a long paragraph made of links is rare; counting them costs on every page
    links = link_chars(node)
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


def drop_forms(root: LexborNode) -> None:
    """Drop search, login and newsletter forms; keep a form that wraps the page (ASP.NET WebForms):
    one that holds the headline or a page's worth of text."""
    for form in root.css("form"):
        if form.css_first("h1") is None and len(node_text(form)) < _MAX_FORM_CHARS:
            form.decompose()
