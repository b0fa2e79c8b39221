"""Matching cost against the number of rules: the engine and a naive baseline, on real article bodies.

Prints one JSON line per configuration:
    {"rules": N, "articles": M, "ms_per_article": x, "build_s": y, "rss_mb": z, "method": "..."}
for N in 10, 100, 1000, 10000, 50000 generated rules over the bodies in ../shared/corpus/articles.

``ms_per_article`` is ``Engine.match_text``, what the pipeline runs on every article: which rules fire. The
hits of a match (offsets, snippets) are worked out when its alert is built, once per alert; the engine
lines give that cost apart, as ``hits_ms_per_match``.

Rules are generated the way analysts write them, from a seeded random source: entities with 1-5 aliases,
rules with 1-3 clauses (all / any / none / near) over entities, terms and any-of lists. Terms are drawn
from the corpus's own vocabulary (the names in it), taken from one half of the articles and measured on
the other: rules written about yesterday's stories, run on today's, so some fire and most do not.
Invented two-word names (pairs of real ones) stand for everything else a large rule set watches for,
which one day's articles never mention. Rules are built as ``Rule`` objects, not YAML, so ``build_s``
is the matcher's compile time alone.

The baseline compiles one regular expression per rule (an alternation of its terms between ``\\b``) and
runs every one on every article, then evaluates the clauses on what it found. At 10k and 50k rules it is
measured on a subset of the articles (the ``articles`` field says how many).

Each configuration runs in a fresh process, so ``rss_mb`` (peak resident memory of that process:
interpreter, corpus, rules and matcher) is not inflated by the previous one.

Every article is matched with the language its page declares (``<html lang>``, as extraction reads it),
none when it declares none, so the engine detects it. ``--multilingual`` measures rules in inflected
languages: a third of them are written in the languages newsmon inflects (ru, uk, de, pl, es, fr, it,
pt), from the words of the corpus's articles in those languages, and the engine reads those articles as
lemmas too.
Its lines carry ``"config": "multilingual"`` and, beside the per-article figure over all articles, the
figure over the non-English ones alone (``ms_per_inflected_article``) and the per-article cost over that
of ten rules of the same kind, measured in turn in the same process (``over_10_rules``).
``lemma_build_s`` is the part of ``build_s`` spent compiling the terms' lemmas in the eight languages
(the engine compiles every language its terms can inflect in when it is built, in a worker thread in
the daemon).

    python benchmarks/matching.py [--sizes 10,100] [--articles N] [--no-naive] [--multilingual]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.matching.engine import Engine  # noqa: E402
from monitor.matching.lemmas import LANGUAGES, base_language  # noqa: E402
from monitor.matching.rules import Group, Near, Rule, Term  # noqa: E402

CORPUS = ROOT.parent / "shared/corpus"
SIZES = (10, 100, 1000, 10_000, 50_000)
NAIVE_ARTICLES = {10_000: 30, 50_000: 8}  # the baseline takes ~1 s per article at 10k rules
SEED = 4


_HTML_LANG = re.compile(rb"<html[^>]*?\slang=[\"']?([A-Za-z_-]+)", re.IGNORECASE)


def load_articles() -> list[dict[str, str]]:
    """Title, body and declared language ("" when the page declares none) of every corpus article."""
    articles = []
    for path in sorted((CORPUS / "articles").glob("*/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("body_text"):
            with gzip.open(path.with_suffix(".html.gz")) as page:
                declared = _HTML_LANG.search(page.read(50_000))
            lang = declared.group(1).decode() if declared else ""
            articles.append({"title": data.get("title") or "", "body": data["body_text"], "lang": lang})
    if not articles:
        sys.exit(f"no articles under {CORPUS / 'articles'}")
    return articles


def inflected(article: dict[str, str]) -> bool:
    return base_language(article["lang"]) in LANGUAGES


def foreign_vocabulary(articles: list[dict[str, str]]) -> list[str]:
    """What the English vocabulary is, from the articles in inflected languages: words of five letters or
    more and two-word phrases, each in one article (rules name things, not "however"), written in the form
    that article used; and ten invented pairs of them for each."""
    word = re.compile(r"\b[^\W\d_]{5,}(?: [^\W\d_]{5,})?\b")
    documents: Counter[str] = Counter()
    for article in articles:
        documents.update(set(word.findall(article["body"])))
    vocab = sorted(t for t, n in documents.items() if n == 1)
    singles = [t for t in vocab if " " not in t]
    rng = random.Random(SEED)
    invented = {f"{rng.choice(singles)} {rng.choice(singles)}" for _ in range(10 * len(vocab))}
    return sorted({*vocab, *invented})


def vocabulary(articles: list[dict[str, str]]) -> list[str]:
    """Names (capitalized 1-3-grams that are not just sentence-initial common words), each in at most 2%
    of the articles: rules name specific things; a rule on "Government" or "However" would fire on much
    of the corpus, which no analyst keeps."""
    name = re.compile(r"\b[A-Z][a-z]{2,}(?: [A-Z][a-z]{2,}){0,2}\b")
    lower: Counter[str] = Counter()
    names: Counter[str] = Counter()
    documents: Counter[str] = Counter()  # in how many articles a word or name occurs
    for article in articles:
        words = re.findall(r"\b[a-z]{3,}\b", article["body"])
        found = name.findall(article["body"])
        lower.update(words)
        names.update(found)
        documents.update({*words, *found})
    vocab = sorted(n for n in names if (" " in n or lower[n.lower()] < names[n]))
    vocab = [t for t in vocab if documents[t] <= len(articles) // 50]
    # A real rule set names far more things than one day's articles mention: pair single names into
    # plausible ones that rarely occur ("Jordan Webb"), ten for every name from the corpus.
    singles = [t for t in vocab if " " not in t]
    rng = random.Random(SEED)
    invented = {f"{rng.choice(singles)} {rng.choice(singles)}" for _ in range(10 * len(vocab))}
    return sorted({*vocab, *invented})


def generate_rules(n: int, vocab: list[str], rng: random.Random) -> list[Rule]:
    entities: list[Group] = []
    for i in range(max(1, n // 2)):
        aliases = rng.sample(vocab, rng.randint(1, 5))
        entities.append(tuple(Term(a, f"e{i}") for a in aliases))

    def element() -> Group:
        roll = rng.random()
        if roll < 0.5:
            return rng.choice(entities)
        if roll < 0.8:
            return (Term(rng.choice(vocab)),)
        return tuple(Term(t) for t in rng.sample(vocab, rng.randint(2, 4)))

    rules = []
    for i in range(n):
        clauses: dict[str, Any] = {}
        kinds = rng.sample(["none", "near", "extra"], rng.randint(0, 2))
        if rng.random() < 0.6:
            clauses["all"] = tuple(element() for _ in range(rng.randint(1, 2)))
        else:
            clauses["any"] = tuple(element() for _ in range(rng.randint(1, 3)))
        if "extra" in kinds and "all" in clauses:
            clauses["any"] = (element(),)
        if "none" in kinds:
            clauses["none"] = (element(),)
        if "near" in kinds:
            clauses["near"] = Near((element(), element()), words=rng.choice([5, 10, 30]))
        rules.append(Rule(id=f"r{i}", title=f"rule {i}", **clauses))
    return rules


class NaiveMatcher:
    """One regular expression per rule, every rule tried on every article."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = []
        for rule in rules:
            groups = [*rule.all, *rule.any, *rule.none, *(rule.near.terms if rule.near else ())]
            terms = sorted({t.text for g in groups for t in g}, key=len, reverse=True)
            pattern = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")s?\b", re.IGNORECASE)
            self.rules.append((rule, pattern))

    def match(self, article: dict[str, str]) -> list[str]:
        text = article["title"] + "\n" + article["body"]
        fired = []
        for rule, pattern in self.rules:
            found = {m.group().lower().removesuffix("s") for m in pattern.finditer(text)}
            if not found:
                continue

            def hit(group: Group, found: set[str] = found) -> bool:
                return any(t.text.lower().removesuffix("s") in found for t in group)

            if (
                all(hit(g) for g in rule.all)
                and (not rule.any or any(hit(g) for g in rule.any))
                and not any(hit(g) for g in rule.none)
                and (rule.near is None or all(hit(g) for g in rule.near.terms))
            ):
                fired.append(rule.id)
        return fired


def rules_for(size: int, corpus: list[dict[str, str]], multilingual: bool) -> list[Rule]:
    rng = random.Random(SEED)
    rules = generate_rules(size, vocabulary(corpus[::2]), rng)
    if not multilingual:
        return rules
    foreign = foreign_vocabulary([a for a in corpus[::2] if inflected(a)])
    return rules[: size - size // 3] + [
        replace(r, id=f"f{r.id}") for r in generate_rules(size // 3, foreign, rng)
    ]


def measure(size: int, method: str, limit: int | None, multilingual: bool) -> dict[str, Any]:
    corpus = load_articles()
    articles = corpus[1::2]
    rules = rules_for(size, corpus, multilingual)
    started = time.perf_counter()
    matcher: Any = Engine(rules) if method == "engine" else NaiveMatcher(rules)
    build = time.perf_counter() - started
    lemma_build = sum(matcher.compile_seconds.values()) if method == "engine" else 0.0
    if method == "naive":
        articles = articles[: NAIVE_ARTICLES.get(size, len(articles))]
    if limit:
        articles = articles[:limit]
    fired = 0
    elapsed = float("inf")
    # Best of a few passes: the figure to compare is the matcher's cost, not the machine's other load.
    # The first pass also fills the word -> lemma caches, as the first hours of a daemon's run do.
    for _ in range(3 if method == "engine" else 1):
        fired = 0
        started = time.perf_counter()
        for article in articles:
            fired += len(engine_match(matcher, article) if method == "engine" else matcher.match(article))
        elapsed = min(elapsed, time.perf_counter() - started)
    extra: dict[str, Any] = {}
    if method == "engine":
        extra["hits_ms_per_match"] = hits_cost(matcher, articles)
    if multilingual:
        extra["config"] = "multilingual"
        extra["ms_per_inflected_article"] = per_article_ms(matcher, [a for a in articles if inflected(a)])
        if method == "engine":
            extra["over_10_rules"] = over_ten_rules(matcher, rules_for(10, corpus, multilingual), articles)
    return {
        "rules": size,
        "articles": len(articles),
        "ms_per_article": round(elapsed * 1000 / len(articles), 3),
        "build_s": round(build, 3),
        "lemma_build_s": round(lemma_build, 3),
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "method": (
            "engine: terms found word by word (a trie of words), then only the rules whose terms hit"
            if method == "engine"
            else "naive: one compiled regex per rule, every rule run on every article"
        ),
        "fired_per_article": round(fired / len(articles), 2),
        **extra,
    }


def engine_match(engine: Engine, article: dict[str, str]) -> list[Any]:
    fields = {"title": article["title"], "body": article["body"]}
    return engine.match_text(fields, "", article["lang"] or None)


def per_article_ms(engine: Engine, articles: list[dict[str, str]]) -> float:
    """Best of three passes, as for the main figure."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for article in articles:
            engine_match(engine, article)
        best = min(best, time.perf_counter() - started)
    return round(best * 1000 / len(articles), 3)


def over_ten_rules(engine: Engine, ten: list[Rule], articles: list[dict[str, str]]) -> float:
    """Per-article cost of ``engine`` over that of the same configuration's ten rules, passes taken in
    turn in this process so that the machine's other load weighs on both alike. Each article counts
    with its fastest of five passes: a burst of other load on a shared machine lands on a few articles
    of one pass, not on the whole of it."""
    small = Engine(ten)
    best = {id(engine): [float("inf")] * len(articles), id(small): [float("inf")] * len(articles)}
    for _ in range(5):
        for matcher in (engine, small):
            fastest = best[id(matcher)]
            for index, article in enumerate(articles):
                started = time.perf_counter()
                engine_match(matcher, article)
                fastest[index] = min(fastest[index], time.perf_counter() - started)
    return round(sum(best[id(engine)]) / sum(best[id(small)]), 2)


def hits_cost(engine: Engine, articles: list[dict[str, str]]) -> float | None:
    """Milliseconds to read the hits of one match: the part of a firing rule's cost paid per alert."""
    matches = [m for article in articles for m in engine_match(engine, article)]
    started = time.perf_counter()
    for match in matches:
        _ = match.hits
    return round((time.perf_counter() - started) * 1000 / len(matches), 3) if matches else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="rule counts, comma-separated")
    parser.add_argument("--articles", type=int, help="at most this many articles per configuration")
    parser.add_argument("--no-naive", action="store_true", help="skip the baseline")
    parser.add_argument(
        "--multilingual", action="store_true", help="a third of the rules in inflected languages"
    )
    parser.add_argument("--child", nargs=2, metavar=("SIZE", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = measure(int(args.child[0]), args.child[1], args.articles, args.multilingual)
        print(json.dumps(figures), flush=True)
        return
    methods = ["engine"] if args.no_naive else ["engine", "naive"]
    for size in (int(s) for s in args.sizes.split(",")):
        for method in methods:
            command = [sys.executable, __file__, "--child", str(size), method]
            if args.articles:
                command += ["--articles", str(args.articles)]
            if args.multilingual:
                command.append("--multilingual")
            subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
