"""The account facts Futu's token answers carry beyond RFC 6749, kept on the token.

futu-cli's ``TokenResponse`` reads ``futu_id``, ``member_id``, ``account_no``,
``account_type``, ``account_channel``, ``name``, ``quote_permissions``,
``activated_packages`` and ``unactivated_packages`` at the top of the answer, and the same
fields inside an ``account`` object, which wins.  They are who logged in and what the login
may do: non-secret, so they live in ``Token.extra`` (``brokerauth status`` shows them) and in
the plugin's login record beside the SDK's file (see :mod:`brokerauth_futu.tokenfile`),
whose own format has no room for them.

Only text and whole numbers are taken, lists of text joined with spaces, each value made one
line of at most :data:`MAX_CHARS` by the core's scrubber, with the answer's own tokens masked:
a hostile server can neither draw on the terminal that shows them, nor grow the record
without bound, nor have a credential shown by echoing it into a name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from brokerauth.contract.scrub import scrub

#: Answer field -> ``Token.extra`` key.
TEXT_FIELDS: Final = {
    "futu_id": "futu_id",
    "member_id": "member_id",
    "account_id": "account_id",
    "account_no": "account_no",
    "account_type": "account_type",
    "account_channel": "account_channel",
    "name": "account_name",
}
LIST_FIELDS: Final = {
    "quote_permissions": "quote_permissions",
    "activated_packages": "activated_packages",
    "unactivated_packages": "unactivated_packages",
}
KEYS: Final = frozenset((*TEXT_FIELDS.values(), *LIST_FIELDS.values()))
MAX_CHARS: Final = 200
_MAX_ITEMS: Final = 64


def from_answer(body: Mapping[str, Any]) -> dict[str, str]:
    """The facts of a token answer (``{}`` when it has none)."""
    secrets = [body[name] for name in ("access_token", "refresh_token")
               if isinstance(body.get(name), str)]
    found = _facts_of(body, secrets)
    nested = body.get("account")
    if isinstance(nested, Mapping):
        found.update(_facts_of(nested, secrets))
    return found


def cleaned(facts: Mapping[str, Any]) -> dict[str, str]:
    """Only the known keys with text values, cleaned as an answer's are (a record read
    back from a file is trusted no more than the server was)."""
    return {key: text for key, value in facts.items()
            if key in KEYS and isinstance(value, str) and (text := _clean(value))}


def of_token(extra: Mapping[str, str]) -> dict[str, str]:
    """The account facts among a token's ``extra``."""
    return {key: value for key, value in extra.items() if key in KEYS}


def _facts_of(source: Mapping[str, Any], secrets: Iterable[str]) -> dict[str, str]:
    facts: dict[str, str] = {}
    for field, key in TEXT_FIELDS.items():
        value = source.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and (text := _clean(value, secrets)):
            facts[key] = text
    for field, key in LIST_FIELDS.items():
        value = source.get(field)
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if isinstance(value, list):
            items = [item for item in value[:_MAX_ITEMS] if isinstance(item, str)]
            if text := _clean(" ".join(items), secrets):
                facts[key] = text
    return facts


def _clean(value: str, secrets: Iterable[str] = ()) -> str:
    return scrub(value, secrets, limit=MAX_CHARS) or ""
