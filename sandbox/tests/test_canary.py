"""The secret canary (``pytest --secret-canary``) finds a leak wherever it is."""

from __future__ import annotations

from typing import Any

import pytest

LEAKY = '''
import logging
from datetime import datetime, timezone
from brokerauth.contract.tokens import Token
from brokerauth.contract.errors import BrokerError
from brokerauth.toolkit.secrets import Secret

def test_leaks(tmp_path):
    token = Token(access_token="tok-1234567890abcdef", broker="x")
    {leak}
'''


@pytest.mark.parametrize(("leak", "where"), [
    ('logging.getLogger("brokerauth.x").debug("sending %s", token.access_token)', "log record"),
    ('BrokerError(f"refused {token.access_token}")', "error BrokerError"),
    ('(tmp_path / "out.txt").write_text(Secret.from_value("s3cret-value-xyz").reveal())',
     "file"),
    ("global KEEP\n    import brokerauth_leaky\n    KEEP = brokerauth_leaky.Holder(token)",
     "repr() of Holder"),
    # Its own repr hides the token; a pretty-printer that reads attrs fields does not.
    ("global KEEP\n    import brokerauth_leaky\n"
     "    KEEP = brokerauth_leaky.Sealed(token.access_token)", "pretty_repr() of Sealed"),
])
def test_a_leak_fails_the_run(pytester: Any, leak: str, where: str) -> None:
    # A brokerauth-named module whose class shows a token in its repr, as a careless plugin
    # might.
    pytester.makepyfile(brokerauth_leaky=(
        "import attrs\n"
        "@attrs.frozen(repr=False)\n"
        "class Sealed:\n"
        "    token: str\n"
        "    def __repr__(self):\n"
        "        return 'Sealed()'\n"
        "class Holder:\n"
        "    def __init__(self, token):\n"
        "        self.token = token\n"
        "    def __repr__(self):\n"
        "        return f'Holder({self.token.access_token})'\n"
    ))
    pytester.makepyfile(LEAKY.format(leak=leak))
    result = pytester.runpytest_subprocess("-p", "brokerauth_sandbox.pytest_plugin",
                                           "--secret-canary", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*LEAK {where}*contains a secret*"])
    assert "tok-1234567890abcdef" not in result.stdout.str()


def test_a_clean_run_passes(pytester: Any) -> None:
    pytester.makepyfile(LEAKY.format(leak='assert repr(token).startswith("Token(")'))
    result = pytester.runpytest_subprocess("-p", "brokerauth_sandbox.pytest_plugin",
                                           "--secret-canary", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*secret canary: * 0 leaks*"])
