"""The story's main text: a densest-paragraph-cluster heuristic over the parsed page, trafilatura when its
result looks too thin to trust."""

from __future__ import annotations

from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.extract.clutter import BOILERPLATE, IN_ARTICLE_CLUTTER, drop_forms, is_boilerplate_line, no_vote
from monitor.extract.nodes import clean, link_chars, node_text

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
MIN_BODY_CHARS = 600  # below this the heuristic probably missed the article: ask trafilatura
_MIN_BLOCK_CHARS = 30  # a paragraph shorter than this does not vote for its container
_SCAN_OWN_TEXT_BELOW = 3000  # <p> text above this is the story: no page-wide scan for text in <div>s
_MIN_OWN_TEXT = 200  # text directly inside an element with block children that makes it a paragraph
_MIN_LEAF_CHARS = 80  # a <div>/<td>/<span> standing in for <p> must be this long to count as text
_MIN_LIST_CHARS = 60  # a whole <ul>/<ol> shorter than this is a meta strip ("By X · 3 min read")
_MAX_CELL_CHARS = 200  # a table cell holding this much text is a layout cell, not data
_MAX_CLIMB = 4
_MIN_RUN = 3  # blocks built alike that make a run (live-blog entries), not a one-off box
_CLIMB_RATIO = 1.5


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
        and len(clean(own)) >= _MIN_OWN_TEXT
        and node.css_first(_NESTED_BLOCK) is None
    )


def _own_text_over(root: LexborNode, limit: int) -> bool:
    """Whether a <div> or cell holds more than ``limit`` characters of text directly (not in children)."""
    for node in root.css("div, td"):
        own = node.text(deep=False)
        if len(own) > limit and len(clean(own)) > limit:  # the raw length first: it is free
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


def _chain(parent: LexborNode, nodes: dict[int, LexborNode]) -> list[int] | None:
    """mem_ids from ``parent`` up to the root, or None when a link or a footer/sidebar is on the way."""
    chain: list[int] = []
    node: LexborNode | None = parent
    while node is not None:
        if node.tag == "a" or no_vote(node):  # teaser cards (the paragraph is a link), footers
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
        length = len(node_text(p))
        if length < (_MIN_BLOCK_CHARS if p.tag == "p" else _MIN_LEAF_CHARS) or link_chars(p) * 2 > length:
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
    texts = [node_text(cell) for cell in cells]
    if any(len(text) >= _MAX_CELL_CHARS for text in texts):
        return None
    return " ".join(text for text in texts if text)


def _tiny_list(item: LexborNode) -> bool:
    """An item of a list too short to be content: a byline/date/reading-time strip, not teams or points."""
    parent = item.parent
    return parent is not None and len(node_text(parent)) < _MIN_LIST_CHARS


def _blocks(container: LexborNode, *, leaves: bool) -> list[str]:
    """Visible paragraph-level texts in document order, skipping link lists, teasers and clutter.

    ``leaves``: the page has (almost) no <p>, so leaf blocks are its paragraphs. On a page with <p>
    they are widgets (newsletter boxes, bylines, cookie notes) and are not emitted."""
    total = len(node_text(container))
    for node in container.css(IN_ARTICLE_CLUTTER):
        # A class like "paywalled" or "related-content" on the wrapper of the story itself (seen on
        # real sites) matches too; holding a large share of the text, it is the story, not clutter.
        if len(node_text(node)) * 4 < total:
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
            text = node_text(node)
            if len(text) < _MIN_LEAF_CHARS and tag not in ("td", "th"):
                continue
        else:
            if tag != "p" and _has_nested_block(node):
                continue  # its inner <p>/<li> are visited on their own
            if tag == "li" and _tiny_list(node):
                continue
            text = node_text(node)
        if not text or is_boilerplate_line(node, text) or _inside_link(node, container):
            continue
        out.append(text)
    return out


def heuristic_body(tree: LexborHTMLParser) -> tuple[str, str]:
    """(main text, all visible blocks): the second is a last resort for pages without paragraphs."""
    for br in tree.css("br"):
        br.replace_with(" ")  # "line<br>line" must not glue two words
    root = tree.body or tree.root
    if root is None:
        return "", ""
    for node in root.css(BOILERPLATE):
        node.decompose()
    drop_forms(root)
    nodes: dict[int, LexborNode] = {}
    votes = _paragraph_votes(root, nodes, leaves=False)
    p_text = sum(vote.length for vote in votes)
    # An old or odd template: text in cells, <div>s or <br>-cut <span>s, where the <p>s on the page
    # (bios, footers) hold less than one such block alone.
    leaves = p_text < MIN_BODY_CHARS or (p_text < _SCAN_OWN_TEXT_BELOW and _own_text_over(root, p_text))
    if leaves:
        votes = _paragraph_votes(root, nodes, leaves=True)
    container = _best_container(votes, nodes)
    if container is None:
        return "", "\n\n".join(_blocks(root, leaves=leaves))
    return "\n\n".join(_blocks(container, leaves=leaves)), ""


def trafilatura_body(html: str, url: str) -> str:
    import trafilatura  # deferred: a slow import, and only the fallback path needs it

    try:
        text = trafilatura.extract(
            html, url=url, include_comments=False, include_tables=True, favor_precision=True
        )
    except Exception:  # a fallback must never turn a usable page into an error
        return ""
    if not text:
        return ""
    return "\n\n".join(line.strip() for line in text.splitlines() if line.strip())
