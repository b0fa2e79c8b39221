"""Rule files (YAML) -> validated ``Rule`` objects; every problem is reported with file:line:col.

The files are read as YAML node trees (``yaml.compose``) rather than plain data so each message can point
at the offending key or value. Nothing stops at the first problem: all files are checked and every
problem is raised together in one ``RuleError``, so ``newsmon check`` shows the whole list at once.

Entities are one namespace across all files, so loading is two passes: collect every file's entities,
then resolve their references to each other ("@a" among an entity's aliases) and read the rules with all
entities known.

Problems are errors (the rule set is refused) or warnings (it loads, but something in it can never
match). Warnings travel in ``RuleSet.warnings``, or beside the errors in ``RuleError.problems``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import regex
import yaml

from monitor.durations import parse_duration
from monitor.errors import Problem, RuleError
from monitor.matching.lemmas import ALIASES, LANGUAGES
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


_TOP_KEYS = ("entities", "rules")
_RULE_KEYS = (
    "id",
    "title",
    "description",
    "tags",
    "all",
    "any",
    "none",
    "near",
    "fields",
    "sources",
    "notify",
    "realert",
    "lang",
    "backfill",
)
_TERM_KEYS = ("term", "re", "case", "exact", "lang")
# English terms have no inflected forms beyond the plural and possessive every term gets.
_LANGS = ("en", *LANGUAGES)
_NEAR_KEYS = ("terms", "words", "sentence")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TRUE = frozenset({"true", "yes", "on"})
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


def _suggest(word: str, allowed: Sequence[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(word, allowed, n=1)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""


# An entity's alias list as read in pass 1: its own terms, and references to other entities still to resolve.
_Alias = Term | tuple[yaml.Node, str]


# libyaml's parser where PyYAML was built with it.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str) -> yaml.Node | None:
    """The YAML node tree of ``text``. libyaml builds it faster and leaves far less freed-but-held memory
    behind (10k rules: ~20 MB less RSS). Its error messages are terser ("did not find expected node
    content"), so a text it rejects is read again by the pure-Python parser, whose error says what it
    expected and what it found."""
    try:
        return yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        return yaml.compose(text, Loader=yaml.SafeLoader)


def _aliased(root: yaml.Node) -> yaml.Node | None:
    """A node reached twice in ``root``'s tree, i.e. one an alias repeats; found without expanding."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return node
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None


class _Loader:
    def __init__(
        self, sources: Collection[str] | None = None, notifiers: Collection[str] | None = None
    ) -> None:
        self.known = {"sources": sources, "notify": notifiers}
        self.problems: list[Problem] = []
        self.files: list[Path] = []
        self.documents: list[tuple[Path, yaml.MappingNode]] = []
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

    # -- pass 1: files and entities -----------------------------------------------------------------------
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
        try:
            root = _compose(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            message = exc.problem or exc.context or "invalid YAML"
            self.problems.append(Problem(self.path, line, col, f"YAML syntax error: {message}"))
            return
        except yaml.YAMLError as exc:
            self.problems.append(Problem(self.path, 1, 1, f"YAML error: {exc}"))
            return
        if root is None or self._is_null(root):
            # Not an error (a placeholder file is fine), but said: a file emptied by a bad save would
            # otherwise take its rules away at the next reload without a word.
            self.problems.append(Problem(self.path, 1, 1, "empty rule file: it defines no rules", "warning"))
            return
        shared = _aliased(root) if "&" in text else None  # no anchor, no alias: skip the walk
        if shared is not None:
            # Each alias is the whole anchored node again: nested ones multiply, so a few KB of YAML
            # would expand to millions of nodes. Entities are the way to share terms.
            self.error(
                shared,
                "YAML anchors and aliases (&name, *name) are not allowed in rule files: "
                "define the shared terms as an entity and refer to it as '@name'",
            )
            return
        if not isinstance(root, yaml.MappingNode):
            self.error(root, "a rule file must be a mapping with 'entities' and/or 'rules'")
            return
        top = self._mapping(root, _TOP_KEYS, "in a rule file")
        if "entities" in top:
            self._entities(top["entities"])
        self.documents.append((path, root))

    def _entities(self, node: yaml.Node) -> None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, "'entities' must be a mapping of name: [aliases...]")
            return
        for key_node, value in node.value:
            name = self._scalar(key_node)
            if name is None or not _NAME.fullmatch(name):
                self.error(key_node, "an entity name must be letters, digits, '.', '_' or '-'")
                continue
            if name in self.entity_where:
                self.error(
                    key_node, f"duplicate entity {name!r} (first defined at {self.entity_where[name]})"
                )
                continue
            self.entity_where[name] = self._where(key_node)
            before = self.errors()
            aliases: list[_Alias] = []
            for item in self._items(value, f"entity {name!r}"):
                text = self._scalar(item) if isinstance(item, yaml.ScalarNode) else None
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
            for key_node, value in root.value:
                if self._scalar(key_node) == "rules":
                    self._rules(value)
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

    def _rules(self, node: yaml.Node) -> None:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, "'rules' must be a list of rules")
            return
        for item in node.value:
            if not isinstance(item, yaml.MappingNode):
                self.error(item, "a rule must be a mapping with at least 'id' and 'all' or 'any'")
                continue
            before = self.errors()
            rule = self._rule(item)
            if rule is not None and self.errors() == before:
                self.rules.append(rule)

    def _rule(self, node: yaml.MappingNode) -> Rule | None:
        keys = self._mapping(node, _RULE_KEYS, "in a rule")
        rule_id = self._string(keys["id"], "'id'") if "id" in keys else None
        if "id" not in keys:
            self.error(node, "rule has no 'id'")
        elif rule_id is not None and not _NAME.fullmatch(rule_id):
            self.error(keys["id"], "a rule id must be letters, digits, '.', '_' or '-'")
            rule_id = None
        elif rule_id is not None and rule_id in self.rule_where:
            self.error(
                keys["id"], f"duplicate rule id {rule_id!r} (first defined at {self.rule_where[rule_id]})"
            )
            rule_id = None
        elif rule_id is not None:
            self.rule_where[rule_id] = self._where(keys["id"])
        label = f"rule {rule_id!r}" if rule_id else "rule"
        self.lang = self._lang(keys["lang"]) if "lang" in keys else None
        if "all" not in keys and "any" not in keys:
            self.error(node, f"{label} needs 'all' or 'any' (or both)")
        groups = {k: self._groups(keys[k], f"'{k}'") for k in ("all", "any", "none") if k in keys}
        vetoed = {t for g in groups.get("none", ()) for t in g}
        if any(g and set(g) <= vetoed for g in groups.get("all", ())):
            self.warn(
                keys["none"], f"{label} can never match: an element of 'all' is entirely vetoed by 'none'"
            )
        near = self._near(keys["near"]) if "near" in keys else None
        self.lang = None
        fields = self._fields(keys["fields"]) if "fields" in keys else FIELDS
        lists = {k: tuple(self._names(keys[k], k)) for k in ("sources", "notify", "tags") if k in keys}
        title = self._string(keys["title"], "'title'") if "title" in keys else rule_id
        description = self._string(keys["description"], "'description'") if "description" in keys else ""
        realert = self._realert(keys["realert"]) if "realert" in keys else None
        backfill = self._backfill(keys["backfill"]) if "backfill" in keys else None
        if rule_id is None:
            return None
        return Rule(
            id=rule_id,
            title=title or rule_id,
            all=groups.get("all", ()),
            any=groups.get("any", ()),
            none=groups.get("none", ()),
            near=near,
            fields=fields,
            sources=lists.get("sources", ()),
            notify=lists.get("notify", ()),
            description=description or "",
            tags=lists.get("tags", ()),
            realert=realert,
            backfill=backfill,
            path=self.path,
            line=node.start_mark.line + 1,
        )

    def _near(self, node: yaml.Node) -> Near | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(
                node,
                "'near' must be a mapping like {terms: [...], words: 20} or {terms: [...], sentence: true}",
            )
            return None
        keys = self._mapping(node, _NEAR_KEYS, "in 'near'")
        terms = self._groups(keys["terms"], "'near: terms'") if "terms" in keys else ()
        if "terms" not in keys:
            self.error(node, "'near' needs 'terms'")
        elif terms and len(terms) < 2:
            self.error(keys["terms"], "'near: terms' needs at least two terms to be near each other")
        words = self._int(keys["words"], "'near: words'") if "words" in keys else None
        sentence = self._bool(keys["sentence"], "'near: sentence'") if "sentence" in keys else False
        if (words is None) == (not sentence):
            self.error(node, "'near' needs exactly one of 'words: N' or 'sentence: true'")
        return Near(terms, words, bool(sentence))

    def _realert(self, node: yaml.Node) -> float | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG and node.value == "never":
            return None
        return self._duration(node, '\'realert\' must be a duration like "6h" or "2d", or "never"')

    def _backfill(self, node: yaml.Node) -> float | None:
        return self._duration(node, '\'backfill\' must be a duration like "24h" or "3d"')

    def _duration(self, node: yaml.Node, message: str) -> float | None:
        """A positive duration written as a string ("6h"), or None after reporting ``message``."""
        value = self._scalar(node) if isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG else None
        try:
            seconds = parse_duration(value) if value is not None else 0.0
        except ValueError:
            seconds = 0.0
        if seconds <= 0:
            self.error(node, message)
            return None
        return seconds

    def _names(self, node: yaml.Node, key: str) -> list[str]:
        """The items of ``sources``, ``notify`` or ``tags``; configured names are checked where known."""
        known = self.known.get(key)
        names = []
        for item in self._items(node, f"'{key}'"):
            name = self._string(item, f"an item of '{key}'")
            if name is None:
                continue
            if known is not None and name not in known:
                kind = "source" if key == "sources" else "notifier"
                listed = ", ".join(sorted(known)) or "none are configured"
                self.error(item, f"unknown {kind} {name!r}{_suggest(name, sorted(known))}; {kind}s: {listed}")
            names.append(name)
        return names

    def _fields(self, node: yaml.Node) -> tuple[str, ...]:
        fields = []
        for item in self._items(node, "'fields'"):
            name = self._string(item, "a field")
            if name is None:
                continue
            if name not in FIELDS:
                self.error(
                    item, f"unknown field {name!r}{_suggest(name, FIELDS)}; fields are {', '.join(FIELDS)}"
                )
            elif name in fields:
                self.error(item, f"field {name!r} listed twice")
            else:
                fields.append(name)
        return tuple(fields)

    # -- terms --------------------------------------------------------------------------------------------
    def _groups(self, node: yaml.Node, what: str) -> tuple[Group, ...]:
        """Groups of terms. A group can end up empty when all its terms can never match (warned about);
        it is kept, because an element that can never occur must keep 'all' from holding."""
        groups = []
        for item in self._items(node, what):
            if isinstance(item, yaml.SequenceNode):
                if not item.value:
                    self.error(item, f"empty any-of list in {what}")
                    continue
                group = []
                for sub in item.value:
                    if isinstance(sub, yaml.SequenceNode):
                        self.error(sub, "lists inside an any-of list are not allowed; flatten them")
                    else:
                        group.extend(self._term(sub, entity=None))
                groups.append(tuple(dict.fromkeys(group)))
            else:
                groups.append(tuple(self._term(item, entity=None)))
        return tuple(groups)

    def _term(self, node: yaml.Node, entity: str | None) -> list[Term]:
        """One term node -> its terms (several for an "@entity"); ``entity`` is set when reading aliases."""
        if isinstance(node, yaml.MappingNode):
            return self._term_mapping(node, entity)
        text = self._string(node, "a term")
        if text is None:
            return []
        if text.startswith("@"):
            return self._entity_ref(node, text[1:])
        return self._phrase(node, text, entity, case=None, exact=False, lang=self.lang)

    def _term_mapping(self, node: yaml.MappingNode, entity: str | None) -> list[Term]:
        keys = self._mapping(node, _TERM_KEYS, "in a term")
        case = self._case(keys["case"]) if "case" in keys else None
        exact = bool(self._bool(keys["exact"], "'exact'")) if "exact" in keys else False
        lang = self._lang(keys["lang"]) if "lang" in keys else self.lang
        if ("term" in keys) == ("re" in keys):
            self.error(node, "a term mapping needs exactly one of 'term' or 're'")
            return []
        if "re" in keys:
            for key in ("exact", "lang"):
                if key in keys:
                    self.warn(keys[key], f"'{key}' has no effect on a regular expression")
            source = self._string(keys["re"], "'re'")
            return [] if source is None else self._regex(keys["re"], source, entity, case)
        text = self._string(keys["term"], "'term'")
        if text is None:
            return []
        if text.startswith("@"):
            self.error(keys["term"], "options cannot apply to an '@entity'; put them on its aliases")
            return []
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
        return f"unknown entity '@{name}'{_suggest(name, list(self.entity_where), '@')}"

    def _lang(self, node: yaml.Node) -> str | None:
        value = self._string(node, "'lang'")
        if value is None:
            return None
        if value.lower() not in _LANGS:
            alias = ALIASES.get(value.lower())
            hint = f" (did you mean '{alias}'?)" if alias else _suggest(value.lower(), _LANGS)
            self.error(node, f"unknown lang {value!r}{hint}; langs: {', '.join(_LANGS)}")
            return None
        return value.lower()

    def _case(self, node: yaml.Node) -> bool | None:
        value = self._string(node, "'case'")
        if value not in ("sensitive", "insensitive"):
            self.error(node, "'case' must be 'sensitive' or 'insensitive'")
            return None
        return value == "sensitive"

    # -- YAML shapes --------------------------------------------------------------------------------------
    def _mapping(self, node: yaml.MappingNode, allowed: Sequence[str], where: str) -> dict[str, yaml.Node]:
        keys: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            key = self._scalar(key_node)
            if key is None or key not in allowed:
                shown = key if key is not None else "?"
                self.error(key_node, f"unknown key {shown!r} {where}{_suggest(shown, allowed)}")
            elif key in keys:
                self.error(key_node, f"duplicate key {key!r} {where}")
            else:
                keys[key] = value
        return keys

    def _items(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        """A list's items; a lone scalar counts as a list of one (``notify: ops``)."""
        if isinstance(node, yaml.SequenceNode):
            if not node.value:
                self.error(node, f"{what} is an empty list")
            return list(node.value)
        if isinstance(node, yaml.ScalarNode) and not self._is_null(node):
            return [node]
        self.error(node, f"{what} must be a list")
        return []

    def _string(self, node: yaml.Node, what: str) -> str | None:
        value = self._scalar(node)
        if value is None or not value.strip():
            self.error(node, f"{what} must be a non-empty string")
            return None
        return value

    @staticmethod
    def _scalar(node: yaml.Node) -> str | None:
        """A scalar's text whatever YAML typed it as (``id: 2024`` is the id "2024"); None otherwise."""
        if isinstance(node, yaml.ScalarNode) and not _Loader._is_null(node):
            return str(node.value)
        return None

    @staticmethod
    def _is_null(node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"

    def _bool(self, node: yaml.Node, what: str) -> bool | None:
        if not (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:bool"):
            self.error(node, f"{what} must be true or false")
            return None
        return node.value.lower() in _TRUE

    def _int(self, node: yaml.Node, what: str) -> int | None:
        value = self._scalar(node) if isinstance(node, yaml.ScalarNode) and node.tag != _STR_TAG else None
        try:
            number = int((value or "").replace("_", ""))
        except ValueError:
            number = -1
        if number < 0:
            self.error(node, f"{what} must be a whole number >= 0")
            return None
        return number
