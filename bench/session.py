"""An authenticated GET through ``brokerauth.session`` against raw urllib3 sending the same
request to the same loopback server, over keep-alive connections.

The server is the Webull sandbox (``brokerauth sandbox webull``) in its own process, so its work
never competes with the measured client for the GIL.  It checks every request as Webull does
(HMAC signature, timestamp window, no nonce used twice) and answers ``GET
/openapi/account/list`` with the same JSON to both clients.  The session signs each request with
a fresh nonce and timestamp, attaches the token if the profile has one, sends it and classifies
the answer: everything it does per request.  Raw urllib3 sends the same URL with the same
headers — signed beforehand, one fresh set per request, outside the timed loop — from a
``PoolManager`` configured as brokerauth's transport configures its own (``maxsize=16,
block=False``).  The difference is brokerauth's own work.

For reference, the same comparison is also made against ``server.py``, a server that checks
and parses nothing beyond the request line and headers: there the client's work is all there is.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from common import Report, calls_for, interleaved, table, us

PATH = "/openapi/account/list"
QUERY = {"page_size": "10", "category": "US_STOCK", "lang": "en"}


class LoopbackServer:
    """``server.py`` in a subprocess."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("server.py"))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


class SandboxProcess:
    """``brokerauth --json sandbox webull`` in a subprocess: its URL, profile and secrets."""

    def __init__(self) -> None:
        brokerauth = str(Path(sys.executable).with_name("brokerauth"))
        self.process = subprocess.Popen([brokerauth, "--json", "sandbox", "webull"],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        text = ""
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the sandbox stopped before describing itself")
            text += line
            try:
                self.info: dict[str, Any] = json.loads(text)
                break
            except ValueError:
                continue
        self.url: str = self.info["base_url"]

    def close(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=10)


def _threads(fn: Callable[[], object], threads: int, per_thread: int) -> float:
    """Seconds per request with ``threads`` threads each making ``per_thread`` requests."""
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        for _ in range(per_thread):
            fn()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    return (time.perf_counter() - start) / (threads * per_thread)


class Clients:
    """The session and the raw pool, and the requests raw urllib3 sends."""

    def __init__(self, session: Callable[..., Any], profile: str, profiles: Path) -> None:
        import urllib3

        self.api = session(profile, profiles=profiles)
        self.pool = urllib3.PoolManager(maxsize=16, block=False)
        probe = self.api.get(PATH, params=QUERY, headers={"x-version": "v3"})
        assert probe.status == 200, probe.text
        self.url = probe.request.url
        self.request = self.api.binding.build("GET", PATH, params=QUERY,
                                              headers={"x-version": "v3"})
        self.presigned: Iterator[dict[str, str]] = iter(())

    def presign(self, count: int) -> None:
        """``count`` fresh header sets for raw urllib3 (the server refuses a nonce twice)."""
        binding, token = self.api.binding, self.api.tokens.current()
        self.presigned = iter([dict(binding.sign(self.request, token).headers)
                               for _ in range(count)])

    def raw(self) -> bytes:
        response = self.pool.request("GET", self.url, headers=next(self.presigned))
        assert response.status == 200, response.data
        return bytes(response.data)

    def brokerauth(self) -> bytes:
        response = self.api.get(PATH, params=QUERY, headers={"x-version": "v3"})
        assert response.status == 200, response.text
        return bytes(response.content)

    def close(self) -> None:
        self.api.close()
        self.pool.clear()


def compare(clients: Clients) -> dict[str, float]:
    """Median seconds per request, one thread, interleaved runs."""
    clients.presign(200)
    assert clients.raw() == clients.brokerauth(), "the two clients got different answers"
    number = calls_for(clients.brokerauth, 0.1)
    runs = 9
    clients.presign(number * (runs + 1) + 10)
    return interleaved({"raw urllib3": clients.raw, "brokerauth": clients.brokerauth},
                       number=number, runs=runs)


def run(report: Report, session: Callable[..., Any], profiles: Path, quick: bool) -> None:
    print("\n== Authenticated GET through brokerauth.session vs raw urllib3 (loopback)",
          flush=True)
    clients = Clients(session, "bench-sandbox", profiles)
    try:
        result = compare(clients)
        ratio = result["brokerauth"] / result["raw urllib3"]
        overhead = result["brokerauth"] - result["raw urllib3"]
        print(f"  Webull sandbox: raw urllib3 {us(result['raw urllib3'])}, "
              f"brokerauth {us(result['brokerauth'])} per request")
        report.add("authenticated GET through brokerauth.session, loopback (Webull sandbox)",
                   f"{us(result['brokerauth'])}/request (+{us(overhead)})",
                   f"raw urllib3 {us(result['raw urllib3'])}/request", ratio,
                   "≤ 1.15× its time", ratio <= 1.15)

        rows = []
        total = 1200 if quick else 3000
        for threads in [1, 2, 4, 8, 16, 32, 64]:
            per_thread = max(20, total // threads)
            samples: dict[str, list[float]] = {"raw": [], "brokerauth": []}
            for _ in range(3):
                clients.presign(threads * per_thread)
                samples["raw"].append(_threads(clients.raw, threads, per_thread))
                samples["brokerauth"].append(_threads(clients.brokerauth, threads, per_thread))
            raw_t = statistics.median(samples["raw"])
            ours_t = statistics.median(samples["brokerauth"])
            rows.append([str(threads), f"{1 / raw_t:,.0f}/s", f"{1 / ours_t:,.0f}/s",
                         us(ours_t - raw_t), f"{ours_t / raw_t:.2f}×"])
        concurrency = table(["threads", "raw urllib3", "brokerauth", "overhead per request",
                             "time ratio"], rows)
        print(concurrency)
        report.notes.append(
            "Session overhead against concurrency, Webull sandbox (one session, or one pool, "
            "shared by all threads; requests per second, all threads together):\n\n"
            + concurrency
        )
    finally:
        clients.close()

    clients = Clients(session, "bench-session", profiles)  # the profile of server.py
    try:
        result = compare(clients)
        ratio = result["brokerauth"] / result["raw urllib3"]
        overhead = result["brokerauth"] - result["raw urllib3"]
        line = (f"Against a server that only answers (bench/server.py): raw urllib3 "
                f"{us(result['raw urllib3'])}, brokerauth {us(result['brokerauth'])} per "
                f"request: +{us(overhead)}, {ratio:.2f}× (the client's own work is all there "
                "is to measure there)")
        print(f"  {line}")
        report.notes.append(line)
    finally:
        clients.close()
