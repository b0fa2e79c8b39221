"""Italian, Spanish and Portuguese words to the form their noun and adjective inflections share.

In these languages a noun or adjective inflects by its ending alone: gender and number change the last
vowel ("nordcoreano", "nordcoreana", "nordcoreani", "nordcoreane"), plurals add "-s"/"-es" and rewrite a
few endings ("míssil" / "mísseis", "ação" / "ações", "vez" / "veces"). The Snowball stemmers read some of
the same endings as verb endings ("-ano", "-are", "-ar" are verb forms) and so split one adjective's
forms between two stems ("nordcoreano" -> "nordcor", "nordcoreani" -> "nordcorean"; Spanish "nuclear" ->
"nucl", "nucleares" -> "nuclear"), or miss the rewritten plurals. The light stemmers of J. Savoy (Report
on CLEF-2001 Experiments; the "light" stemmers of Lucene and Elasticsearch) undo only those endings; no
maintained Python package implements them, so they are written out here from the published rules.
Verbs are not conflated: a rule's terms are names and noun phrases. ``benchmarks/lemmatizers.py``
measures them against Snowball and dictionary lemmas.
"""

from __future__ import annotations

# A word shorter than this keeps its ending: "re", "gas" and the like have nothing to undo.
_MIN_LENGTH = 4
_ITALIAN_ACCENTS = str.maketrans("àáèéìíòóù", "aaeeiioou")
# A stressed final vowel is written with an accent: no gender or number ending to undo there.
_STRESSED = frozenset("àáèéìíòóù")
# Spanish plurals and feminines move the written accent ("avión", "aviones"; "alemán", "alemana").
_SPANISH_ACCENTS = str.maketrans("áéíóúü", "aeiouu")
_PORTUGUESE_PLURALS = (
    ("ões", "ão"),
    ("ães", "ão"),
    ("ãos", "ão"),
    ("ãs", "ã"),
    ("ais", "al"),
    ("éis", "el"),
    ("eis", "el"),
    ("óis", "ol"),
    ("res", "r"),
    ("zes", "z"),
    ("ses", "s"),
    ("ns", "m"),
    ("is", "il"),
)


def italian(word: str) -> str:
    """The stem of an Italian word: the gender and number vowel off ("-o -a -i -e"), with the "i" of
    "-io" and the "h" of "-chi/-ghe" that belong to it."""
    if len(word) < _MIN_LENGTH or word[-1] in _STRESSED:  # "città", and verbs: "attaccò" is no "attacco"
        return word.translate(_ITALIAN_ACCENTS)
    word = word.translate(_ITALIAN_ACCENTS)
    last, before = word[-1], word[-2]
    # "-io" plurals are "-i" ("esercizio", "esercizi"). "-ia" keeps its "i", as "-ie" does: "Russia" is no
    # form of "russo", though "provincia" and "province" then part.
    if (last == "i" and before in "ih") or (last == "e" and before == "h") or (last == "o" and before == "i"):
        return word[:-2]
    if last in "aeio":
        return word[:-1]
    return word


def spanish(word: str) -> str:
    """The stem of a Spanish word: accents off, the plural undone ("veces" -> "vez", "centrales" ->
    "central", "tropas" -> "tropa"), then the gender vowel off."""
    if len(word) < _MIN_LENGTH or word[-1] in _STRESSED:  # verbs: "sancionó" is no "sanción"
        return word.translate(_SPANISH_ACCENTS)
    word = word.translate(_SPANISH_ACCENTS)
    if word.endswith("ces"):
        word = word[:-3] + "z"
    elif word.endswith("es") and word[-3] not in "aeiou":
        word = word[:-2]
    elif word[-1] == "s" and word[-2] in "aeo":  # "país", "crisis" are singular
        word = word[:-1]
    if len(word) >= _MIN_LENGTH and word[-1] in "aoe":
        word = word[:-1]
    return word


def portuguese(word: str) -> str:
    """The stem of a Portuguese word: the plural undone ("mísseis" -> "míssel", "ações" -> "ação"),
    then the gender vowel off; "-il" and "-ã" read as "-el" and "-ão" so both numbers meet."""
    if len(word) < _MIN_LENGTH:
        return word
    for plural, singular in _PORTUGUESE_PLURALS:
        if word.endswith(plural) and len(word) > len(plural) + 1:
            word = word[: -len(plural)] + singular
            break
    else:
        if word[-1] == "s" and word[-2] in "aeo":  # "países" is "país" by the rule above
            word = word[:-1]
    if word.endswith("il"):
        word = word[:-2] + "el"
    elif word.endswith("ã"):
        word += "o"
    if len(word) >= _MIN_LENGTH and word[-1] in "aoe":
        word = word[:-1]
    return word
