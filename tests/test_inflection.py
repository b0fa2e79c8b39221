"""Inflected forms of rule terms in Russian, Ukrainian, German, Polish, Spanish, French, Italian and
Portuguese: each language with a term found in several grammatical forms, and a near miss that must stay
one. Also the guards: no inflection across languages, for exact or case-sensitive terms, or in English."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.matching.engine import Engine
from monitor.matching.lemmas import article_language, base_language, script_languages
from monitor.matching.rules import rules_from_text
from monitor.matching.text import term_spans
from monitor.model import Article


def found(term: str, text: str, lang: str | None) -> list[str]:
    """What a rule with this one term (YAML flow syntax) found in ``text`` as an article in ``lang``:
    the text of each hit, empty when the rule did not fire."""
    engine = Engine(rules_from_text(f"rules: [{{id: r, any: [{term}]}}]").rules)
    matches = engine.match_text({"body": text}, "", lang)
    return [text[h.start : h.end] for m in matches for h in m.hits]


# (language, term, [(sentence with an inflected form, the hit)], [near misses])
CASES = [
    (
        "ru",
        "северокорейские войска",
        [
            ("Переброска северокорейских войск подтверждена.", "северокорейских войск"),  # genitive plural
            ("Бои с северокорейскими войсками продолжаются.", "северокорейскими войсками"),  # instrumental
            ("Приказ был отдан северокорейским войскам.", "северокорейским войскам"),  # dative
        ],
        ["Южнокорейские войска провели учения.", "Северокорейские войсковые части прибыли."],
    ),
    (
        "ru",
        "Курская область",
        [
            ("Обстрел в Курской области продолжается.", "Курской области"),  # prepositional
            ("Губернатор посетил Курскую область.", "Курскую область"),  # accusative
            ("Над Курской областью сбиты дроны.", "Курской областью"),  # instrumental
        ],
        ["В Курской областной больнице раненые."],
    ),
    (
        "uk",
        "північнокорейські війська",
        [
            ("Перекидання північнокорейських військ підтвердили.", "північнокорейських військ"),  # genitive
            (
                "Бої з північнокорейськими військами тривають.",
                "північнокорейськими військами",
            ),  # instrumental
            ("Наказ віддали північнокорейським військам.", "північнокорейським військам"),  # dative
        ],
        ["Південнокорейські війська провели навчання."],
    ),
    (
        "uk",
        "Київ",  # "києві" is also a form of "кий" (a cue): every reading of an article's word counts
        [
            ("Вибухи пролунали у Києві вночі.", "Києві"),  # locative
            ("Мер Києва попередив про загрозу.", "Києва"),  # genitive
            ("Під Києвом збили дрон.", "Києвом"),  # instrumental
        ],
        ["Більярдний кий зламався."],
    ),
    (
        "ru",
        "Песков",  # the term is the surname as written, not a form of "песок" (sand)
        [
            ("Заявление Пескова прозвучало утром.", "Пескова"),  # genitive
            ("Журналисты поговорили с Песковым.", "Песковым"),  # instrumental
            ("Вопрос задали Пескову.", "Пескову"),  # dative
        ],
        ["Дорогу засыпало песком.", "Мешки с песком сложили у входа."],
    ),
    (
        "de",
        "nordkoreanische Truppen",
        [
            ("Der Einsatz nordkoreanischer Truppen ist bestätigt.", "nordkoreanischer Truppen"),  # genitive
            ("Kämpfe mit den nordkoreanischen Truppen dauern an.", "nordkoreanischen Truppen"),  # dative
            ("Eine nordkoreanische Truppe wurde gesichtet.", "nordkoreanische Truppe"),  # nominative singular
        ],
        ["Südkoreanische Truppen übten an der Grenze.", "südkoreanischen Truppen"],
    ),
    (
        "de",
        "Marschflugkörper",
        [
            ("Angriffe mit Marschflugkörpern auf Kiew.", "Marschflugkörpern"),  # dative plural
            ("Die Reichweite des Marschflugkörpers ist groß.", "Marschflugkörpers"),  # genitive
            ("Die Ukraine erhält Marschflugkörper.", "Marschflugkörper"),  # accusative plural, as written
        ],
        ["Die Marschflugkörperabwehr wurde verstärkt."],
    ),
    (
        "pl",
        "północnokoreańskie wojska",
        [
            ("Obecność północnokoreańskich wojsk potwierdzono.", "północnokoreańskich wojsk"),  # genitive
            ("Walki z północnokoreańskimi wojskami trwają.", "północnokoreańskimi wojskami"),  # instrumental
            ("Rozkaz wydano północnokoreańskim wojskom.", "północnokoreańskim wojskom"),  # dative
        ],
        ["Południowokoreańskie wojska ćwiczą na granicy."],
    ),
    (
        "pl",
        "obwód kurski",  # the stem alternates: obwód, obwodu, obwodzie
        [
            ("Walki trwają w obwodzie kurskim.", "obwodzie kurskim"),  # locative
            ("Rosja wysłała wojska do obwodu kurskiego.", "obwodu kurskiego"),  # genitive
            ("Drony nad obwodem kurskim zestrzelono.", "obwodem kurskim"),  # instrumental
        ],
        ["Ukraina kontroluje część obwodu biełgorodzkiego."],
    ),
    (
        "pl",
        "żołnierze północnokoreańscy",  # -scy in the nominative plural, -sk- elsewhere
        [
            ("Wywiad potwierdził obecność żołnierzy północnokoreańskich.", "żołnierzy północnokoreańskich"),
            ("Z żołnierzami północnokoreańskimi walczą Ukraińcy.", "żołnierzami północnokoreańskimi"),
            ("Żołnierzom północnokoreańskim brakuje sprzętu.", "Żołnierzom północnokoreańskim"),
        ],
        ["Żołnierze południowokoreańscy ćwiczą."],
    ),
    (
        "es",
        "tropas norcoreanas",
        [
            ("Se vio una tropa norcoreana cerca del frente.", "tropa norcoreana"),  # singular
            ("Llegaron más tropas norcoreanas.", "tropas norcoreanas"),  # plural, as written
            ("Soldados y tropas norcoreanos avanzan.", "tropas norcoreanos"),  # masculine agreement
        ],
        ["Las tropas surcoreanas hicieron maniobras."],
    ),
    (
        "fr",
        "troupes nord-coréennes",
        [
            ("Une troupe nord-coréenne a été vue près du front.", "troupe nord-coréenne"),  # singular
            ("Des troupes nord coréennes sont arrivées.", "troupes nord coréennes"),  # plural, spaced
            ("Un contingent de troupe nord-coréen.", "troupe nord-coréen"),  # masculine agreement
        ],
        ["Les troupes sud-coréennes manœuvrent."],
    ),
    (
        "it",
        "truppe nordcoreane",
        [
            ("Una truppa nordcoreana è stata vista al fronte.", "truppa nordcoreana"),  # singular
            ("Le truppe nordcoreane sono arrivate.", "truppe nordcoreane"),  # plural, as written
            ("Attacchi delle truppe Nordcoreane.", "truppe Nordcoreane"),  # capitalised
        ],
        ["Le truppe sudcoreane si esercitano."],
    ),
    (
        "es",
        "central nuclear",  # Snowball reads "-ar" as a verb ending: "nuclear" and "nucleares" part
        [
            ("Las centrales nucleares están seguras.", "centrales nucleares"),  # plural
            ("La central nuclear de Zaporiyia.", "central nuclear"),  # as written
            ("Ataques cerca de la Central Nuclear.", "Central Nuclear"),  # capitalised
        ],
        ["Una central térmica fue atacada."],
    ),
    (
        "it",
        "soldato nordcoreano",  # Snowball reads "-ano" as a verb ending
        [
            ("Due soldati nordcoreani sono stati catturati.", "soldati nordcoreani"),  # plural
            ("Un soldato nordcoreano è stato catturato.", "soldato nordcoreano"),  # as written
            ("Le armi del soldato Nordcoreano.", "soldato Nordcoreano"),  # capitalised
        ],
        ["Un soldato sudcoreano è stato ferito."],
    ),
    (
        "it",
        "esercito russo",
        [
            ("Le perdite dell'esercito russo aumentano.", "dell'esercito russo"),  # elided preposition
            ("Gli eserciti russi avanzano.", "eserciti russi"),  # plural
            ("Avanza l’esercito russo.", "l’esercito russo"),  # typographic apostrophe
        ],
        ["L'esercito ucraino resiste."],
    ),
    (
        "pt",
        "tropas norte-coreanas",
        [
            ("Uma tropa norte-coreana foi vista perto da frente.", "tropa norte-coreana"),  # singular
            ("As tropas norte-coreanas chegaram.", "tropas norte-coreanas"),  # plural, as written
            ("Soldados e tropas norte-coreanos avançam.", "tropas norte-coreanos"),  # masculine agreement
        ],
        ["As tropas sul-coreanas fizeram manobras."],
    ),
    (
        "pt",
        "míssil balístico",  # plurals that rewrite the ending: míssil, mísseis
        [
            ("O lançamento de mísseis balísticos preocupa.", "mísseis balísticos"),  # plural
            ("Um míssil balístico caiu no mar.", "míssil balístico"),  # as written
            ("Os Mísseis Balísticos foram exibidos.", "Mísseis Balísticos"),  # capitalised
        ],
        ["O míssil de cruzeiro caiu.", "A missão balística foi adiada."],
    ),
    (
        "fr",
        "armées russes",
        [
            ("Les pertes de l'armée russe augmentent.", "l'armée russe"),  # elided article, singular
            ("Les armées russes avancent.", "armées russes"),  # as written
            ("Face à l’Armée russe.", "l’Armée russe"),  # typographic apostrophe, capitalised
        ],
        ["L'armée ukrainienne résiste."],
    ),
]


@pytest.mark.parametrize(
    ("lang", "term", "sentence", "hit"),
    [(lang, term, *positive) for lang, term, positives, _ in CASES for positive in positives],
)
def test_a_term_matches_its_inflected_forms(lang: str, term: str, sentence: str, hit: str) -> None:
    # The hit is the whole phrase as the article wrote it, not the term.
    assert found(term, sentence, lang) == [hit]


@pytest.mark.parametrize(
    ("lang", "term", "sentence"),
    [(lang, term, s) for lang, term, _, negatives in CASES for s in negatives],
)
def test_a_near_miss_stays_a_miss(lang: str, term: str, sentence: str) -> None:
    assert found(term, sentence, lang) == []


def test_the_hit_is_the_inflected_phrase_and_the_snippet_holds_it() -> None:
    text = "Вчера вечером. Бои с северокорейскими войсками продолжаются."
    engine = Engine(rules_from_text("rules: [{id: r, any: [северокорейские войска]}]").rules)
    (match,) = engine.match_text({"body": text}, "", "ru")
    (hit,) = match.hits
    assert text[hit.start : hit.end] == "северокорейскими войсками"
    assert hit.snippet == "Бои с северокорейскими войсками продолжаются."
    assert [hit.snippet[s:e] for s, e in term_spans(hit.snippet, hit.term)] == ["северокорейскими войсками"]


def test_explain_says_which_lemmas_matched() -> None:
    engine = Engine(rules_from_text("rules: [{id: r, any: [Курская область, Курск]}]").rules)
    (explained,) = engine.explain_text({"body": "Курск и Курской области."}, "", "ru")
    assert [h.term for h in explained.hits] == ["Курск", "Курская область"]
    assert explained.lemmas == (None, "курский область")


def test_rules_test_prints_matched_via_lemma(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text("rules: [{id: kursk, any: [Курская область]}]\n", encoding="utf-8")
    page = '<html lang="ru"><head><title>Сводка</title></head><body><article><h1>Сводка за день</h1>'
    page += "<p>" + "Обстрел в Курской области продолжается третий день подряд. " * 12 + "</p>"
    (tmp_path / "a.html").write_text(page + "</article></body></html>", encoding="utf-8")
    args = ["rules", "test", "--rules", str(tmp_path / "r.yaml"), "--file", str(tmp_path / "a.html")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "✔ kursk" in out
    assert "'Курская область' (matched via lemma 'курский область'): Обстрел в Курской области" in out


# -- no new false matches --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("term", "text", "lang"),
    [
        # Opted out: only the forms as written (and the plural/possessive of every term).
        ("{term: Marschflugkörper, exact: true}", "Angriffe mit Marschflugkörpern.", "de"),
        ("{term: Курская область, exact: true}", "в Курской области", "ru"),
        # Case-sensitive terms keep the exact spelling.
        ("{term: Truppe, case: sensitive}", "mit den Truppen", "de"),
        ("ВСУ", "всу", "ru"),
        # The term says it is German: a Spanish article is not read as German.
        ("{term: Marschflugkörper, lang: de}", "Ataques con Marschflugkörpern.", "es"),
        # An English term is not inflected: nothing is, in an English article.
        ("{term: troop, lang: en}", "Truppen der Armee.", "de"),
        ("Marschflugkörper", "Attacks with Marschflugkörpern.", "en"),
        # Cyrillic terms are Russian or Ukrainian: a Russian term does not take Ukrainian forms.
        ("{term: Курская область, lang: ru}", "Обстріл у Курській області.", "uk"),
        # Latin-script terms are not read as Russian, whatever the article.
        ("Putin", "Заявление Путина.", "ru"),
        # A country is no form of its adjective ("-ia" keeps its "i").
        ("{term: Russia, lang: it}", "L'esercito russo avanza.", "it"),
        # A stressed final vowel is a verb's, not a noun's ending.
        ("{term: sanción, lang: es}", "El gobierno sancionó a tres empresas.", "es"),
        ("{term: attacco, lang: it}", "L'esercito attaccò all'alba.", "it"),
        # A city named as written is not the plural of a common noun.
        ("{term: Суми, lang: uk}", "Сума допомоги зросла.", "uk"),
    ],
)
def test_no_inflection_where_it_does_not_belong(term: str, text: str, lang: str) -> None:
    assert found(term, text, lang) == []


def test_a_rule_lang_applies_to_its_own_terms() -> None:
    rules = "rules: [{id: r, lang: de, any: [Marschflugkörper]}]"
    engine = Engine(rules_from_text(rules).rules)
    assert [m.rule_id for m in engine.match_text({"body": "mit Marschflugkörpern"}, "", "de")] == ["r"]
    assert engine.match_text({"body": "con Marschflugkörpern"}, "", "es") == []


def test_phrase_words_must_be_adjacent() -> None:
    assert found("северокорейские войска", "северокорейскими, войсками", "ru") == []
    assert found("северокорейские войска", "войсками северокорейскими", "ru") == []


# -- the article's language ------------------------------------------------------------------------------
RUSSIAN = "Бои с северокорейскими войсками продолжаются в Курской области, сообщил Генштаб в четверг утром."


def test_an_untagged_article_is_read_in_the_language_its_text_is_in() -> None:
    assert found("северокорейские войска", RUSSIAN, None) == ["северокорейскими войсками"]


def test_the_page_tag_wins_over_the_text() -> None:
    assert found("северокорейские войска", RUSSIAN, "en") == []
    assert found("северокорейские войска", RUSSIAN, "ru-RU") == ["северокорейскими войсками"]


def test_engine_match_reads_the_article_language() -> None:
    engine = Engine(rules_from_text("rules: [{id: r, any: [Marschflugkörper]}]").rules)
    article = Article(url="u", source="s", title="", body="Angriffe mit Marschflugkörpern.", language="de-AT")
    assert [m.rule_id for m in engine.match(article)] == ["r"]


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("de-AT", "de"), ("pt_BR", "pt"), ("RU", "ru"), ("ua", "uk"), ("en-US", None), ("nl", None), ("", None)],
)
def test_base_language(tag: str, expected: str | None) -> None:
    assert base_language(tag) == expected


def test_detection_answers_only_when_sure() -> None:
    assert article_language(None, "Kursk.") is None  # too short to tell
    assert article_language(None, RUSSIAN) == "ru"
    assert article_language("fr", RUSSIAN) == "fr"


def test_script_languages() -> None:
    assert script_languages("Курская область") == ("ru", "uk")
    assert "de" in script_languages("Marschflugkörper")
    assert script_languages("中国") == ()


def test_lang_on_a_regular_expression_is_warned_about() -> None:
    rules = rules_from_text("rules:\n  - id: r\n    any: [{re: 'F-?16', lang: de}]\n", "rules.yaml")
    assert [str(p) for p in rules.warnings] == [
        "rules.yaml:3:31: warning: 'lang' has no effect on a regular expression"
    ]


def test_every_language_is_compiled_with_the_engine_not_on_an_article(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first article in a language must not wait for its automaton (the daemon builds the engine in
    a worker thread; a match runs on the event loop)."""
    caplog.set_level("INFO", logger="newsmon.matching")
    rules = "rules: [{id: r, any: [Marschflugkörper, {term: войска, lang: ru}]}]"
    engine = Engine(rules_from_text(rules).rules)
    compiled = [r for r in caplog.records if r.getMessage() == "inflected_forms_compiled"]
    assert sorted((r.lang, r.keys) for r in compiled) == [  # type: ignore[attr-defined]
        ("de", 1),
        ("es", 1),
        ("fr", 1),
        ("it", 1),
        ("pl", 1),
        ("pt", 1),
        ("ru", 1),
    ]
    assert set(engine.compile_seconds) == {"de", "es", "fr", "it", "pl", "pt", "ru"}
    caplog.clear()
    assert engine.match_text({"body": "mit Marschflugkörpern"}, "", "de")
    assert engine.match_text({"body": "северокорейскими войсками"}, "", "ru")
    assert not [r for r in caplog.records if r.getMessage() == "inflected_forms_compiled"]


def test_polish_without_its_dictionary_falls_back_to_stems_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Where morfeusz2 has no wheel (Linux on ARM) it is not installed: Polish terms still match their
    regular forms, and the operator is told what is missing."""
    from monitor.matching import lemma_stream, polish

    monkeypatch.setitem(sys.modules, "morfeusz2", None)  # what an import on such a machine finds
    polish._analyser.cache_clear()
    monkeypatch.setattr(lemma_stream, "_first", {})
    monkeypatch.setattr(lemma_stream, "_all", {})
    try:
        assert found("północnokoreańskie wojska", "Walki z północnokoreańskimi wojskami.", "pl")
        assert "polish_dictionary_missing" in [r.getMessage() for r in caplog.records]
    finally:
        polish._analyser.cache_clear()


@pytest.mark.parametrize(
    ("term", "text", "lang"),
    [
        ("OTAN", "Le sommet de l'OTAN s'ouvre.", "fr"),  # an all-caps acronym is case-sensitive
        ("OTAN", "Le sommet de l’OTAN s’ouvre.", None),
        ("UE", "Le sanzioni dell'UE entrano in vigore.", "it"),
        ("{term: Ukraine, case: sensitive}", "Aide militaire à l'Ukraine.", "fr"),
    ],
)
def test_an_elided_article_does_not_hide_a_term_matched_as_written(
    term: str, text: str, lang: str | None
) -> None:
    (hit,) = found(term, text, lang)
    assert hit.endswith(term.split(",")[0].removeprefix("{term: "))


def test_english_rules_do_not_load_the_polish_dictionary() -> None:
    """Latin-script terms with no ``lang`` are read in Polish articles by their stems: a daemon whose rules
    are English does not carry Morfeusz's ~35 MB, yet still matches their regular Polish forms."""
    import subprocess

    script = (
        "import sys\n"
        "from monitor.matching.engine import Engine\n"
        "from monitor.matching.rules import rules_from_text\n"
        "engine = Engine(rules_from_text('rules: [{id: r, any: [Kursk, Rosja]}]').rules)\n"
        "print('morfeusz2' in sys.modules)\n"
        "print(bool(engine.match_text({'body': 'Sankcje wobec Rosji.'}, '', 'pl')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
