"""The grant registry's store side: listing the keys of 10,000 identities of one profile in
the file store, through the engine (``brokerauth.engine.registry.stored_keys``: the plugin
host, the built-in plugin, the file names decoded and checked), against ``os.scandir`` of
the same folder, the floor of any listing.

The target is absolute: a platform with 10,000 users lists them in well under 2 s.  Loading
every listed token afterwards (what ``brokerauth users`` does on top) is timed once and shown
as a note, not a target.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import Report, interleaved, ms

IDENTITIES = 10_000
LIMIT = 2.0
PROFILE = "bench-platform"


def _identity(n: int) -> str:
    # Capitals and an address now and then, so names are decoded as well as taken as they are.
    return f"User.{n}@example.com" if n % 4 == 0 else f"user-{n:05d}"


def run(report: Report, quick: bool) -> None:
    from brokerauth.builtin import filestore
    from brokerauth.builtin.filestore import FileStoreOptions
    from brokerauth.contract.tokens import Token, TokenKey
    from brokerauth.engine.api import open_binding
    from brokerauth.engine.grants import grants
    from brokerauth.engine.profiles import Profile
    from brokerauth.engine.registry import stored_keys
    from brokerauth.toolkit.secrets import Secret

    print(f"\n== Grant registry: listing {IDENTITIES:,} identities of one profile (file store)",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="brokerauth-bench-registry-") as tmp:
        options = FileStoreOptions(path=str(Path(tmp) / "tokens"))
        now = datetime.now(UTC)
        token = Token(access_token="bench-registry-access-token", broker="webull",
                      issued_at=now, expires_at=now + timedelta(days=10))
        # One identity in a hundred ends within the `users --expiring 3d` window.
        ending = token.replace(expires_at=now + timedelta(days=1))
        started = time.perf_counter()
        for n in range(IDENTITIES):
            filestore.save(TokenKey(PROFILE, _identity(n)), ending if n % 100 == 7 else token,
                           options)
        saving = time.perf_counter() - started
        print(f"  saved {IDENTITIES:,} tokens through the store in {saving:.1f} s", flush=True)
        profile = Profile.from_mapping(PROFILE, {
            "broker": "webull",
            "app_key": Secret.from_value("bench-registry-app-key"),
            "app_secret": Secret.from_value("bench-registry-app-secret"),
            "store": {"name": "file", "path": options.path},
        })
        binding = open_binding(profile, interactive=False)
        folder = filestore.token_path(TokenKey(PROFILE, "x"), options).parent

        def ours() -> None:
            keys = list(stored_keys(binding))
            assert len(keys) == IDENTITIES, len(keys)

        def floor() -> None:
            with os.scandir(folder) as entries:
                names = [entry.name for entry in entries]
            assert len(names) >= IDENTITIES

        times = interleaved({"ours": ours, "floor": floor}, number=1, runs=3 if quick else 7)
        report.add(f"list {IDENTITIES:,} identities' keys, file store (stored_keys)",
                   ms(times["ours"]), f"os.scandir {ms(times['floor'])}",
                   times["ours"] / times["floor"], f"< {LIMIT:g} s absolute",
                   times["ours"] < LIMIT)

        expected = sorted(_identity(n) for n in range(IDENTITIES) if n % 100 == 7)

        def users_expiring() -> None:
            found = [g.identity for g in grants(binding, expiring=timedelta(days=3))]
            assert found == expected, (len(found), len(expected))

        runs = 1 if quick else 3
        due = interleaved({"users": users_expiring}, number=1, runs=runs)["users"]
        # The ratio is the share of the 2 s used.
        report.add(f"users --expiring 3d among {IDENTITIES:,} identities (file store)",
                   ms(due), f"{len(expected)} listed, every token read and judged",
                   due / LIMIT, f"< {LIMIT:g} s absolute", due < LIMIT)

        started = time.perf_counter()
        loaded = sum(filestore.load(key, options) is not None for key in stored_keys(binding))
        every = time.perf_counter() - started
        assert loaded == IDENTITIES
        report.notes.append(
            f"Grant registry: listing {IDENTITIES:,} keys took {ms(times['ours'])} "
            f"({times['ours'] / IDENTITIES * 1e6:.1f} µs a key); listing and then loading "
            f"every token took {every:.2f} s ({every / IDENTITIES * 1e6:.0f} µs a token), "
            "for `brokerauth users`.  Writing them took "
            f"{saving / IDENTITIES * 1e3:.1f} ms a save (fsync of file and folder, and a scan "
            "of the folder for a dead writer's temp files, which grows with the folder).")
