"""``brokerauth completion bash|zsh|fish``: a completion script for that shell.

The script knows the commands and each one's options as of this installation (it is made from
the commands' own parsers: built, not run, and no plugin is loaded); profile names are asked
for at each <TAB> with ``brokerauth profiles --names``, which reads the profiles file and
resolves nothing.  Commands other distributions add are completed by name.

    brokerauth completion bash > ~/.local/share/bash-completion/completions/brokerauth
    brokerauth completion zsh > "${fpath[1]}/_brokerauth"
    brokerauth completion fish > ~/.config/fish/completions/brokerauth.fish
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import NamedTuple

from brokerauth.cli.output import Output

SHELLS = ("bash", "zsh", "fish")
#: Options whose value is a path, completed as files.
_FILE_OPTIONS = ("--profiles", "--key-file", "-o", "--output", "--secret-file")
#: Options whose value is a profile name.
_PROFILE_OPTIONS = ("-p", "--profile")


class Option(NamedTuple):
    flags: tuple[str, ...]
    takes_value: bool
    help: str


class Command(NamedTuple):
    name: str
    help: str
    options: tuple[Option, ...]
    #: How the positional arguments take profile names: "first" (the first one), "all"
    #: (every one), or "" (none).
    profiles: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def run(args: argparse.Namespace, out: Output) -> int:
    commands = list(_commands())
    script = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}[args.shell](commands)
    out.data({"shell": args.shell, "script": script})
    if not out.json_mode:
        out.stream.write(script)
    return 0


def _commands() -> Iterator[Command]:
    import importlib

    from brokerauth.cli import COMMANDS, _add_common, _HelpFormatter, extension_commands

    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, argparse.SUPPRESS)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(f"brokerauth.cli.{module_name}")
        parser = argparse.ArgumentParser(prog=f"brokerauth {name}", parents=[common],
                                         formatter_class=_HelpFormatter)
        module.add_arguments(parser)
        yield _command(name, help_text, parser)
    for name in sorted(extension_commands()):
        if name not in COMMANDS:
            yield Command(name, "", (), "")


def _command(name: str, help_text: str, parser: argparse.ArgumentParser) -> Command:
    options: list[Option] = []
    positionals: list[argparse.Action] = []
    for action in parser._actions:
        if action.option_strings:
            if action.help is not argparse.SUPPRESS:
                options.append(Option(tuple(action.option_strings), action.nargs != 0,
                                      (action.help or "").split(";")[0]))
        else:
            positionals.append(action)
    profiles = ""
    if positionals and (positionals[0].dest == "profile" or name == "profiles"):
        profiles = "all" if positionals[0].nargs == "*" else "first"
    return Command(name, help_text, tuple(options), profiles)


def _words(items: Iterator[str] | list[str] | tuple[str, ...]) -> str:
    return " ".join(items)


def _value_options(commands: list[Command]) -> list[str]:
    flags = {"--profiles"}
    for command in commands:
        for option in command.options:
            if option.takes_value:
                flags.update(option.flags)
    return sorted(flags)


_GLOBAL = ("--profiles", "--json", "-v", "--verbose", "--version", "-h", "--help")


def bash_script(commands: list[Command]) -> str:
    cases = "\n".join(
        f"        {c.name}) opts=\"{_words(f for o in c.options for f in o.flags)}\"; "
        f"profiles=\"{c.profiles}\";;" for c in commands)
    return f"""# bash completion for brokerauth (made by `brokerauth completion bash`)
_brokerauth_profiles() {{
    local i files=()
    for ((i=1; i<${{#COMP_WORDS[@]}}-1; i++)); do
        [[ "${{COMP_WORDS[i]}}" == --profiles ]] && files=(--profiles "${{COMP_WORDS[i+1]}}")
    done
    "${{COMP_WORDS[0]}}" "${{files[@]}}" profiles --names 2>/dev/null
}}

# Profile names are data from a profiles file (maybe ./brokerauth.toml of a cloned
# repository): matched as text, never through compgen -W, which would expand $(...) in them.
_brokerauth_match_profiles() {{
    local name
    while IFS= read -r name; do
        [[ "$name" == "$cur"* ]] && COMPREPLY+=("$name")
    done < <(_brokerauth_profiles)
}}

_brokerauth() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local cmd="" i word positional=0 opts="" profiles=""
    local valued=" {_words(_value_options(commands))} "
    COMPREPLY=()
    for ((i=1; i<COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        if [[ "$valued" == *" $word "* ]]; then
            ((i++))
        elif [[ "$word" != -* ]]; then
            if [[ -z "$cmd" ]]; then cmd="$word"; else ((positional++)); fi
        fi
    done
    case "$prev" in
        {'|'.join(_PROFILE_OPTIONS)})
            _brokerauth_match_profiles; return;;
        {'|'.join(_FILE_OPTIONS)})
            COMPREPLY=($(compgen -f -- "$cur")); return;;
    esac
    if [[ -z "$cmd" ]]; then
        if [[ "$cur" == -* ]]; then
            COMPREPLY=($(compgen -W "{_words(_GLOBAL)}" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "{_words(c.name for c in commands)}" -- "$cur"))
        fi
        return
    fi
    case "$cmd" in
{cases}
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$opts -h --help" -- "$cur"))
    elif [[ "$profiles" == all || ( "$profiles" == first && $positional -eq 0 ) ]]; then
        _brokerauth_match_profiles
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}}
complete -o default -F _brokerauth brokerauth
"""


def _zsh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def zsh_script(commands: list[Command]) -> str:
    described = "\n".join(
        f"        {_zsh_quote(c.name + ':' + (c.help or c.name).replace(':', ' -'))}"
        for c in commands)
    cases = "\n".join(
        f"        {c.name}) opts=({_words(f for o in c.options for f in o.flags)}); "
        f"profiles={c.profiles or 'none'};;" for c in commands)
    return f"""#compdef brokerauth
# zsh completion for brokerauth (made by `brokerauth completion zsh`)
_brokerauth_profiles() {{
    local -a files names
    local i
    for ((i=2; i<CURRENT; i++)); do
        [[ "${{words[i]}}" == --profiles ]] && files=(--profiles "${{words[i+1]}}")
    done
    names=(${{(f)"$(${{words[1]}} $files profiles --names 2>/dev/null)"}})
    compadd -a names
}}

_brokerauth() {{
    local -a commands opts valued
    local cmd="" word profiles=none
    local -i i positional=0
    commands=(
{described}
    )
    valued=({_words(_value_options(commands))})
    for ((i=2; i<CURRENT; i++)); do
        word="${{words[i]}}"
        if (( ${{valued[(Ie)$word]}} )); then
            ((i++))
        elif [[ "$word" != -* ]]; then
            if [[ -z "$cmd" ]]; then cmd="$word"; else ((positional++)); fi
        fi
    done
    case "${{words[CURRENT-1]}}" in
        {'|'.join(_PROFILE_OPTIONS)}) _brokerauth_profiles; return;;
        {'|'.join(_FILE_OPTIONS)}) _files; return;;
    esac
    if [[ -z "$cmd" ]]; then
        if [[ "$PREFIX" == -* ]]; then
            compadd -- {_words(_GLOBAL)}
        else
            _describe -t commands 'brokerauth command' commands
        fi
        return
    fi
    case "$cmd" in
{cases}
    esac
    if [[ "$PREFIX" == -* ]]; then
        compadd -- $opts -h --help
    elif [[ "$profiles" == all || ( "$profiles" == first && $positional -eq 0 ) ]]; then
        _brokerauth_profiles
    else
        _files
    fi
}}

compdef _brokerauth brokerauth
"""


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish_script(commands: list[Command]) -> str:
    names = _words(c.name for c in commands)
    lines = [
        "# fish completion for brokerauth (made by `brokerauth completion fish`)",
        "function __brokerauth_profiles",
        "    set -l tokens (commandline -opc)",
        "    set -l files",
        "    set -l i (contains -i -- --profiles $tokens)",
        "    and set files --profiles $tokens[(math $i + 1)]",
        "    $tokens[1] $files profiles --names 2>/dev/null",
        "end",
        "complete -c brokerauth -f",
        "complete -c brokerauth -l profiles -r -F -d 'profiles file to use'",
        "complete -c brokerauth -l json -d 'print JSON for scripts'",
        "complete -c brokerauth -s v -l verbose -d 'log at DEBUG level'",
        f"complete -c brokerauth -n 'not __fish_seen_subcommand_from {names}' -l version "
        "-d 'print the versions'",
    ]
    for command in commands:
        lines.append(f"complete -c brokerauth -n 'not __fish_seen_subcommand_from {names}' "
                     f"-a {command.name} -d {_fish_quote(command.help or command.name)}")
        when = f"-n '__fish_seen_subcommand_from {command.name}'"
        for option in command.options:
            if option.flags[0] in ("--profiles", "--json", "-v", "--verbose", "-h"):
                continue
            parts = []
            for flag in option.flags:
                parts.append(f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}")
            value = ""
            if option.takes_value:
                if set(option.flags) & set(_PROFILE_OPTIONS):
                    value = " -x -a '(__brokerauth_profiles)'"
                elif set(option.flags) & set(_FILE_OPTIONS):
                    value = " -r -F"
                else:
                    value = " -x"
            lines.append(f"complete -c brokerauth {when} {' '.join(parts)}{value} "
                         f"-d {_fish_quote(option.help)}")
        if command.profiles:
            lines.append(f"complete -c brokerauth {when} -a '(__brokerauth_profiles)'")
    return "\n".join(lines) + "\n"
