"""Single-flight refresh across processes through the Futu SDK's token file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import brokerauth
from brokerauth.contract.clock import SystemClock
from brokerauth.engine.profiles import Profile
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_sandbox.fleet import run_fleet
from futu_helpers import free_port, read_json, redirect_for


def test_4_processes_x_8_threads_refresh_an_expired_login_once(futu_tokens: Path) -> None:
    sandbox = FutuSandbox(SystemClock(), profile_mode="oauth")
    sandbox.token_dir = str(futu_tokens)
    with sandbox:
        sandbox.profile_redirect_uri = redirect_for(free_port())
        client_id = sandbox.register_client([sandbox.profile_redirect_uri])
        sandbox.profile_client_id = client_id
        futu_tokens.mkdir(parents=True)
        path = futu_tokens / client_id
        issued = sandbox.issue_tokens(client_id)
        path.write_text(json.dumps(issued), encoding="utf-8")
        path.chmod(0o600)
        profile = Profile.from_mapping("fleet", {"broker": "futu", **sandbox.profile_settings()})
        with brokerauth.session(profile) as first:
            assert first.get("/v1/quote/snapshot").ok  # adopts the SDK's login
        # The login expires for everyone (the SDK's file says so).
        path.write_text(json.dumps({**issued, "expires_at": int(time.time()) - 5}),
                        encoding="utf-8")

        statuses = run_fleet(profile, path="/v1/quote/snapshot", processes=4, threads=8,
                             env={"FUTU_TOKEN_DIR": str(futu_tokens)})
        assert statuses == ["200"] * 32
        assert sandbox.stats["refresh"] == 1
        assert sandbox.stats["invalid_grant"] == 0
        final = read_json(path)
        assert final["refresh_token"] != issued["refresh_token"]
        assert sandbox.refresh_token_valid(final["refresh_token"])
