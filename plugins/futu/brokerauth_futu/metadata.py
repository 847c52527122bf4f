"""RFC 8414 server metadata, kept instead of read before every login and refresh.

A discovered document (or the finding that the server publishes none) is kept in memory and in
``T/.brokerauth/@metadata/<hash of the issuer>.json`` beside the token files, with the time it
was fetched, and read again from the server at most once a day (:data:`MAX_AGE`) — or at once
when an endpoint it named fails (:func:`forget`), as a moved endpoint is the usual reason, and
before every login (``fresh``), whose failure in the browser the client never sees.
The document is public, but the record is written like the other records here (0600,
atomically) so a planted file cannot steer the token requests to another endpoint; endpoints
it names on other origins are refused by the core anyway.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from brokerauth.contract.errors import StoreError
from brokerauth.contract.tokens import TokenKey
from brokerauth.toolkit import privatefiles as files

from brokerauth_futu.tokenfile import records_folder

log = logging.getLogger("brokerauth.futu.metadata")

MAX_AGE: Final = timedelta(days=1)
FOLDER: Final = "@metadata"
_LIMIT: Final = 256 * 1024

#: The kept copies by token folder and issuer, as on disk: two profiles keeping their records
#: apart (or the same issuer's address reused by another server) share nothing.
_memory: dict[tuple[str, str], tuple[datetime, dict[str, Any]]] = {}
_memory_lock = threading.Lock()


def record_path(top: Path, issuer: str) -> Path:
    digest = hashlib.sha256(issuer.encode("utf-8")).hexdigest()[:32]
    return records_folder(top) / FOLDER / f"{digest}.json"


def cached(
    issuer: str,
    fetch: Callable[[], dict[str, Any]],
    *,
    now: datetime,
    top: Path,
    key: TokenKey,
    fresh: bool = False,
) -> dict[str, Any]:
    """The issuer's metadata: the kept copy while younger than :data:`MAX_AGE`, else (or
    ``fresh``) ``fetch()``'s answer, kept for next time."""
    found = None
    if not fresh:
        with _memory_lock:
            found = _memory.get((str(top), issuer))
        if found is None:
            found = _read(issuer, top, key)
    if found is not None and timedelta(0) <= now - found[0] < MAX_AGE:
        return found[1]
    document = fetch()
    with _memory_lock:
        _memory[(str(top), issuer)] = (now, document)
    _write(issuer, top, key, now, document)
    return document


def forget(issuer: str, *, top: Path, key: TokenKey) -> None:
    """Drop the kept metadata of ``issuer``: an endpoint it named failed."""
    with _memory_lock:
        _memory.pop((str(top), issuer), None)
    path = record_path(top, issuer)
    try:
        files.remove(path, "OAuth server metadata")
    except StoreError as exc:
        log.warning("could not remove the kept OAuth metadata %s: %s", path, exc.message)


def _read(issuer: str, top: Path, key: TokenKey) -> tuple[datetime, dict[str, Any]] | None:
    path = record_path(top, issuer)
    try:
        if not files.ensure_folders(top, path.parent, key, create=False):
            return None
        data = files.read_private(path, key, "OAuth server metadata", limit=_LIMIT)
    except StoreError as exc:
        log.warning("ignoring the kept OAuth metadata: %s", exc.message)
        return None
    if data is None or len(data) > _LIMIT:
        return None
    try:
        record = json.loads(data)
        fetched = datetime.fromisoformat(record["fetched_at"])
        document = record["document"]
    except (ValueError, KeyError, TypeError):
        return None  # damaged: fetched again, and rewritten
    if record.get("issuer") != issuer or not isinstance(document, dict) or fetched.tzinfo is None:
        return None
    with _memory_lock:
        _memory[(str(top), issuer)] = (fetched, document)
    return fetched, document


def _write(issuer: str, top: Path, key: TokenKey, now: datetime,
           document: dict[str, Any]) -> None:
    path = record_path(top, issuer)
    record = {"issuer": issuer, "fetched_at": now.isoformat(), "document": document}
    try:
        files.ensure_folders(top, path.parent, key, create=True)
        files.write_private(path, json.dumps(record, ensure_ascii=True).encode("ascii"), key,
                            "OAuth server metadata")
    except StoreError as exc:
        # Only a cost: the next login reads the metadata from the server again.
        log.warning("could not keep the OAuth metadata: %s", exc.message)
