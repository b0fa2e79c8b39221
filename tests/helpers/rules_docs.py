"""The rule documentation's examples, read out of docs/rules.md for the tests that run them."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[int, str, str]]:
    """(line, language, content) of every fenced block in the guide."""
    text = DOC.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def examples() -> list[tuple[int, str, str]]:
    """(line, rule file, expectations) for each yaml block and the text block that follows it."""
    found = blocks()
    return [
        (line, body, found[i + 1][2] if i + 1 < len(found) and found[i + 1][1] == "text" else "")
        for i, (line, lang, body) in enumerate(found)
        if lang == "yaml"
    ]


EXAMPLES = examples()


def parse_article(article: str) -> tuple[dict[str, str], str, str | None]:
    """'title: ... | body: ... | source: ... | lang: ...' (or just body text) -> (fields, source, lang)."""
    fields: dict[str, str] = {}
    source = ""
    lang = None
    for part in article.split(" | "):
        name, sep, value = part.partition(": ")
        if sep and name in ("title", "summary", "body", "source", "lang"):
            if name == "source":
                source = value
            elif name == "lang":
                lang = value
            else:
                fields[name] = value
        else:
            fields["body"] = part
    return fields, source, lang
