"""A keyring back end the store does not know (kept in this process's memory): for the test
that an unknown back end is refused unless the profile names it."""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

_ITEMS: dict[tuple[str, str], str] = {}


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        return _ITEMS.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        _ITEMS[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if _ITEMS.pop((service, username), None) is None:
            raise PasswordDeleteError(username)
