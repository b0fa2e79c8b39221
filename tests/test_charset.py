"""Pages that declare no charset at all (no BOM, no HTTP charset, no <meta>) and are not UTF-8."""

from __future__ import annotations

import pytest

from monitor.crawl.charset import decode_html
from monitor.extract import extract
from monitor.model import Fetched

UKRAINIAN = (
    "Київ, 3 грудня. Президент України заявив, що переговори з партнерами щодо постачання систем"
    " протиповітряної оборони тривають і що перші батареї прибудуть до кінця зими.",
    "Міністр енергетики повідомив, що після нічної атаки без світла залишилися понад двісті тисяч"
    " споживачів у Харківській та Дніпропетровській областях.",
)
RUSSIAN = (
    "Москва, 3 декабря. Центральный банк России сохранил ключевую ставку на прежнем уровне, сообщила"
    " пресс-служба регулятора после заседания совета директоров.",
    "Аналитики ожидают, что инфляция замедлится к весне, однако рост цен на продовольствие и топливо"
    " остаётся главным риском для экономики в ближайшие месяцы.",
)
CHINESE = (
    "北京12月3日电 国家统计局周一公布的数据显示，今年前三季度国内生产总值同比增长百分之五，"
    "其中第三季度增速较上一季度有所回升。",
    "专家表示，经济复苏势头仍需巩固，下一阶段应继续扩大国内需求，稳定就业和物价，推动重点领域改革。",
)
FRENCH = (
    "Paris, le 3 décembre. Le gouvernement a présenté mercredi un projet de loi sur l'énergie, après"
    " des mois de négociations difficiles avec les syndicats et les élus régionaux.",
    "Selon le ministre, la réforme entrera en vigueur dès l'été prochain ; l'opposition dénonce déjà"
    " un texte « déséquilibré » et réclame un débat à l'Assemblée.",
)


def legacy_page(title: str, paragraphs: tuple[str, ...]) -> str:
    # An older CMS template: no charset anywhere, a menu, the story, a footer.
    body = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    return (
        f"<html><head><title>{title}</title></head><body>"
        '<div id="menu"><a href="/">Home</a> | <a href="/news">News</a></div>'
        f'<div id="content"><h1>{title}</h1>\n{body}</div>'
        '<div id="footer">(c) 2009</div></body></html>'
    )


@pytest.mark.parametrize(
    ("encoding", "title", "paragraphs"),
    [
        ("windows-1251", "Переговори щодо ППО тривають", UKRAINIAN),
        ("koi8-r", "Банк России сохранил ставку", RUSSIAN),
        ("gb2312", "前三季度经济同比增长百分之五", CHINESE),
        ("windows-1252", "Énergie : le projet de loi présenté", FRENCH),
    ],
)
def test_undeclared_legacy_charset_is_detected(
    encoding: str, title: str, paragraphs: tuple[str, ...]
) -> None:
    html = legacy_page(title, paragraphs)
    raw = html.encode(encoding)
    assert decode_html(raw, None) == html
    article = extract(Fetched(url="http://news.test/a", status=200, body=raw), source="t")
    assert article.title == title
    for paragraph in paragraphs:
        assert paragraph in article.body


def test_short_undeclared_page_still_decodes() -> None:
    # A one-line page gives the detector little to go on; a single Cyrillic sentence is still enough.
    html = "<p>Новости дня: в Одессе открылся новый порт.</p>"
    assert decode_html(html.encode("windows-1251"), None) == html


def test_declared_charset_is_not_second_guessed() -> None:
    # The declaration wins over what the bytes look like: KOI8-R bytes labelled windows-1251 stay so.
    raw = "<p>Банк России</p>".encode("koi8-r")
    assert decode_html(raw, "windows-1251") == raw.decode("windows-1251")
