"""Shared by the benchmark scripts: the synthetic vocabulary, rule generation with ground truth, the
hand-written baseline matcher, a client for a simulator running in its own process, and output helpers.

Everything is deterministic from a seed, so the simulator (which plants keywords in articles) and the
benchmarks (which write rules over the same keywords) agree without talking to each other.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import ahocorasick
import aiohttp
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent

# Ordinary English words for filler text. None of them is, or contains as a whole word, a rule term.
FILLER = (  # noqa: SIM905 - a word list reads best as text
    "the of and to in a is that for it as was with be by on not he this are or his from at which but "
    "have an they you were her she there been one all we their has would when if so no will more can "
    "about said out up them some could what into than its time only other new now people years also "
    "after first two way because over many before must through back where most much should well even "
    "made still both between under never another while last might great since against right three "
    "states during without place around however home small found part early general later local level "
    "side week city public council report officials statement plans program members director market "
    "figures growth budget review board summer winter morning evening region district residents schools "
    "roads bridge harbour station rail service health hospital doctors nurses patients water power grid "
    "prices costs wages workers company shares investors analysts quarter profit revenue demand supply "
    "talks meeting leaders minister government parliament committee court judge lawyers case hearing "
    "police officers spokesperson agency department research study data results survey experts scientists "
    "university students teachers weather storm rain snow heat temperatures season crops farmers harvest "
    "festival music film theatre museum gallery artist team match season coach players league fans "
    "stadium goal points record travel airport flights passengers tourism hotel visitors community "
    "volunteers charity donations families children parents housing rents buildings construction project "
    "funding contract technology software network users internet phones devices energy oil gas coal wind "
    "solar carbon emissions climate environment forest river coast island mountain valley village town"
).split()

# Real news topics: rule terms that occur in many articles, so rules with them get evaluated often.
# No topic shares a word with another topic or with FILLER.
TOPICS = (
    "sanction",
    "ceasefire",
    "airstrike",
    "drone attack",
    "missile launch",
    "election",
    "referendum",
    "protest",
    "earthquake",
    "flood",
    "wildfire",
    "merger",
    "acquisition",
    "bankruptcy",
    "layoff",
    "data breach",
    "ransomware",
    "indictment",
    "extradition",
    "coup",
    "blockade",
    "embargo",
    "tariff",
    "product recall",
    "hostage",
    "evacuation",
    "outbreak",
    "vaccine",
    "cyberattack",
    "espionage",
    "corruption inquiry",
    "resignation",
    "impeachment",
    "treaty",
    "summit",
    "naval exercise",
    "border clash",
    "refugee",
    "famine",
    "heatwave",
    "pipeline explosion",
    "oil spill",
    "interest rate",
    "inflation",
    "recession",
    "stock plunge",
    "antitrust",
    "lawsuit",
    "verdict",
    "arrest warrant",
)
SUFFIXES = ("Holdings", "Ministry", "Brigade", "Institute", "Party", "Group", "Agency", "Federation")
_ONSETS = "b c d f g h j k l m n p r s t v z br dr gr kr tr st sk pl vl".split()  # noqa: SIM905
_VOWELS = "a e i o u ai ei ou".split()  # noqa: SIM905
_CODAS = ["", "", "n", "r", "s", "l", "k", "th", "nd", "rk"]


def _pseudo_word(rng: random.Random) -> str:
    syllables = rng.randint(2, 3)
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables))


@dataclass(slots=True, frozen=True)
class Entity:
    name: str
    aliases: tuple[str, ...]  # every alias holds a pseudo-word no other alias holds


def make_entities(count: int, seed: int = 7) -> list[Entity]:
    """``count`` fictitious named things (places, people, companies), 1-3 aliases each."""
    rng = random.Random(seed)
    taken = set(FILLER) | {w for t in TOPICS for w in t.split()} | {s.lower() for s in SUFFIXES}
    acronyms: set[str] = set()

    def fresh() -> str:
        for _ in range(1000):
            word = _pseudo_word(rng)
            if word not in taken and len(word) >= 5:
                taken.add(word)
                return word.capitalize()
        raise RuntimeError("pseudo-word space exhausted")

    entities = []
    for i in range(count):
        first = fresh()
        aliases = [first]
        shape = rng.random()
        if shape < 0.4:
            aliases[0] = f"{first} {rng.choice(SUFFIXES)}"
        elif shape < 0.7:
            aliases[0] = f"{first} {fresh()}"  # a person
        if rng.random() < 0.5:
            aliases.append(fresh())
        if rng.random() < 0.2:
            for _ in range(100):
                acro = "".join(rng.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(rng.randint(3, 4)))
                if acro not in acronyms:
                    acronyms.add(acro)
                    aliases.append(acro)  # ALL-CAPS <= 4 letters: case-sensitive in newsmon
                    break
        entities.append(Entity(f"e{i}", tuple(aliases)))
    return entities


CODES = ("KX", "VT", "RZ", "MQ", "JD")  # regex rules match "<CODE>-<2-3 digits>" model designations


@dataclass(slots=True)
class RuleSpec:
    """A generated rule, kept resolved (groups of literal terms) for ground truth and the baseline."""

    id: str
    title: str
    all: list[list[str]] = field(default_factory=list)
    any: list[list[str]] = field(default_factory=list)
    none: list[list[str]] = field(default_factory=list)
    regex: str | None = None  # a {re: ...} rule: any of [regex]
    yaml: dict[str, Any] = field(default_factory=dict)


def make_rules(count: int, entities: Sequence[Entity], seed: int = 11) -> list[RuleSpec]:
    """``count`` rules in the shapes analysts write: entity watch, entity + topic, with exclusions."""
    rng = random.Random(seed)
    rules: list[RuleSpec] = []
    picked = rng.sample(range(len(entities)), min(count, len(entities)))
    for n in range(count):
        entity = entities[picked[n % len(picked)]]
        ref = f"@{entity.name}"
        rid = f"r{n:05d}"
        shape = rng.random()
        if n < len(CODES) and count >= 50:
            code = CODES[n]
            pattern = rf"\b{code}-\d{{2,3}}\b"
            rules.append(
                RuleSpec(rid, f"{code} designations", regex=pattern, yaml={"any": [{"re": pattern}]})
            )
            continue
        if shape < 0.35:
            spec = RuleSpec(rid, f"Any story on {entity.aliases[0]}", any=[list(entity.aliases)])
            spec.yaml = {"any": [ref]}
        elif shape < 0.75:
            topics = rng.sample(TOPICS, rng.randint(1, 4))
            spec = RuleSpec(
                rid, f"{entity.aliases[0]}: {', '.join(topics)}", all=[list(entity.aliases), topics]
            )
            spec.yaml = {"all": [ref, topics]}
        elif shape < 0.9:
            topics = rng.sample(TOPICS, 3)
            spec = RuleSpec(
                rid,
                f"{entity.aliases[0]} {topics[0]}",
                all=[list(entity.aliases), [topics[0]]],
                none=[[topics[1]]],
            )
            spec.yaml = {"all": [ref, topics[0]], "none": [topics[1]]}
        else:
            other = entities[rng.randrange(len(entities))]
            spec = RuleSpec(
                rid,
                f"{entity.aliases[0]} and {other.aliases[0]}",
                all=[list(entity.aliases), list(other.aliases)],
            )
            spec.yaml = {"all": [ref, f"@{other.name}"]}
        rules.append(spec)
    return rules


def rules_yaml(rules: Sequence[RuleSpec], entities: Sequence[Entity]) -> str:
    used = {t[1:] for r in rules for v in r.yaml.values() for t in _flat(v) if isinstance(t, str)}
    used = {u for u in used if u.startswith("e") and u[1:].isdigit()}
    doc = {
        "entities": {e.name: list(e.aliases) for e in entities if e.name in used},
        "rules": [{"id": r.id, "title": r.title, **r.yaml} for r in rules],
    }
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)


def _flat(value: Any) -> Iterable[Any]:
    if isinstance(value, list):
        for v in value:
            yield from _flat(v)
    elif isinstance(value, str) and value.startswith("@"):
        yield value


def _present(group: Iterable[str], terms: set[str]) -> bool:
    return any(t.casefold() in terms for t in group)


def expected(rule: RuleSpec, terms: set[str]) -> bool:
    """Ground truth: does ``rule`` hold for an article whose planted terms are ``terms`` (casefolded;
    regex rules look for the token ``re:<CODE>``)?"""
    if rule.regex is not None:
        return f"re:{rule.regex[2:4]}".casefold() in terms
    return (
        all(_present(g, terms) for g in rule.all)
        and (not rule.any or any(_present(g, terms) for g in rule.any))
        and not any(_present(g, terms) for g in rule.none)
    )


class BaselineMatcher:
    """What a competent engineer writes in an afternoon: every literal term of the rule set in one
    pyahocorasick automaton over the casefolded text (whole words, optional plural/possessive), the few
    regex terms as compiled patterns, then each rule is a set lookup over the terms found."""

    def __init__(self, rules: Sequence[RuleSpec]) -> None:
        self.rules = list(rules)
        self.automaton = ahocorasick.Automaton()
        for rule in self.rules:
            for group in (*rule.all, *rule.any, *rule.none):
                for term in group:
                    key = term.casefold()
                    self.automaton.add_word(key, key)
        self.automaton.make_automaton()
        self.patterns = {r.id: re.compile(r.regex) for r in self.rules if r.regex is not None}

    def terms(self, text: str) -> set[str]:
        folded = text.casefold()
        found: set[str] = set()
        for end, key in self.automaton.iter(folded):
            start = end - len(key) + 1
            after = end + 1
            if folded.startswith("'s", after):
                after += 2
            elif folded.startswith("s", after):
                after += 1
            if (start == 0 or not folded[start - 1].isalnum()) and (
                after >= len(folded) or not folded[after].isalnum()
            ):
                found.add(key)
        return found

    def matches(self, text: str) -> list[str]:
        """Ids of the rules ``text`` satisfies."""
        terms = self.terms(text)
        hits: list[str] = []
        for rule in self.rules:
            pattern = self.patterns.get(rule.id)
            if pattern is not None:
                if pattern.search(text):
                    hits.append(rule.id)
            elif expected(rule, terms):
                hits.append(rule.id)
        return hits


def precision_recall(found: set[tuple[str, str]], truth: set[tuple[str, str]]) -> tuple[float, float]:
    tp = len(found & truth)
    precision = tp / len(found) if found else 1.0
    recall = tp / len(truth) if truth else 1.0
    return round(precision, 4), round(recall, 4)


# --------------------------------------------------------------------------- the simulator process


class SimProcess:
    """``newssim.py`` in a child process (so its CPU is not the measured process's), driven over HTTP."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> SimProcess:
        args = [sys.executable, str(HERE / "newssim.py"), "--print-ready"]
        for key, value in self.options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
            args, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}
        )
        assert self.proc.stdout is not None
        # Building 100,000 sites takes minutes on a busy machine.
        ready = 60 + int(self.options.get("sites", 0)) / 200
        try:
            line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout=ready)
        except TimeoutError:
            self.proc.kill()  # not left behind holding gigabytes
            raise
        if not line:
            raise RuntimeError("newssim exited before it was ready")
        self.info = json.loads(line)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        if self.proc is not None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(asyncio.to_thread(self.proc.wait), timeout=10)
            except TimeoutError:
                self.proc.kill()

    @property
    def control(self) -> str:
        return str(self.info["control"])

    def site_url(self, site: int, kind: str = "feed") -> str:
        path = {"feed": "feed.xml", "atom": "atom.xml", "sitemap": "sitemap.xml", "html": ""}[kind]
        return f"{self.info['bases'][site % len(self.info['bases'])]}/s{site}/{path}"

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        assert self._session is not None
        async with self._session.request(method, f"{self.control}{path}", json=body) as resp:
            resp.raise_for_status()
            return await resp.json()

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)


# --------------------------------------------------------------------------- newsmon set-up and output

T = TypeVar("T")


class StageTimer:
    """Thread CPU seconds per stage, by wrapping functions (installed by this script, not by newsmon)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, stage: str) -> None:
        original = getattr(owner, name, None)
        if original is None:  # the pipeline's names move while it is being worked on: time what exists
            return

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.cpu[stage] += time.thread_time() - start
                self.calls[stage] += 1

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def wrap_store(self) -> None:
        from monitor.store.sqlite import SqliteStore

        original = SqliteStore._in_thread

        def timed(store: SqliteStore, fn: Callable[..., T], *args: object) -> T:
            start = time.thread_time()
            try:
                return original(store, fn, *args)
            finally:
                self.cpu["store"] += time.thread_time() - start
                label = getattr(fn, "__name__", "?").lstrip("_")
                self.cpu[f"store.{label}"] += time.thread_time() - start

        SqliteStore._in_thread = timed  # type: ignore[method-assign]
        self._undo.append(lambda: setattr(SqliteStore, "_in_thread", original))

    def install(self) -> None:
        import monitor.pipeline
        from monitor.crawl.sources import REGISTRY
        from monitor.matching.engine import Engine

        for kind in REGISTRY.values():  # the pipeline reads every listing through its kind's parse
            self.wrap(kind, "parse", "discover")
        self.wrap(monitor.pipeline, "extract", "extract")
        self.wrap(monitor.pipeline, "simhash", "fingerprint")
        self.wrap(monitor.pipeline, "fingerprint", "fingerprint")
        self.wrap(Engine, "match", "match")
        self.wrap_store()

    def reset(self) -> None:
        self.cpu.clear()
        self.calls.clear()

    def uninstall(self) -> None:
        for undo in reversed(self._undo):
            undo()


def source_kind(site: int) -> str:
    """Sources cycle through the three kinds newsmon discovers from."""
    return ("feed", "html", "sitemap")[site % 3]


# Polling benchmarks measure unchanged polls, not matching; the daemon still refuses to run without a
# rule (nothing may be marked seen unmatched), so they get one that never matches.
NO_MATCH_RULES = "rules:\n  - id: never\n    any: [zqxjkvwpq]\n"


def write_config(
    tmp: Path,
    sim: SimProcess,
    sites: Iterable[int],
    *,
    rules_text: str,
    interval: str = "5m",
    concurrency: int = 8,
    notify: bool = True,
    first_run: str = "mark-seen",
    store_url: str | None = None,
) -> str:
    """A daemon config over ``sites``, every source on the fixed schedule: the benchmarks count and cost
    polls per interval."""
    rules_dir = tmp / "rules"
    rules_dir.mkdir(exist_ok=True)
    (rules_dir / "bench.yaml").write_text(rules_text, encoding="utf-8")
    lines = [
        f'[store]\nurl = "{store_url or "sqlite://" + str(tmp / "state.db")}"\n',
        "[http]\nallow_private_networks = true\nrespect_robots = true\n"
        f'per_host_delay = "0s"\nper_host_concurrency = {concurrency}\ntimeout = "60s"\n',
        f'[rules]\npaths = ["{rules_dir}"]\n',
        f'[alerts]\nfirst_run = "{first_run}"\n',
        '[service]\nlog_format = "text"\nlog_level = "error"\nmetrics = ""\n',
    ]
    for site in sites:
        kind = source_kind(site)
        lines.append(
            f'[[sources]]\nname = "s{site}"\nkind = "{kind}"\nurl = "{sim.site_url(site, kind)}"\n'
            f'interval = "{interval}"\nschedule = "fixed"\n'
        )
    if notify:
        lines.append(f'[[notifiers]]\nname = "hook"\nkind = "webhook"\nurl = "{sim.control}/_sim/hook"\n')
    return "\n".join(lines)


def rss_mb() -> float:
    return round(psutil.Process().memory_info().rss / 1e6, 1)


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record, sort_keys=False), flush=True)


def table(rows: Sequence[tuple[str, object]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


def now() -> float:
    return time.time()
