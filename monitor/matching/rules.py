"""Rule files (YAML) -> validated ``Rule`` objects; every problem is reported with file:line:col.

The files are read as YAML node trees (``yaml.compose``) rather than plain data so each message can point
at the offending key or value. Their shape is checked against ``rules/schema.json`` (``rule_shape``);
what is checked here is what a schema cannot say: names defined twice, references between entities and
their cycles, regular expressions, durations, configured sources and notifiers. Nothing stops at the first
problem: all files are checked and every problem is raised together in one ``RuleError``, so
``newsmon check`` shows the whole list at once.

Entities are one namespace across all files, so loading is two passes: collect every file's entities,
then resolve their references to each other ("@a" among an entity's aliases) and read the rules with all
entities known.

Problems are errors (the rule set is refused) or warnings (it loads, but something in it can never
match). Warnings travel in ``RuleSet.warnings``, or beside the errors in ``RuleError.problems``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import regex
import yaml

from monitor.durations import parse_duration
from monitor.errors import Problem, RuleError
from monitor.matching.rule_shape import document, read, scalar, suggest, typed
from monitor.matching.rule_shape import problems as shape_problems
from monitor.matching.text import auto_case_sensitive, normalize
from monitor.model import FIELDS


@dataclass(frozen=True, slots=True)
class Term:
    """One thing to look for: a phrase, or a regular expression when ``pattern`` is set."""

    text: str  # as written in the rule file (the regex source for a pattern)
    entity: str | None = None  # the entity this alias was listed under
    case_sensitive: bool = False
    exact: bool = False  # no plural / possessive / inflected forms
    # Compiled by the ``regex`` module, whose matching takes a timeout (see Engine): a backtracking
    # pattern meeting a hostile article costs a bounded time, not the daemon.
    pattern: regex.Pattern[str] | None = None
    lang: str | None = None  # the language its words are in; None: any written in its script


# Any one of these terms satisfies the group; an "@entity" is a group of its aliases.
Group = tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class Near:
    """All groups must occur in one field, within ``words`` words of each other or in one sentence."""

    terms: tuple[Group, ...]
    words: int | None = None  # at most this many words between the first and the last occurrence
    sentence: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    all: tuple[Group, ...] = ()  # every group must occur
    any: tuple[Group, ...] = ()  # at least one group must occur
    none: tuple[Group, ...] = ()  # any occurrence vetoes the rule
    near: Near | None = None
    fields: tuple[str, ...] = FIELDS
    sources: tuple[str, ...] = ()  # empty: every source
    notify: tuple[str, ...] = ()  # empty: every notifier
    description: str = ""
    tags: tuple[str, ...] = ()
    realert: float | None = None  # seconds before the same story may alert this rule again; None: never
    backfill: float | None = None  # seconds of archived articles to run a newly added rule over; None: none
    path: str = ""  # where the rule is defined, for messages about it
    line: int = 0


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    entities: Mapping[str, Group]
    files: tuple[Path, ...]
    warnings: tuple[Problem, ...] = ()


_STR_TAG = "tag:yaml.org,2002:str"


def rule_files(paths: Sequence[Path]) -> list[Path]:
    """Files and directories (their ``*.yaml`` / ``*.yml``, sorted) -> the rule files they name."""
    files: list[Path] = []
    for path in paths:
        files += sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
    return files


def load_rules(
    paths: Sequence[Path],
    *,
    sources: Collection[str] | None = None,
    notifiers: Collection[str] | None = None,
) -> RuleSet:
    """Load rule files and directories; raise ``RuleError`` with every problem in every file.

    With ``sources`` / ``notifiers`` (the configured names), a rule naming any other is an error located
    at the offending list item; without them those names are not checked.
    """
    loader = _Loader(sources, notifiers)
    for file in rule_files(paths):
        loader.add_file(file)
    return loader.finish()


def rules_from_text(text: str, path: str = "<rules>") -> RuleSet:
    """Load one rule file's content; for tests and for checking a rule before saving it."""
    loader = _Loader()
    loader.add_text(text, Path(path))
    return loader.finish()


# An entity's alias list as read in pass 1: its own terms, and references to other entities still to resolve.
_Alias = Term | tuple[yaml.Node, str]


class _Loader:
    def __init__(
        self, sources: Collection[str] | None = None, notifiers: Collection[str] | None = None
    ) -> None:
        self.known = {"sources": sources, "notify": notifiers}
        self.problems: list[Problem] = []
        self.files: list[Path] = []
        self.documents: list[tuple[Path, yaml.MappingNode]] = []
        # Nodes of a shape the schema refuses: read as if absent, so each problem is reported once.
        self.broken: set[int] = set()
        self.entities: dict[str, Group] = {}
        self.entity_where: dict[str, str] = {}
        self.entity_aliases: dict[str, tuple[str, list[_Alias]]] = {}  # name -> (file, aliases)
        self.rules: list[Rule] = []
        self.rule_where: dict[str, str] = {}
        self.path = ""  # the file being read, for messages
        self.lang: str | None = None  # the 'lang' of the rule being read, for the terms written in it

    # -- reporting ----------------------------------------------------------------------------------------
    def error(self, node: yaml.Node, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.path, mark.line + 1, mark.column + 1, message))

    def warn(self, node: yaml.Node, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.path, mark.line + 1, mark.column + 1, message, "warning"))

    def errors(self) -> int:
        return sum(p.severity == "error" for p in self.problems)

    def _where(self, node: yaml.Node) -> str:
        return f"{self.path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"

    # -- pass 1: files, their shape, and entities ---------------------------------------------------------
    def add_file(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.problems.append(Problem(str(path), 1, 1, f"cannot read rule file: {reason}"))
            return
        self.add_text(text, path)

    def add_text(self, text: str, path: Path) -> None:
        self.path = str(path)
        self.files.append(path)
        root, problems = read(text, self.path)
        self.problems += problems
        if root is None:
            return
        for node, message, unreadable in shape_problems(document(root)):
            self.error(node, message)
            if unreadable is not None:
                self.broken.add(id(unreadable))
        if not isinstance(root, yaml.MappingNode):
            return
        top = self._keys(root)
        if "entities" in top:
            self._entities(top["entities"])
        self.documents.append((path, root))

    def _entities(self, node: yaml.Node) -> None:
        if not isinstance(node, yaml.MappingNode):  # reported by the shape check
            return
        for key_node, value in node.value:
            name = str(key_node.value)
            if id(value) in self.broken or id(key_node) in self.broken:
                # Its uses are not reported again as unknown: the problem is where it is defined.
                self.entity_where.setdefault(name, self._where(key_node))
                continue
            if name in self.entity_where:
                self.error(
                    key_node, f"duplicate entity {name!r} (first defined at {self.entity_where[name]})"
                )
                continue
            self.entity_where[name] = self._where(key_node)
            before = self.errors()
            aliases: list[_Alias] = []
            for item in self._items(value):
                text = scalar(item)
                if text is not None and text.startswith("@"):
                    aliases.append((item, text[1:]))
                else:
                    aliases += self._term(item, entity=name)
            if self.errors() == before:
                self.entity_aliases[name] = (self.path, aliases)

    def _resolve_entities(self) -> None:
        """Replace references among entities by the aliases they name; a cycle is an error where it closes.

        An entity with any error is left out of ``entities``, so its uses are not reported a second time.
        """
        done: set[str] = set()

        def resolve(name: str, stack: list[str]) -> None:
            path, aliases = self.entity_aliases[name]
            terms: list[Term] = []
            ok = True
            for alias in aliases:
                if isinstance(alias, Term):
                    terms.append(alias)
                    continue
                node, ref = alias
                self.path = path
                if ref in stack:
                    cycle = " -> ".join(f"@{n}" for n in [*stack[stack.index(ref) :], ref])
                    self.error(node, f"entity cycle: {cycle}")
                    ok = False
                    continue
                if ref not in done and ref in self.entity_aliases:
                    resolve(ref, [*stack, ref])
                if ref in self.entities:
                    terms += self.entities[ref]
                else:
                    ok = False
                    if ref not in self.entity_where:  # a broken entity was reported where it is defined
                        self.path = path
                        self.error(node, self._unknown_entity(ref))
            done.add(name)
            if ok:
                # One alias reached along two paths ("@a" and "@b", both listing it) is one term.
                self.entities[name] = tuple(dict.fromkeys(terms))

        for name in self.entity_aliases:
            if name not in done:
                resolve(name, [name])

    # -- pass 2: rules ------------------------------------------------------------------------------------
    def finish(self) -> RuleSet:
        self._resolve_entities()
        for path, root in self.documents:
            self.path = str(path)
            rules = self._keys(root).get("rules")
            for item in self._items(rules) if rules is not None else ():
                self._rule(item)
        # Read in two passes, reported in reading order: by file, then position.
        self.problems.sort(key=lambda p: (p.path, p.line, p.col))
        if self.errors():
            raise RuleError(self.problems)
        return RuleSet(
            tuple(self.rules),
            MappingProxyType(dict(self.entities)),
            tuple(self.files),
            tuple(self.problems),
        )

    def _rule(self, node: yaml.Node) -> None:
        keys = self._keys(node)
        before = self.errors()
        rule_id = str(keys["id"].value) if "id" in keys else None  # missing: reported by the shape check
        if rule_id is not None and rule_id in self.rule_where:
            self.error(
                keys["id"], f"duplicate rule id {rule_id!r} (first defined at {self.rule_where[rule_id]})"
            )
        elif rule_id is not None:
            self.rule_where[rule_id] = self._where(keys["id"])
        self.lang = _lang(keys["lang"]) if "lang" in keys else None
        groups = {k: self._groups(keys[k]) for k in ("all", "any", "none") if k in keys}
        vetoed = {t for g in groups.get("none", ()) for t in g}
        if any(g and set(g) <= vetoed for g in groups.get("all", ())):
            self.warn(
                keys["none"],
                f"rule {rule_id!r} can never match: an element of 'all' is entirely vetoed by 'none'",
            )
        near = self._near(keys["near"]) if "near" in keys else None
        self.lang = None
        fields = tuple(str(f.value) for f in self._items(keys["fields"])) if "fields" in keys else FIELDS
        lists = {k: tuple(self._names(keys[k], k)) for k in ("sources", "notify", "tags") if k in keys}
        realert = self._realert(keys["realert"]) if "realert" in keys else None
        backfill = self._backfill(keys["backfill"]) if "backfill" in keys else None
        if self.errors() != before or rule_id is None:
            return
        self.rules.append(
            Rule(
                id=rule_id,
                title=str(keys["title"].value) if "title" in keys else rule_id,
                all=groups.get("all", ()),
                any=groups.get("any", ()),
                none=groups.get("none", ()),
                near=near,
                fields=fields,
                sources=lists.get("sources", ()),
                notify=lists.get("notify", ()),
                description=str(keys["description"].value) if "description" in keys else "",
                tags=lists.get("tags", ()),
                realert=realert,
                backfill=backfill,
                path=self.path,
                line=node.start_mark.line + 1,
            )
        )

    def _near(self, node: yaml.Node) -> Near:
        keys = self._keys(node)
        words = typed(keys["words"]) if "words" in keys else None
        terms = self._groups(keys["terms"]) if "terms" in keys else ()
        return Near(terms, words, "sentence" in keys)

    def _realert(self, node: yaml.Node) -> float | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG and node.value == "never":
            return None
        return self._duration(node, '\'realert\' must be a duration like "6h" or "2d", or "never"')

    def _backfill(self, node: yaml.Node) -> float | None:
        return self._duration(node, '\'backfill\' must be a duration like "24h" or "3d"')

    def _duration(self, node: yaml.Node, message: str) -> float | None:
        """A positive duration ("6h"; the schema checked how it is written), or None after reporting."""
        seconds = parse_duration(scalar(node))
        if seconds <= 0:
            self.error(node, message)
            return None
        return seconds

    def _names(self, node: yaml.Node, key: str) -> list[str]:
        """The items of ``sources``, ``notify`` or ``tags``; configured names are checked where known."""
        known = self.known.get(key)
        items = self._items(node)
        names = [str(item.value) for item in items]
        if known is not None:
            kind = "source" if key == "sources" else "notifier"
            listed = ", ".join(sorted(known)) or "none are configured"
            for item, name in zip(items, names, strict=True):
                if name not in known:
                    hint = suggest(name, sorted(known))
                    self.error(item, f"unknown {kind} {name!r}{hint}; {kind}s: {listed}")
        return names

    # -- YAML shapes the schema checked ----------------------------------------------------------------
    def _keys(self, node: yaml.Node) -> dict[str, yaml.Node]:
        """A mapping's readable values by key; of a key written twice (a shape problem), the first."""
        keys: dict[str, yaml.Node] = {}
        if isinstance(node, yaml.MappingNode):
            for key_node, value in node.value:
                if id(value) not in self.broken:
                    keys.setdefault(str(key_node.value), value)
        return keys

    def _items(self, node: yaml.Node) -> list[yaml.Node]:
        """A list's readable items; a lone value counts as a list of one (``notify: ops``)."""
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        return [item for item in items if id(item) not in self.broken]

    # -- terms --------------------------------------------------------------------------------------------
    def _groups(self, node: yaml.Node) -> tuple[Group, ...]:
        """Groups of terms. A group can end up empty when all its terms can never match (warned about);
        it is kept, because an element that can never occur must keep 'all' from holding."""
        groups = []
        for item in self._items(node):
            if isinstance(item, yaml.SequenceNode):
                group = [term for sub in self._items(item) for term in self._term(sub, entity=None)]
                groups.append(tuple(dict.fromkeys(group)))
            else:
                groups.append(tuple(self._term(item, entity=None)))
        return tuple(groups)

    def _term(self, node: yaml.Node, entity: str | None) -> list[Term]:
        """One term node -> its terms (several for an "@entity"); ``entity`` is set when reading aliases."""
        if isinstance(node, yaml.MappingNode):
            return self._term_mapping(node, entity)
        text = str(node.value)
        if text.startswith("@"):
            return self._entity_ref(node, text[1:])
        return self._phrase(node, text, entity, case=None, exact=False, lang=self.lang)

    def _term_mapping(self, node: yaml.MappingNode, entity: str | None) -> list[Term]:
        keys = self._keys(node)
        case = typed(keys["case"]) == "sensitive" if "case" in keys else None
        if "re" in keys:
            for key in ("exact", "lang"):
                if key in keys:
                    self.warn(keys[key], f"'{key}' has no effect on a regular expression")
            return self._regex(keys["re"], str(keys["re"].value), entity, case)
        if "term" not in keys:  # its problem is reported by the shape check
            return []
        text = str(keys["term"].value)
        if text.startswith("@"):
            self.error(keys["term"], "options cannot apply to an '@entity'; put them on its aliases")
            return []
        exact = bool(typed(keys["exact"])) if "exact" in keys else False
        lang = _lang(keys["lang"]) if "lang" in keys else self.lang
        return self._phrase(keys["term"], text, entity, case, exact, lang)

    def _phrase(
        self,
        node: yaml.Node,
        text: str,
        entity: str | None,
        case: bool | None,
        exact: bool,
        lang: str | None,
    ) -> list[Term]:
        if not any(c.isalnum() for c in normalize(text).text):
            # Whole-word matching needs a word to anchor on, so such a term is dropped, not an error:
            # the rest of the file still works, and `newsmon check` says why this part never will.
            self.warn(node, f"term {text!r} has no letters or digits, so it can never match")
            return []
        sensitive = auto_case_sensitive(text) if case is None else case
        return [Term(text, entity, case_sensitive=sensitive, exact=exact, lang=lang)]

    def _regex(self, node: yaml.Node, source: str, entity: str | None, case: bool | None) -> list[Term]:
        flags = 0 if case else re.IGNORECASE
        try:
            re.compile(source, flags)  # the syntax and the messages of the documented dialect
            # V0: the re module's semantics (Unicode \b, \w, \d), with a matching timeout.
            pattern = regex.compile(source, flags | regex.V0)
        except re.error as exc:
            at = f" at position {exc.pos}" if exc.pos is not None else ""
            self.error(node, f"bad regular expression {source!r}: {exc.msg}{at}")
            return []
        except regex.error as exc:
            self.error(node, f"regular expression {source!r} is not supported: {exc}")
            return []
        if pattern.fullmatch(""):
            self.error(
                node, f"regular expression {source!r} matches empty text, so it would match everywhere"
            )
            return []
        return [Term(source, entity, case_sensitive=bool(case), pattern=pattern)]

    def _entity_ref(self, node: yaml.Node, name: str) -> list[Term]:
        if name in self.entities:
            return list(self.entities[name])
        if name not in self.entity_where:  # a broken entity was already reported where it is defined
            self.error(node, self._unknown_entity(name))
        return []

    def _unknown_entity(self, name: str) -> str:
        return f"unknown entity '@{name}'{suggest(name, list(self.entity_where), '@')}"


def _lang(node: yaml.Node) -> str:
    return str(node.value).lower()
