"""The command line, driven as a user drives it: a subprocess per command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))


def live_profile(double: Any, folder: Path, name: str = "live") -> dict[str, str]:
    """A profiles file in ``folder`` with profile ``name`` on the test double's sandbox
    ``double``, its secret a reference: the environment a command needs to use it."""
    path = folder / "profiles.toml"
    path.write_text(
        f"[profiles.{name}]\n"
        'broker = "double"\n'
        f'base_url = "{double.base_url}"\n'
        f'client_id = "{double.client_id}"\n'
        'client_secret = { env = "DOUBLE_LIVE_SECRET" }\n'
    )
    return {"DOUBLE_LIVE_SECRET": double.client_secret, "BROKERAUTH_PROFILES": str(path)}


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([BROKERAUTH, *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, input=stdin, timeout=60)


@pytest.fixture
def profiles(tmp_path: Path, token_home: Path) -> Path:
    path = tmp_path / "profiles.toml"
    result = run("--profiles", str(path), "init", "double1", "--broker", "double",
                 "--set", "client_id=cid", "--secret", "client_secret=DOUBLE_SECRET_CLI",
                 "--set", "base_url=http://127.0.0.1:9")
    assert result.returncode == 0, result.stderr
    return path


def test_plugins_lists_installed_plugins_as_json() -> None:
    result = run("plugins", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    names = {p["name"]: p for p in data["plugins"]}
    assert names["builtin"]["distribution"] == "brokerauth"
    assert {"kind": "store", "name": "file"}.items() <= names["builtin"]["strategies"][0].items()
    assert names["double"]["brokers"][0]["id"] == "double"
    assert "client_secret" in names["double"]["brokers"][0]["settings"]


def test_plugins_broker_lists_each_setting_with_its_default_and_help() -> None:
    # What `brokerauth init` and the plugins' READMEs send a person to read.
    shown = run("plugins", "double")
    assert shown.returncode == 0, shown.stderr
    assert "the client id the double issued" in shown.stdout
    data = json.loads(run("plugins", "double", "--json").stdout)
    settings = {s["key"]: s for s in data["settings"]}
    assert settings["client_id"]["default"] == "required"
    assert settings["client_secret"]["help"] == "the client secret (a reference)"
    assert data["broker"] == "double"
    unknown = run("plugins", "doubel")
    assert unknown.returncode == 2
    assert "did you mean 'double'" in unknown.stderr


def test_init_writes_references_never_values(profiles: Path) -> None:
    text = profiles.read_text()
    assert 'env = "DOUBLE_SECRET_CLI"' in text
    again = run("--profiles", str(profiles), "init", "double1", "--broker", "double",
                "--set", "client_id=cid", "--secret", "client_secret=X")
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert "--force" in again.stderr


@pytest.mark.parametrize(("value", "words"), [(None, "which is not set here"),
                                               ("", "which is set but empty here")])
def test_init_notes_a_secret_variable_that_will_not_serve(
    tmp_path: Path, value: str | None, words: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "INIT_SECRET_X"}
    if value is not None:
        env["INIT_SECRET_X"] = value
    args = ("--profiles", str(tmp_path / "p.toml"), "init", "x", "--broker", "double",
            "--set", "client_id=cid", "--secret", "client_secret=INIT_SECRET_X")
    result = subprocess.run([BROKERAUTH, *args], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"client_secret comes from $INIT_SECRET_X, {words}" in result.stdout


def test_init_refuses_an_invalid_profile_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    result = run("--profiles", str(path), "init", "x", "--broker", "double",
                 "--set", "client_id=cid", "--set", "colour=red",
                 "--secret", "client_secret=S")
    assert result.returncode == 2
    assert "unknown key" in result.stderr
    assert "colour" in result.stderr
    assert not path.exists()


def test_init_asks_at_a_terminal_only(tmp_path: Path) -> None:
    result = run("--profiles", str(tmp_path / "p.toml"), "init", stdin="")
    assert result.returncode == 2
    assert "needs a NAME and --broker" in result.stderr


def test_profiles_checks_each_profile(profiles: Path) -> None:
    bad = run("profiles", "--profiles", str(profiles), env={"DOUBLE_SECRET_CLI": ""})
    assert bad.returncode == 2
    assert "DOUBLE_SECRET_CLI is set but empty" in bad.stdout
    good = run("profiles", "--profiles", str(profiles), "--json",
               env={"DOUBLE_SECRET_CLI": "s3cret"})
    assert good.returncode == 0
    row = json.loads(good.stdout)["profiles"][0]
    assert row["ok"] is True
    assert row["signer"] == "double-hmac"


def test_sign_is_reproducible_and_matches_the_plugin(profiles: Path) -> None:
    from doubles.plugin import signature, string_to_sign

    args = ["sign", "--profiles", str(profiles), "-p", "double1", "POST", "/api/orders?b=2",
            "--data", '{"qty":1}', "--timestamp", "2024-01-02T03:04:05Z", "--nonce", "n1",
            "--json"]
    first = run(*args, env={"DOUBLE_SECRET_CLI": "s3cret"})
    second = run(*args, env={"DOUBLE_SECRET_CLI": "s3cret"})
    assert first.returncode == 0, first.stderr
    headers = json.loads(first.stdout)["headers"]
    assert headers == json.loads(second.stdout)["headers"]
    expected = signature("s3cret", string_to_sign(
        "POST", "127.0.0.1:9", "/api/orders", "b=2", "1704164645", "n1", b'{"qty":1}'))
    assert headers["X-Double-Signature"] == expected
    assert "s3cret" not in first.stdout


def test_sign_masks_a_stored_token_unless_revealed(profiles: Path, token_home: Path) -> None:
    from brokerauth.contract.tokens import Token
    from brokerauth.engine.api import open_binding

    os.environ["DOUBLE_SECRET_CLI"] = "s3cret"
    try:
        binding = open_binding("double1", profiles=profiles)
        binding.save(Token(access_token="tok-" + "a" * 20, broker="double"))
    finally:
        del os.environ["DOUBLE_SECRET_CLI"]
    masked = run("sign", "--profiles", str(profiles), "-p", "double1", "GET", "/api/me",
                 env={"DOUBLE_SECRET_CLI": "s3cret"})
    assert "tok-aaaa" not in masked.stdout
    assert "Authorization: Bearer <hidden, 24 characters" in masked.stdout
    shown = run("sign", "--profiles", str(profiles), "-p", "double1", "GET", "/api/me",
                "--reveal", env={"DOUBLE_SECRET_CLI": "s3cret"})
    assert "Bearer tok-aaaa" in shown.stdout


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["sign", "-p", "nope", "GET", "/"], 2, "no profile named 'nope'"),
        (["profiles", "--profiles", "/nonexistent/p.toml"], 2, "does not exist"),
    ],
)
def test_errors_say_what_to_do(args: list[str], code: int, words: str, profiles: Path) -> None:
    full = [args[0], "--profiles", str(profiles), *args[1:]] if "--profiles" not in args else args
    result = run(*full)
    assert result.returncode == code
    assert words in result.stderr
    assert "fix:" in result.stderr
    json_result = run(*full, "--json")
    error: dict[str, Any] = json.loads(json_result.stdout)["error"]
    assert words in error["message"]


def test_init_asks_for_each_setting_at_a_terminal(tmp_path: Path) -> None:
    import pty

    path = tmp_path / "p.toml"
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [BROKERAUTH, "--profiles", str(path), "init"], stdin=secondary, stdout=secondary,
        stderr=secondary, close_fds=True,
    )
    os.close(secondary)
    # profile name, broker, client_id, the secret's environment variable, base_url and
    # region (their defaults)
    os.write(primary, b"mine\ndouble\nmy-client\nMY_DOUBLE_SECRET\n\n\n")
    output = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=30) == 0, output.decode()
    os.close(primary)
    text = output.decode()
    assert "client_secret" in text
    assert "environment variable" in text
    written = path.read_text()
    assert 'client_id = "my-client"' in written
    assert 'env = "MY_DOUBLE_SECRET"' in written
    assert "base_url" not in written  # the default was kept, so it is not written
