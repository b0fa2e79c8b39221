"""Whole pages written like the templates that lost text or let boilerplate through (tests/data/pages).

Each page is checked end to end through ``extract`` and, where the trafilatura fallback could hide a
miss, through the fast heuristic alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from monitor.extract import extract
from monitor.extract.body import heuristic_body, trafilatura_body
from monitor.model import Article, Fetched

PAGES = Path(__file__).resolve().parent / "data" / "pages"


def html(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def run(name: str) -> Article:
    return extract(Fetched(url=f"https://news.example.com/{name}", status=200, body=html(name)), source="t")


def heuristic(name: str) -> str:
    return heuristic_body(LexborHTMLParser(html(name).decode("utf-8")))[0]


def test_lists_tables_quotes_and_standfirst_inside_the_article_are_kept() -> None:
    article = run("list_table_quote.html")
    for text in (
        "Holders face a trip to Lisbon",  # the standfirst, outside the body's <div>
        "Benfica v Real Madrid",  # short list items: the ties
        "RB Leipzig v Manchester United",
        "13 February Copenhagen v Manchester City Parken Stadium",  # a table row, cells in order
        "we will need our best football",  # the blockquote
        "Arsenal, back in the knockout stage",
    ):
        assert text in article.body, text
    assert article.body.index("Benfica v Real Madrid") < article.body.index("Uefa confirmed")


def test_promo_and_teaser_lines_are_dropped() -> None:
    article = run("list_table_quote.html")
    drop = ("Follow The Daily Ledger", "READ MORE", "path to the final", "Newsletter", "Storm warnings")
    for text in (*drop, "4 min read"):  # the last: a byline strip made as a tiny list
        assert text not in article.body, text
    assert "The Daily Ledger is published by" not in article.body


def test_title_loses_site_and_section_suffixes() -> None:
    assert run("list_table_quote.html").title == "Champions League draw: who plays whom in the last 16"
    assert run("next_article.html").title == "Central bank holds rates at 4.5%"


def test_summary_is_the_standfirst_not_the_site_wide_description() -> None:
    summary = run("list_table_quote.html").summary
    assert summary == (
        "Holders face a trip to Lisbon while both Manchester clubs avoid each other until the final."
    )


def test_live_blog_keeps_every_entry() -> None:
    body = run("live_blog.html").body
    for text in ("Network Rail said", "leisure centre", "severe flood warning", "Cawood riverside", "forty"):
        assert text in body, text
    assert "Advertisement" not in body


def test_table_layout_with_br_and_no_paragraphs() -> None:
    body = heuristic("old_table_layout.html")
    assert "The county board of supervisors voted 4-1 on Tuesday night" in body
    assert "Residents on Creek Road had complained" in body
    for text in ("Obituaries", "Classifieds", "Privacy"):
        assert text not in body, text
    assert run("old_table_layout.html").body == body


def test_br_cut_story_in_a_div_beats_paragraphs_elsewhere() -> None:
    # The story is text between <br>s in one <div>; the only <p>s on the page are bios.
    body = heuristic("br_div_with_bios.html")
    assert body.startswith("Following last month's larger model")
    assert "Production is said to be handled" in body
    assert "attracts a broad audience" not in body and "senior editor" not in body


def test_fallback_reads_table_layouts_too() -> None:
    text = trafilatura_body(html("old_table_layout.html").decode(), "https://news.example.com/a")
    assert "The county board of supervisors voted 4-1" in text


def test_page_wrapped_in_an_aspnet_form() -> None:
    body = heuristic("aspnet_form.html")
    assert "Dock workers at the city's container terminal" in body
    assert "automated cranes on the older berths" in body
    assert run("aspnet_form.html").title == "Port strike ends after pay deal"


def test_page_without_title_yields_its_text() -> None:
    article = run("no_title.html")
    assert article.title == ""
    assert "A landslide blocked the mountain road to Tignes" in article.body
    assert "check the road status" in article.body
    assert "Home" not in article.body


def test_footer_text_is_never_chosen_over_the_story() -> None:
    body = heuristic("footer_links.html")
    assert "Council tax bills in the borough will rise" in body
    assert "Registered office" not in body and "switchboard" not in body


def test_next_article_appended_below_is_not_part_of_the_story() -> None:
    body = run("next_article.html").body
    assert "The central bank left its main interest rate unchanged" in body
    assert "trading flat against both the dollar and the euro" in body
    assert "Supermarket" not in body and "eight hundred jobs" not in body
    assert "DON'T MISS" not in body and "Mortgage rates fall" not in body


@pytest.mark.parametrize("name", sorted(p.name for p in PAGES.glob("*.html")))
def test_every_page_extracts_within_its_own_text(name: str) -> None:
    # No page may yield text that is not on it (a guard against blocks emitted twice).
    article = run(name)
    blocks = article.body.split("\n\n")
    assert len(blocks) == len(set(blocks)), name


def test_standfirst_is_found_under_the_headline_not_the_logo() -> None:
    page = (
        "<html><head><title>Ferry services cut for winter - Island News</title>"
        '<script type="application/ld+json">'
        '{"@type": "NewsArticle", "headline": "Ferry services cut for winter"}</script></head>'
        "<body><header><h1 class='logo'>Island News</h1></header>"
        "<main><div class='head'><h1>Ferry services cut for winter</h1>"
        "<p class='standfirst'>Two of the four daily crossings will stop from November until March.</p></div>"
        "<div class='body'>"
        + "<p>The operator said passenger numbers fell by a third last winter.</p>" * 12
        + "</div></main></body></html>"
    )
    article = extract(
        Fetched(url="https://news.example.com/ferry", status=200, body=page.encode()), source="t"
    )
    assert article.summary == "Two of the four daily crossings will stop from November until March."
