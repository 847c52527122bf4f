"""Webull's official SDK (webull-openapi-python-sdk 3.0.4), unmodified, against the sandbox on an
ephemeral port, with 2FA on and off; and the token it saves, imported by brokerauth.

The SDK cannot share the suite's environment (on Python 3.11 it needs cryptography<42, the
Redis store >=42), so it runs in its own: `make sdk-venv`, which `make test` builds and names
in $BROKERAUTH_WEBULL_SDK_PYTHON.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.clock import SystemClock
from brokerauth_webull.sandbox.server import WebullSandbox

DRIVER = Path(__file__).with_name("sdk_driver.py")


@pytest.fixture
def sdk_python() -> str:
    found = os.environ.get("BROKERAUTH_WEBULL_SDK_PYTHON", "")
    if not found:
        message = ("the official SDK's interpreter is not set up: run `make sdk-venv` "
                   "(make test does)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def run_sdk(sdk_python: str, sandbox: WebullSandbox, token_dir: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sdk_python, str(DRIVER), str(sandbox.port), sandbox.app_key, sandbox.app_secret,
         str(token_dir)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


@pytest.mark.parametrize("two_factor", [True, False], ids=["2fa-on", "2fa-off"])
def test_the_official_sdk_runs_against_the_sandbox(
    sdk_python: str, tmp_path: Path, two_factor: bool
) -> None:
    # The SDK reads the machine's clock: so does this sandbox.
    with WebullSandbox(SystemClock(), two_factor_required=two_factor,
                       auto_verify=two_factor) as sandbox:
        answer = run_sdk(sdk_python, sandbox, tmp_path / "conf")
        assert answer["status"] == 200
        assert answer["body"][0]["account_id"]
        assert not +sandbox.rejections  # every request the SDK signed was accepted
        assert (tmp_path / "conf" / "token.txt").exists() is two_factor


def test_the_token_the_sdk_saved_is_imported(
    sdk_python: str, tmp_path: Path, session_factory: Any
) -> None:
    with WebullSandbox(SystemClock(), two_factor_required=True, auto_verify=True) as sandbox:
        run_sdk(sdk_python, sandbox, tmp_path / "conf")
        assert sandbox.tokens_created == 1
        session = session_factory(sandbox, two_factor="on", import_sdk_token=True,
                                  sdk_token_dir=str(tmp_path / "conf"))
        assert session.get("/openapi/account/list").status == 200
        assert sandbox.tokens_created == 1  # the SDK's token, reused: no second one was made
