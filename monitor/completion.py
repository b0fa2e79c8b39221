"""Shell completion scripts generated from the argparse parser itself, so they cannot go stale.

The parser is walked once into a tree of commands (subcommands, options, whether an option takes a value,
its choices, whether it names a file); each shell gets the same small state machine over that tree:
walk the words typed so far to find the current command, skip option values, then offer that command's
subcommands and options, or the value of the option just typed.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field

__all__ = ["SHELLS", "Command", "command_tree", "generate"]

SHELLS = ("bash", "zsh", "fish")
# Option values that are file names get file completion; everything else is free text.
_FILE_DESTS = frozenset({"config", "file", "output", "rules", "path"})
_FILE_METAVARS = frozenset({"FILE", "PATH", "CONFIG", "DIR"})
_SAFE_WORD = re.compile(r"^[\w.+:@/-]+$")


@dataclass(slots=True)
class Option:
    flags: tuple[str, ...]
    help: str
    takes_value: bool
    choices: tuple[str, ...] = ()
    files: bool = False


@dataclass(slots=True)
class Command:
    path: str  # "newsmon sources add"
    help: str = ""
    commands: dict[str, Command] = field(default_factory=dict)
    options: list[Option] = field(default_factory=list)
    choices: tuple[str, ...] = ()  # positional arguments with fixed choices
    files: bool = False  # a positional argument that names a file

    def walk(self) -> list[Command]:
        out = [self]
        for sub in self.commands.values():
            out += sub.walk()
        return out


def _help(text: str | None) -> str:
    if not text or text == argparse.SUPPRESS:
        return ""
    return " ".join(text.split())


def _names_file(action: argparse.Action) -> bool:
    metavar = action.metavar if isinstance(action.metavar, str) else ""
    return action.dest in _FILE_DESTS or metavar in _FILE_METAVARS


def command_tree(parser: argparse.ArgumentParser, path: str | None = None, help: str = "") -> Command:
    """The parser's commands and options. argparse has no public API for this; ``_actions`` and
    ``_SubParsersAction`` have been stable since Python 3.2 and are what argparse's own help uses."""
    node = Command(path or parser.prog, help)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: _help(a.help) for a in action._choices_actions}
            for name, sub in action.choices.items():
                node.commands[name] = command_tree(sub, f"{node.path} {name}", helps.get(name, ""))
        elif action.option_strings:
            if action.help == argparse.SUPPRESS:
                continue
            node.options.append(
                Option(
                    flags=tuple(action.option_strings),
                    help=_help(action.help),
                    takes_value=action.nargs != 0,
                    choices=tuple(str(c) for c in action.choices or ()),
                    files=action.nargs != 0 and _names_file(action),
                )
            )
        elif action.choices:
            node.choices += tuple(str(c) for c in action.choices)
        elif _names_file(action):
            node.files = True
    return node


def generate(shell: str, parser: argparse.ArgumentParser) -> str:
    tree = command_tree(parser)
    if shell == "bash":
        return _bash(tree)
    if shell == "zsh":
        return _zsh(tree)
    if shell == "fish":
        return _fish(tree)
    raise ValueError(f"unknown shell {shell!r}; expected one of {', '.join(SHELLS)}")


def _words(items: list[str] | tuple[str, ...]) -> str:
    # Everything generated comes from our own parser, but a stray quote must never break a user's shell.
    return " ".join(w for w in items if _SAFE_WORD.match(w))


def _sq(text: str) -> str:
    """Single-quoted for sh/zsh/fish."""
    return "'" + text.replace("'", "'\\''") + "'"


def _fish_sq(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(slots=True)
class _Tables:
    descend: list[str]  # "newsmon sources" + " add": word paths that enter a subcommand
    value_opts: list[str]  # "newsmon once --source": options whose next word is a value
    file_opts: list[str]
    choice_opts: list[tuple[str, tuple[str, ...]]]


def _tables(tree: Command) -> _Tables:
    t = _Tables([], [], [], [])
    for node in tree.walk():
        t.descend += [f"{node.path} {name}" for name in node.commands]
        for opt in node.options:
            if not opt.takes_value:
                continue
            for flag in opt.flags:
                key = f"{node.path} {flag}"
                t.value_opts.append(key)
                if opt.choices:
                    t.choice_opts.append((key, opt.choices))
                elif opt.files:
                    t.file_opts.append(key)
    return t


def _alts(keys: list[str]) -> str:
    # An empty case pattern is a syntax error in every shell; a word nobody types is not.
    return "|".join(f'"{k}"' for k in keys) or '"--no-such-word--"'


def _bash(tree: Command) -> str:
    t = _tables(tree)
    value_arms = []
    if t.file_opts:
        value_arms.append(f'        {_alts(t.file_opts)}) COMPREPLY=($(compgen -f -- "$cur")); return ;;')
    for key, choices in t.choice_opts:
        value_arms.append(
            f'        "{key}") COMPREPLY=($(compgen -W "{_words(choices)}" -- "$cur")); return ;;'
        )
    value_arms.append(f"        {_alts(t.value_opts)}) COMPREPLY=(); return ;;")
    node_arms = []
    for node in tree.walk():
        words = [*node.commands, *node.choices, *(f for o in node.options for f in o.flags)]
        files = " files=1" if node.files else ""
        node_arms.append(f'        "{node.path}") words="{_words(words)}"{files} ;;')
    return f"""# bash completion for {tree.path}, generated by `{tree.path} completion bash`.
# Install: {tree.path} completion bash > ~/.local/share/bash-completion/completions/{tree.path}
_{tree.path}() {{
    local cur prev word path words="" files=0 skip=0 i
    cur=${{COMP_WORDS[COMP_CWORD]}}
    prev=${{COMP_WORDS[COMP_CWORD-1]}}
    path={tree.path}
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${{COMP_WORDS[i]}}
        if ((skip)); then skip=0; continue; fi
        case "$path $word" in
        {_alts(t.descend)}) path="$path $word" ;;
        {_alts(t.value_opts)}) skip=1 ;;
        esac
    done
    case "$path $prev" in
{chr(10).join(value_arms)}
    esac
    case "$path" in
{chr(10).join(node_arms)}
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
    if ((files)); then COMPREPLY+=($(compgen -f -- "$cur")); fi
}}
complete -F _{tree.path} {tree.path}
"""


def _zsh(tree: Command) -> str:
    t = _tables(tree)
    value_arms = []
    if t.file_opts:
        value_arms.append(f"    ({_alts(t.file_opts)}) _files; return ;;")
    for key, choices in t.choice_opts:
        value_arms.append(f'    ("{key}") compadd -- {_words(choices)}; return ;;')
    value_arms.append(f"    ({_alts(t.value_opts)}) return ;;")
    node_arms = []
    for node in tree.walk():
        subs = " ".join(_sq(f"{name}:{sub.help}") for name, sub in node.commands.items())
        opts = _words([*node.choices, *(f for o in node.options for f in o.flags)])
        files = " files=1" if node.files else ""
        node_arms.append(f'    ("{node.path}") subcommands=({subs}); extra=({opts}){files} ;;')
    name = tree.path
    return f"""#compdef {name}
# zsh completion for {name}, generated by `{name} completion zsh`.
# Install: {name} completion zsh > "${{fpath[1]}}/_{name}"   (or: source <({name} completion zsh))
_{name}() {{
  local cmdpath={name} word prev skip=0 files=0 i
  local -a subcommands extra
  for (( i = 2; i < CURRENT; i++ )); do
    word=${{words[i]}}
    if (( skip )); then skip=0; continue; fi
    case "$cmdpath $word" in
    ({_alts(t.descend)}) cmdpath="$cmdpath $word" ;;
    ({_alts(t.value_opts)}) skip=1 ;;
    esac
  done
  prev=${{words[CURRENT-1]}}
  case "$cmdpath $prev" in
{chr(10).join(value_arms)}
  esac
  case "$cmdpath" in
{chr(10).join(node_arms)}
  esac
  (( ${{#subcommands}} )) && _describe -t commands '{name} command' subcommands
  (( ${{#extra}} )) && compadd -- $extra
  (( files )) && _files
  return 0
}}
if [ "$funcstack[1]" = "_{name}" ]; then _{name} "$@"; else compdef _{name} {name}; fi
"""


def _fish(tree: Command) -> str:
    t = _tables(tree)
    name = tree.path
    descend = " ".join(_fish_sq(k) for k in t.descend)
    values = " ".join(_fish_sq(k) for k in t.value_opts)
    lines = [
        f"# fish completion for {name}, generated by `{name} completion fish`.",
        f"# Install: {name} completion fish > ~/.config/fish/completions/{name}.fish",
        f"function __{name}_path",
        "    set -l p " + name,
        "    set -l skip 0",
        "    for w in (commandline -opc)[2..-1]",
        "        if test $skip -eq 1",
        "            set skip 0",
        "            continue",
        "        end",
        '        switch "$p $w"',
        f"            case {descend}",
        '                set p "$p $w"',
        f"            case {values}",
        "                set skip 1",
        "        end",
        "    end",
        "    echo $p",
        "end",
        f"function __{name}_at",
        f'    test (__{name}_path) = "$argv[1]"',
        "end",
        f"complete -c {name} -f",
    ]
    for node in tree.walk():
        cond = f"-n {_fish_sq(f'__{name}_at {_sq(node.path)}')}"
        for sub_name, sub in node.commands.items():
            lines.append(f"complete -c {name} {cond} -a {sub_name} -d {_fish_sq(sub.help)}")
        if node.choices:
            lines.append(f"complete -c {name} {cond} -a {_fish_sq(_words(node.choices))}")
        if node.files:
            lines.append(f"complete -c {name} {cond} -F")
        for opt in node.options:
            flags = []
            for flag in opt.flags:
                if flag.startswith("--"):
                    flags.append(f"-l {flag[2:]}")
                elif len(flag) == 2:
                    flags.append(f"-s {flag[1]}")
                else:
                    flags.append(f"-o {flag[1:]}")
            value = ""
            if opt.takes_value:
                value = f" -x -a {_fish_sq(_words(opt.choices))}" if opt.choices else " -r"
                value += " -F" if opt.files else ""
            lines.append(f"complete -c {name} {cond} {' '.join(flags)}{value} -d {_fish_sq(opt.help)}")
    return "\n".join(lines) + "\n"
