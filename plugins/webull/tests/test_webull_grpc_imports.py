"""grpcio is an optional extra: the plugin, its signers (the gRPC one included), its settings
and a signed HTTP request never import it; only ``brokerauth_webull.grpc_auth`` does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, sys
import brokerauth_webull, brokerauth_webull.plugin, brokerauth_webull.grpc_signing
import brokerauth_webull.events_messages, brokerauth_webull.settings
from brokerauth_webull.grpc_signing import metadata
metadata("k", "s", "2024-01-02T03:04:05Z", "n", b"x")
print(json.dumps(sorted(m for m in sys.modules if m == "grpc" or m.startswith("grpc."))))
"""


def run(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False, env=env)


def test_the_plugin_does_not_import_grpc() -> None:
    done = run(PROBE)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_importtime_shows_no_grpc() -> None:
    done = run(PROBE, "-X", "importtime")
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "brokerauth_webull.grpc_signing" in imported  # the probe measured what it should
    assert not {m for m in imported if m == "grpc" or m.startswith("grpc.")}


def test_the_grpc_module_imports_grpc() -> None:
    """The probe above can see grpc when it is imported (so its empty answer means something)."""
    try:
        import grpc  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("grpcio is not installed (pip install 'brokerauth-webull[grpc]')")
    with_grpc = PROBE.replace("import json, sys",
                              "import json, sys\nimport brokerauth_webull.grpc_auth")
    done = run(with_grpc)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "grpc" in json.loads(done.stdout.strip().splitlines()[-1])
