"""The command line's habits, as users of gh and aws expect them: ``--version``, shell
completion, a default profile from ``$BROKERAUTH_PROFILE``, examples in every ``--help``, and
errors that say what to write instead.  Driven as a user drives it: the real ``brokerauth``
in a subprocess (and a real ``bash`` for completion), or :func:`brokerauth.cli.main` with its
output captured."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import brokerauth
import pytest
from brokerauth.cli import COMMANDS, build_parser, main

BIN = Path(sys.executable).parent
BROKERAUTH = str(BIN / "brokerauth")
#: The commands that act on one profile, and the arguments each needs besides it.
ONE_PROFILE = {
    "sign": ["GET", "/x", "--no-token"],
    "login": ["--no-browser"],
    "refresh": [],
    "logout": [],
    "request": ["GET", "/x"],
    "export": ["--key-env", "SEAL_KEY"],
    "import": ["sealed.txt", "--key-env", "SEAL_KEY"],
    "users": [],
}
#: The tests whose profiles name the Webull broker: they need its plugin installed, as in the
#: tree; the core's sdist tested alone (tools/wheel_tests.sh) has none.
needs_webull = pytest.mark.skipif(
    importlib.util.find_spec("brokerauth_webull") is None,
    reason="needs the Webull broker plugin (brokerauth-webull), which is not installed")
WEBULL = """
[profiles.live]
broker = "webull"
app_key = { env = "HABITS_APP_KEY" }
app_secret = { env = "HABITS_APP_SECRET" }
two_factor = "off"

[profiles.paper]
broker = "webull"
app_key = { env = "HABITS_APP_KEY" }
app_secret = { env = "HABITS_APP_SECRET" }
environment = "uat"
two_factor = "off"
"""


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "BROKERAUTH_PROFILE"}
    full.update(env or {})
    return subprocess.run([BROKERAUTH, *args], capture_output=True, text=True, env=full,
                          cwd=cwd, timeout=timeout)


@pytest.fixture
def profiles(tmp_path: Path, token_home: Path) -> dict[str, str]:
    """A profiles file with two Webull profiles, and the environment that reaches it."""
    path = tmp_path / "profiles.toml"
    path.write_text(WEBULL)
    (tmp_path / "sealed.txt").write_text("not a sealed token\n")
    return {"BROKERAUTH_PROFILES": str(path), "HABITS_APP_KEY": "habits-app-key",
            "HABITS_APP_SECRET": "habits-app-secret", "SEAL_KEY": "k" * 32}


# 1. --version


def test_version_names_brokerauth_and_each_plugin_distribution() -> None:
    result = run("--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"brokerauth {brokerauth.__version__}"
    # The double's metadata is on the path of this process and of the command's.
    expected = {(ep.dist.name, ep.dist.version) for ep in
                importlib.metadata.entry_points(group="brokerauth") if ep.dist is not None}
    assert expected, "no plugin distribution installed: nothing to check"
    shown = {tuple(line.split(" ")[:2]) for line in lines[1:]}
    assert expected <= shown


def test_version_in_json_is_one_document_of_the_same_names() -> None:
    text = run("--version").stdout.splitlines()
    for argv in (["--version", "--json"], ["--json", "--version"]):
        result = run(*argv)
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["brokerauth"] == brokerauth.__version__
        lines = [f"brokerauth {document['brokerauth']}"] + [
            f"{d['name']} {d['version']} ({', '.join(d['entry_points'])})"
            for d in document["distributions"]]
        assert lines == text


@needs_webull
def test_version_names_each_broker_beside_its_distribution() -> None:
    result = run("--version")
    assert result.returncode == 0, result.stderr
    webull = next(line for line in result.stdout.splitlines()
                  if line.startswith("brokerauth-webull "))
    assert webull.endswith("(webull)")


def test_version_imports_no_plugin() -> None:
    """Nor the plugin host, nor importlib.metadata: the entry points' files are read."""
    probe = ("import sys\nfrom brokerauth.cli import main\ncode = main(['--version'])\n"
             "loaded = sorted(m for m in sys.modules if m.startswith('brokerauth_')\n"
             "                or m in ('importlib.metadata', 'brokerauth.engine.pluginhost'))\n"
             "print('LOADED', loaded, code)\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "LOADED [] 0" in result.stdout


# 2. completion


def _complete(script: str, line: str, env: dict[str, str]) -> list[str]:
    """What bash offers for ``line`` (the cursor at its end) with the script sourced: the
    words, COMP_WORDS and COMP_CWORD set as readline would set them."""
    driver = (
        'source "$1"\n'
        'read -ra COMP_WORDS <<< "$2"\n'
        '[[ "$2" == *" " ]] && COMP_WORDS+=("")\n'
        "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
        "COMP_LINE=\"$2\"; COMP_POINT=${#COMP_LINE}\n"
        "[[ \"$(complete -p brokerauth)\" == *'-F _brokerauth'* ]] || exit 7\n"
        '_brokerauth brokerauth "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    full = {**os.environ, **env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", driver, "bash", script, line],
                            capture_output=True, text=True, env=full, timeout=60)
    assert result.returncode == 0, result.stderr
    return sorted(filter(None, result.stdout.splitlines()))


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_completes_commands_options_and_profiles(
    tmp_path: Path, profiles: dict[str, str]
) -> None:
    made = run("completion", "bash")
    assert made.returncode == 0, made.stderr
    script = tmp_path / "brokerauth.bash"
    script.write_text(made.stdout)
    assert _complete(str(script), "brokerauth st", profiles) == ["status"]
    assert _complete(str(script), "brokerauth lo", profiles) == ["login", "logout"]
    assert _complete(str(script), "brokerauth sign --ex", profiles) == ["--explain"]
    assert _complete(str(script), "brokerauth --js", profiles) == ["--json"]
    # Profile names, asked of `brokerauth profiles --names` at each <TAB>.
    assert _complete(str(script), "brokerauth sign ", profiles) == ["live", "paper"]
    assert _complete(str(script), "brokerauth refresh p", profiles) == ["paper"]
    assert _complete(str(script), "brokerauth request -p l", profiles) == ["live"]
    # ... from the file --profiles names.
    other = tmp_path / "other.toml"
    other.write_text('[profiles.elsewhere]\nbroker = "webull"\n')
    assert _complete(str(script), f"brokerauth --profiles {other} status ",
                     profiles) == ["elsewhere"]
    # After the profile, sign's next word is a method, not another profile.
    assert "paper" not in _complete(str(script), "brokerauth sign live ", profiles)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_never_runs_what_a_profile_name_says(
    tmp_path: Path, profiles: dict[str, str]
) -> None:
    # A profiles file is data, perhaps a cloned repository's ./brokerauth.toml: a name
    # holding $(...) or backticks is offered as text, never run.
    made = run("completion", "bash")
    script = tmp_path / "brokerauth.bash"
    script.write_text(made.stdout)
    ran = tmp_path / "ran"
    hostile = tmp_path / "hostile.toml"
    hostile.write_text(f'[profiles."$(touch {ran}-1)"]\nbroker = "webull"\n'
                       f'[profiles."`touch {ran}-2`"]\nbroker = "webull"\n'
                       '[profiles."${HOME}"]\nbroker = "webull"\n')
    offered = _complete(str(script), f"brokerauth --profiles {hostile} status ", profiles)
    assert offered == sorted([f"$(touch {ran}-1)", f"`touch {ran}-2`", "${HOME}"])
    assert not list(tmp_path.glob("ran-*"))


def test_profiles_names_lists_names_without_resolving(profiles: dict[str, str],
                                                      tmp_path: Path) -> None:
    # One profile no plugin could resolve: --names still lists it, and succeeds.
    path = Path(profiles["BROKERAUTH_PROFILES"])
    path.write_text(path.read_text() + '\n[profiles.odd]\nbroker = "no-such-broker"\n')
    result = run("profiles", "--names", env=profiles)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["live", "odd", "paper"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts(shell: str, tmp_path: Path) -> None:
    made = run("completion", shell)
    assert made.returncode == 0, made.stderr
    script = tmp_path / f"brokerauth.{shell}"
    script.write_text(made.stdout)
    if shutil.which(shell):
        checked = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True,
                                 timeout=60)
        assert checked.returncode == 0, checked.stderr
    text = made.stdout
    assert "profiles --names" in text
    for name in COMMANDS:
        if shell == "fish":
            assert f" -a {name} -d " in text
        else:
            assert f"        {name}) opts=(" in text and f"'{name}:" in text
    if shell == "zsh":
        assert text.startswith("#compdef brokerauth\n")
        assert text.rstrip().endswith("compdef _brokerauth brokerauth")
    else:
        assert "__fish_seen_subcommand_from sign' -l explain" in text


def test_completion_loads_no_plugin_and_no_network_library() -> None:
    probe = ("import sys, io, contextlib\nfrom brokerauth.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    code = main(['completion', 'bash'])\n"
             "heavy = ('brokerauth_', 'urllib3', 'requests', 'httpx', 'cryptography', 'cattrs')\n"
             "loaded = sorted(m for m in sys.modules if m.startswith(heavy)\n"
             "                or m == 'brokerauth.engine.pluginhost')\n"
             "print('LOADED', loaded, code)\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "LOADED [] 0" in result.stdout


# 3. the profile: argument, -p, or $BROKERAUTH_PROFILE


def _signed_host(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    url: str = json.loads(result.stdout)["url"]
    return url.split("/")[2]


@needs_webull
def test_sign_takes_the_profile_as_argument_option_or_variable(
    profiles: dict[str, str]
) -> None:
    live = _signed_host(run("sign", "live", "GET", "/x", "--no-token", "--json", env=profiles))
    paper = _signed_host(run("sign", "-p", "paper", "GET", "/x", "--no-token", "--json",
                             env=profiles))
    assert live != paper
    from_env = run("sign", "GET", "/x", "--no-token", "--json",
                   env={**profiles, "BROKERAUTH_PROFILE": "paper"})
    assert _signed_host(from_env) == paper
    # What the command line names beats the variable.
    for args in (["live", "GET"], ["-p", "live", "GET"], ["GET", "-p", "live"]):
        beaten = run("sign", *args, "/x", "--no-token", "--json",
                     env={**profiles, "BROKERAUTH_PROFILE": "paper"})
        assert _signed_host(beaten) == live
    # The profile, then an option, then the other arguments: argparse alone would take the
    # profile for the method.
    before_option = run("sign", "live", "--no-token", "GET", "/x", "--json",
                        env={**profiles, "BROKERAUTH_PROFILE": "paper"})
    assert _signed_host(before_option) == live
    assert json.loads(before_option.stdout)["method"] == "GET"
    extra = run("sign", "live", "--no-token", "GET", "/x", "/y", env=profiles)
    assert extra.returncode == 2
    assert "unrecognized arguments: /y" in extra.stderr


@pytest.mark.parametrize("argv", [["status", "--bogus"], ["sign", "p", "GET", "/x", "/y"],
                                  ["plugins", "--bogus"]])
def test_an_argument_a_command_does_not_take_is_shown_with_that_command_s_usage(
    argv: list[str]
) -> None:
    """The command's own usage line (its arguments), not the top-level one."""
    result = run(*argv)
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: brokerauth {argv[0]} "), result.stderr
    assert "unrecognized arguments: " in result.stderr


@pytest.mark.parametrize("command", sorted(ONE_PROFILE))
def test_every_one_profile_command_takes_the_variable(
    command: str, profiles: dict[str, str], tmp_path: Path
) -> None:
    ghost = run(command, *ONE_PROFILE[command], cwd=tmp_path,
                env={**profiles, "BROKERAUTH_PROFILE": "ghost"})
    assert ghost.returncode == 2, ghost.stderr
    assert "no profile named 'ghost'" in ghost.stderr
    if command != "import":  # import names its profile with -p only: its argument is FILE
        named = run(command, "ghost2", *ONE_PROFILE[command], cwd=tmp_path,
                    env={**profiles, "BROKERAUTH_PROFILE": "ghost"})
        assert "no profile named 'ghost2'" in named.stderr
    option = run(command, *ONE_PROFILE[command], "-p", "ghost3", cwd=tmp_path,
                 env={**profiles, "BROKERAUTH_PROFILE": "ghost"})
    assert "no profile named 'ghost3'" in option.stderr
    none = run(command, *ONE_PROFILE[command], cwd=tmp_path, env=profiles)
    assert none.returncode == 2
    assert "no profile given" in none.stderr
    assert "BROKERAUTH_PROFILE" in none.stderr and "-p PROFILE" in none.stderr
    if command != "import":
        assert f"brokerauth {command} PROFILE" in none.stderr
    assert "Traceback" not in none.stderr + ghost.stderr


def test_two_different_profiles_are_refused(profiles: dict[str, str]) -> None:
    result = run("sign", "live", "-p", "paper", "GET", "/x", "--no-token", env=profiles)
    assert result.returncode == 2
    assert "two profiles given: 'live' and -p 'paper'" in result.stderr


def test_status_lists_every_profile_whatever_the_variable(profiles: dict[str, str]) -> None:
    # A listing command's default is every profile, not the default one.
    every = run("status", "--json", env={**profiles, "BROKERAUTH_PROFILE": "live"})
    assert {r["profile"] for r in json.loads(every.stdout)["profiles"]} == {"live", "paper"}
    one = run("status", "-p", "paper", "--json", env=profiles)
    assert [r["profile"] for r in json.loads(one.stdout)["profiles"]] == ["paper"]


# 4. --help: examples, and a help for every option


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_help_has_examples_and_no_option_without_help(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "\nexamples:\n" in text
    examples = text.split("\nexamples:\n", 1)[1].strip().splitlines()
    assert 1 <= len(examples) <= 3
    for line in examples:
        words = line.split()
        while "=" in words[0]:  # VARIABLE=value brokerauth ...
            words.pop(0)
        assert words[:2] == ["brokerauth", command], line
    subparsers = next(a for a in build_parser(command)._actions
                      if isinstance(a, argparse._SubParsersAction))
    parser = subparsers.choices[command]
    empty = [a.option_strings or a.dest for a in parser._actions
             if not (a.help or "").strip()]
    assert empty == []


@needs_webull
def test_examples_run_as_shown(profiles: dict[str, str]) -> None:
    """The sign example with a fixed time and nonce is a real invocation: it runs."""
    from brokerauth.cli import EXAMPLES

    line = next(e for e in EXAMPLES["sign"] if e.startswith("BROKERAUTH_PROFILE="))
    variable, *args = line.split()
    name, _, value = variable.partition("=")
    result = run(*args[1:], env={**profiles, name: value})
    assert result.returncode == 0, result.stderr
    assert "x-timestamp" in result.stdout.lower()


# 5. errors that say what to write


def _profile_error(tmp_path: Path, table: str, token_home: Path) -> str:
    path = tmp_path / "bad.toml"
    path.write_text("[profiles.bad]\n" + table)
    result = run("--profiles", str(path), "profiles", "bad",
                 env={"HABITS_APP_KEY": "k", "HABITS_APP_SECRET": "s"})
    assert result.returncode == 2
    return result.stdout + result.stderr


KEYS = 'app_key = { env = "HABITS_APP_KEY" }\napp_secret = { env = "HABITS_APP_SECRET" }\n'


@needs_webull
def test_a_literal_setting_names_its_allowed_values(tmp_path: Path, token_home: Path) -> None:
    text = _profile_error(tmp_path, f'broker = "webull"\n{KEYS}two_factor = "yes"\n',
                          token_home)
    assert "key 'two_factor': must be one of: auto, on, off" in text
    assert "Literal" not in text


@needs_webull
@pytest.mark.parametrize(("written", "meant"), [
    ("stroe", "store"), ("timeuot", "timeout"), ("enviroment", "environment"),
    ("two_facter", "two_factor"),
])
def test_a_misspelt_key_is_answered_with_the_nearest_key(
    written: str, meant: str, tmp_path: Path, token_home: Path
) -> None:
    text = _profile_error(tmp_path, f'broker = "webull"\n{KEYS}{written} = "x"\n', token_home)
    assert f"unknown key '{written}'; did you mean '{meant}'?" in text


def test_a_misspelt_broker_key_is_named(tmp_path: Path, token_home: Path) -> None:
    text = _profile_error(tmp_path, f'brokr = "webull"\n{KEYS}', token_home)
    assert "unknown key 'brokr'; did you mean 'broker'?" in text
    assert "rename brokr to broker" in text


@needs_webull
def test_a_sandbox_port_in_use_is_the_users_to_change() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # Were the port not refused, the sandbox would serve until killed by the timeout.
        result = run("sandbox", "webull", "--port", str(port), timeout=30)
    assert result.returncode == 2, result.stderr
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr
    assert "--port" in result.stderr.split("fix:", 1)[1]
    assert "unexpected" not in result.stderr and "report it" not in result.stderr


@pytest.mark.parametrize(("extra", "module", "call"), [
    ("requests", "brokerauth.adapters.requests_adapter", "requests_auth"),
    ("httpx", "brokerauth.adapters.httpx_adapter", "httpx_auth"),
])
def test_a_missing_adapter_extra_names_the_install_command(extra: str, module: str,
                                                           call: str) -> None:
    probe = (
        "import sys\n"
        "class Missing:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] == {extra!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Missing())\n"
        "import brokerauth.adapters as adapters\n"
        "for attempt in range(2):\n"
        "    try:\n"
        f"        adapters.{call}('any') if attempt else __import__({module!r})\n"
        "    except ModuleNotFoundError as exc:\n"
        "        print(type(exc).__name__, exc.name, isinstance(exc, adapters.MissingExtraError))\n"
        "        print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(f"MissingExtraError {extra} True") == 2
    assert result.stdout.count(f"fix: pip install 'brokerauth[{extra}]'") == 2


@pytest.mark.parametrize("argv", [
    ["--json", "bogus"],
    ["--json", "keepalive", "--within", "3x"],
    ["sign", "--json", "--no-such-option"],
])
def test_a_usage_error_under_json_is_one_document_on_stdout(argv: list[str]) -> None:
    result = run(*argv)
    assert result.returncode == 2
    assert result.stderr == ""
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "UsageError"
    assert error["message"]
    assert error["hint"].startswith("see `brokerauth")


@pytest.mark.parametrize("command", ["sign", "request"])
def test_a_mistyped_method_is_refused_before_anything_is_signed(command: str) -> None:
    result = run(command, "any-profile", "GTE", "/api/me")
    assert result.returncode == 2
    assert "'GTE' is not an HTTP method; did you mean GET?" in result.stderr
    assert "is not an HTTP" not in run(command, "any-profile", "get", "/api/me").stderr
