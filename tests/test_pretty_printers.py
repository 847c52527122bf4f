"""Pretty-printers that read an attrs object's fields themselves instead of its ``repr``
(rich's ``pretty_repr``, its REPL hook and ``show_locals`` tracebacks) show no secret: every
field holding one is ``repr=False``, as the design asks, not only hidden by a hand-written
``__repr__``."""

from __future__ import annotations

from typing import Any

import pytest
from brokerauth.contract.tokens import Token
from brokerauth.contract.wire import Request
from brokerauth.toolkit.oauth import Pkce
from brokerauth.toolkit.secrets import Secret
from rich.pretty import pretty_repr

SECRET = "PRETTY-SECRET-0123456789"


def _objects() -> dict[str, Any]:
    token = Token(access_token=SECRET + "a", refresh_token=SECRET + "r", broker="double",
                  extra={"id_token": SECRET + "x"})
    return {
        "Secret": Secret.from_value(SECRET),
        "Secret, revealed": _revealed(Secret.from_value(SECRET)),
        "Token": token,
        "Request": Request.from_url(
            "POST", f"https://api.example.com/x?key={SECRET}",
            headers={"Authorization": f"Bearer {SECRET}"}, body=f"code={SECRET}".encode()),
        "Pkce": Pkce.create(),
        "a list of tokens": [token, {"nested": token}],
    }


def _revealed(secret: Secret) -> Secret:
    secret.reveal()  # fills its cache
    return secret


@pytest.mark.parametrize("name", list(_objects()))
def test_rich_shows_no_secret(name: str) -> None:
    obj = _objects()[name]
    shown = pretty_repr(obj)
    assert SECRET not in shown, shown
    if isinstance(obj, Pkce):
        assert obj.verifier not in shown
    assert type(obj).__name__ in shown or name == "a list of tokens"


def test_a_live_sessions_objects_show_no_token(double: Any, session_factory: Any) -> None:
    import gc

    session = session_factory(double)
    assert session.get("/api/me").status == 200
    token = session.token
    assert token is not None
    secrets = {token.access_token, token.refresh_token, double.client_secret} - {None}
    # What a REPL would pretty-print: the session and everything of brokerauth it holds.
    held = [obj for obj in gc.get_referents(session, session.tokens, session.binding)
            if type(obj).__module__.startswith("brokerauth")]
    for obj in [session, session.tokens, session.binding, *held]:
        shown = pretty_repr(obj)
        assert not [s for s in secrets if s in shown], (type(obj).__qualname__, shown)
