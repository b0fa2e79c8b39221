"""The shape of a rule file, checked against ``rules/schema.json``: the one definition of which keys a rule
file may have and what each holds, shared with editors (the example files name it for yaml-language-server).

The file is read as a YAML node tree, turned into plain data for jsonschema, and every schema error is
put back on the node it is about (file:line:col) in the words of the rule language ("'all' is an empty
list", "unknown key 'al' in a rule (did you mean 'all'?)"). What a schema cannot say (duplicate keys,
references between entities, regular expressions, configured names) is checked in ``rule_loader``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import yaml

from monitor.errors import Problem
from monitor.examples import example_rules
from monitor.matching.lemmas import ALIASES

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.exceptions import ValidationError

Path_ = tuple[str | int, ...]  # where a value is in a rule file's data: keys and list indexes

_NULL_TAG = "tag:yaml.org,2002:null"
_STR_TAG = "tag:yaml.org,2002:str"


@cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((example_rules() / "schema.json").read_text(encoding="utf-8"))
    return loaded


@cache
def validator() -> jsonschema.Draft202012Validator:
    """The schema with its ``$ref``s written out (it has no recursion): resolving a reference at each
    value is most of what validating a large rule file would cost."""
    import jsonschema  # on first use: commands that read no rule file do not pay for its import

    whole = schema()
    return jsonschema.Draft202012Validator(_inline(whole, whole["$defs"]))


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        rest = {k: _inline(v, defs) for k, v in node.items() if k not in ("$ref", "$defs")}
        if ref.startswith("#/$defs/"):
            return {**_inline(defs[ref.removeprefix("#/$defs/")], defs), **rest}
        return rest
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def suggest(word: str, allowed: Sequence[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(word, allowed, n=1)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""


def typed(node: yaml.Node) -> Any:
    """A scalar's value as YAML types it (``words: 0x10`` is 16); its text when YAML cannot (an unknown
    ``!tag``, a date that does not exist)."""
    try:
        # A constructor of its own: one remembers every node it built.
        return yaml.constructor.SafeConstructor().construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):
        return str(node.value)


def scalar(node: yaml.Node) -> str | None:
    """A scalar's text whatever YAML typed it as (``id: 2024`` is the id "2024"); None otherwise."""
    if isinstance(node, yaml.ScalarNode) and node.tag != _NULL_TAG:
        return str(node.value)
    return None


def read(text: str, path: str) -> tuple[yaml.Node | None, list[Problem]]:
    """A rule file's YAML node tree, or None; with what is wrong with it as YAML."""
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = exc.problem or exc.context or "invalid YAML"
        return None, [Problem(path, line, col, f"YAML syntax error: {message}")]
    except yaml.YAMLError as exc:
        return None, [Problem(path, 1, 1, f"YAML error: {exc}")]
    if root is None or (isinstance(root, yaml.ScalarNode) and scalar(root) is None):
        # Not an error (a placeholder file is fine), but said: a file emptied by a bad save would
        # otherwise take its rules away at the next reload without a word.
        return None, [Problem(path, 1, 1, "empty rule file: it defines no rules", "warning")]
    shared = _aliased(root) if "&" in text else None  # no anchor, no alias: skip the walk
    if shared is not None:
        # Each alias is the whole anchored node again: nested ones multiply, so a few KB of YAML
        # would expand to millions of nodes. Entities are the way to share terms.
        mark = shared.start_mark
        message = (
            "YAML anchors and aliases (&name, *name) are not allowed in rule files: "
            "define the shared terms as an entity and refer to it as '@name'"
        )
        return None, [Problem(path, mark.line + 1, mark.column + 1, message)]
    return root, []


# libyaml's parser where PyYAML was built with it.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str) -> yaml.Node | None:
    """The YAML node tree of ``text``. libyaml builds it faster and leaves far less freed-but-held memory
    behind (benchmarks/README.md, memory.py). Its error messages are terser ("did not find expected
    node content"), so a text it rejects is read again by the pure-Python parser, whose error says what
    it expected and what it found."""
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


@dataclass(slots=True)
class Document:
    """One rule file as data for the schema, and its node tree for saying where a problem is."""

    root: yaml.Node
    data: Any = None
    duplicates: list[tuple[yaml.Node, str]] = field(default_factory=list)  # (key node, message)

    def node(self, path: Path_, *, key: bool = False) -> yaml.Node:
        """The node at ``path`` (with ``key``: the key node naming its last step)."""
        node, key_node = self.root, self.root
        for step in path:
            if isinstance(node, yaml.MappingNode):
                key_node, node = next((k, v) for k, v in node.value if (scalar(k) or "?") == step)
            else:
                node = node.value[int(step)]
        return key_node if key else node


def document(root: yaml.Node) -> Document:
    doc = Document(root)
    doc.data = _plain(root, (), doc)
    return doc


def _plain(node: yaml.Node, path: Path_, doc: Document) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value in node.value:
            key = scalar(key_node) or "?"
            if key in out:
                # Entity names are one namespace across files: the loader reports those duplicates.
                if path != ("entities",):
                    doc.duplicates.append((key_node, f"duplicate key {key!r} {_where(path)}"))
                continue
            out[key] = _plain(value, (*path, key), doc)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, (*path, i), doc) for i, item in enumerate(node.value)]
    if node.tag == _STR_TAG:  # most of a rule file: no need to ask the constructor
        return node.value
    value = typed(node)
    # Dates and binary are text to a rule ("title: 2024-05-01"), as they were to the loader.
    return value if value is None or isinstance(value, str | int | float | bool) else str(node.value)


def problems(doc: Document) -> Iterator[tuple[yaml.Node, str, yaml.Node | None]]:
    """Every way ``doc`` is not a rule file: the node to point at, the message, and the node that cannot be
    read as the schema describes it (None when the problem is only about a mapping's keys), so the loader
    checks the rest of the file and leaves that part out."""
    for key_node, message in doc.duplicates:
        yield key_node, message, None
    said: set[tuple[int, str]] = set()  # one value can break two keywords ("" and "\\S"): said once
    for error in validator().iter_errors(doc.data):
        for leaf in _leaves(error):
            for node, message, unreadable in _explain(leaf, doc):
                if (id(node), message) not in said:
                    said.add((id(node), message))
                    yield node, message, unreadable


# -- which error: of the branches of an anyOf, the one written for the type of value given ----------------
def _leaves(error: ValidationError) -> list[ValidationError]:
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [error]
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    fitting = [errors for errors in branches.values() if not _mismatched(errors)]
    if len(fitting) > 1:  # the branch that took the value in and failed inside it ('fields: [tittle]')
        fitting = [errors for errors in fitting if all(e.relative_path for e in errors)] or fitting
    if len(fitting) != 1:
        return [error]  # none written for this type of value (or it fits several): said of the whole
    return [leaf for sub in fitting[0] for leaf in _leaves(sub)]


def _mismatched(errors: list[ValidationError]) -> bool:
    """Whether a branch is written for another type of value than the one given."""
    for e in errors:
        if e.relative_path:
            continue
        if e.validator == "type":
            return True
        if e.validator in ("anyOf", "oneOf") and e.context:
            branches: dict[int, list[ValidationError]] = {}
            for sub in e.context:
                branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
            if all(_mismatched(b) for b in branches.values()):
                return True
    return False


# -- in the words of the rule language -----------------------------------------------------------------------
def _where(path: Path_) -> str:
    """The mapping at ``path``, for "unknown key ... in a rule"."""
    match path:
        case ():
            return "in a rule file"
        case ("rules", int()):
            return "in a rule"
        case ("rules", int(), "near"):
            return "in 'near'"
    return "in a term"


_TERM_LISTS = ("all", "any", "none")
_NAME_LISTS = ("tags", "sources", "notify")


def _list_named(path: Path_) -> str | None:
    """How to name the list that belongs at ``path``, if one does ("'all'", "entity 'e'")."""
    match path:
        case ("entities", str() as name):
            return f"entity {name!r}"
        case ("rules", int(), "near", "terms"):
            return "'near: terms'"
        case ("rules", int(), str() as key) if key in (*_TERM_LISTS, *_NAME_LISTS, "fields"):
            return f"'{key}'"
    return None


def _explain(error: ValidationError, doc: Document) -> Iterator[tuple[yaml.Node, str, yaml.Node | None]]:
    path: Path_ = tuple(error.absolute_path)
    value = error.instance
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        for key in value:
            if key not in allowed:
                message = f"unknown key {key!r} {_where(path)}{suggest(key, allowed)}"
                yield doc.node((*path, key), key=True), message, None
    elif error.validator == "propertyNames":  # an entity name
        for key in value:
            if not validator().evolve(schema=error.schema["propertyNames"]).is_valid(key):
                message = "an entity name must be letters, digits, '.', '_' or '-'"
                yield doc.node((*path, key), key=True), message, doc.node((*path, key))
    elif error.validator == "uniqueItems":  # 'fields'
        for i, item in enumerate(value):
            if item in value[:i]:
                yield doc.node((*path, i)), f"field {item!r} listed twice", None
    else:
        node = doc.node(path)
        # Keys missing from a rule or from 'near' leave the rest of it readable.
        about_keys = isinstance(value, dict) and error.validator in ("required", "anyOf", "oneOf")
        readable = about_keys and path[:1] == ("rules",) and len(path) in (2, 3)
        yield node, _message(path, error), None if readable else node


def _message(path: Path_, error: ValidationError) -> str:
    v, value = error.validator, error.instance
    shown = str(value)
    text = isinstance(value, str | int | float) and not isinstance(value, bool)
    match path:
        case ():
            return "a rule file must be a mapping with 'entities' and/or 'rules'"
        case ("entities",):
            return "'entities' must be a mapping of name: [aliases...]"
        case ("rules",):
            return "'rules' must be a list of rules"
        case ("rules", int()):
            if v == "type":
                return "a rule must be a mapping with at least 'id' and 'all' or 'any'"
            if v == "required":
                return "rule has no 'id'"
            rule_id = value.get("id")
            label = f"rule {str(rule_id)!r}" if isinstance(rule_id, str | int) else "rule"
            return f"{label} needs 'all' or 'any' (or both)"
        case ("rules", int(), "id"):
            if text and shown:
                return "a rule id must be letters, digits, '.', '_' or '-'"
            return "'id' must be a non-empty string"
        case ("rules", int(), "realert"):
            return '\'realert\' must be a duration like "6h" or "2d", or "never"'
        case ("rules", int(), "backfill"):
            return '\'backfill\' must be a duration like "24h" or "3d"'
        case ("rules", int(), "near"):
            if v == "type":
                like = "{terms: [...], words: 20} or {terms: [...], sentence: true}"
                return f"'near' must be a mapping like {like}"
            if v == "required":
                return "'near' needs 'terms'"
            return "'near' needs exactly one of 'words: N' or 'sentence: true'"
        case ("rules", int(), "near", "words"):
            return "'near: words' must be a whole number >= 0"
        case ("rules", int(), "near", "sentence"):
            return "'near: sentence' is true or left out (then give 'words: N')"
        case ("rules", int(), "near", "terms") if value and isinstance(value, list | str | int | float):
            return "'near: terms' needs at least two terms to be near each other"
        case ("rules", int(), "fields", *_) if v == "enum":
            fields = error.schema["enum"]
            return f"unknown field {shown!r}{suggest(shown, fields)}; fields are {', '.join(fields)}"
        case (*_, "case"):
            return "'case' must be 'sensitive' or 'insensitive'"
        case (*_, "exact"):
            return "'exact' must be true or false"
        case (*_, "lang"):
            alias = ALIASES.get(shown.lower())
            langs = error.schema.get("enum", [])
            hint = f" (did you mean '{alias}'?)" if alias else suggest(shown.lower(), langs)
            return f"unknown lang {shown!r}{hint}; langs: {', '.join(langs)}"
        case (*_, "term" | "re" | "title" | "description" as key):
            return f"'{key}' must be a non-empty string"
    named = _list_named(path)
    if named is not None:  # a list, or a lone item standing for a list of one
        if isinstance(value, list) and not value:
            return f"{named} is an empty list"
        if text and path[-1] in _NAME_LISTS:
            return f"an item of '{path[-1]}' must be a non-empty string"
        if text:
            return "a term must be a non-empty string"
        return f"{named} must be a list"
    parent = path[:-1]
    if path[-1:] and isinstance(path[-1], int) and parent[-1:] and parent[-1] in _NAME_LISTS:
        return f"an item of '{parent[-1]}' must be a non-empty string"
    if isinstance(value, list) and parent[:1] == ("rules",):
        if isinstance(parent[-1], int):
            return "lists inside an any-of list are not allowed; flatten them"
        return f"empty any-of list in {_list_named(parent)}"
    if isinstance(value, dict) and v == "oneOf":
        return "a term mapping needs exactly one of 'term' or 're'"
    return "a term must be a non-empty string"
