"""An authenticated GET through ``brokerauth.session``, and through brokerauth's httpx adapter,
against the same GET sent by raw urllib3 and by plain httpx, over keep-alive connections.

**The target rows** run against ``server.py``, a loopback server in its own process that reads
the request line and headers and answers every GET with the same 1 KiB of JSON, checking
nothing: what is left to measure is the clients' own work.  Both sides make the same call from
what a caller gives — method, URL, the query as a dict, headers — to the whole answer read:

* the session: ``api.get(PATH, params=QUERY, headers=...)``, which builds the request, checks
  its origin and headers, reads the current token, signs (a fresh nonce and timestamp), sends,
  reads the answer within its deadline and size cap, and judges it: everything it does per
  request;
* raw urllib3: ``pool.request("GET", url, fields=QUERY, headers=signed)`` from a
  ``PoolManager(maxsize=16, block=False)``, as brokerauth's transport configures its own, with
  a header set signed once beforehand (the server checks nothing, so one set serves every
  request): the difference is brokerauth's work, signing included;
* plain httpx and the httpx adapter: the same ``client.get(url, params=QUERY, headers=...)``
  on an ``httpx.Client`` (or ``AsyncClient``), with and without ``auth=httpx_auth(...)``; the
  plain client sends the signed header set.  Async is measured with one task and with 16 tasks
  sending at once on one event loop.

Left out of the target rows: TLS (the loopback is plain HTTP, as brokerauth allows only on
loopback), a server that checks signatures, and connection set-up (every client is warm).

**For reference** (notes, no target), the same session against the Webull sandbox (``brokerauth
sandbox webull``), which checks every request as Webull does (HMAC signature, timestamp window,
no nonce used twice), so raw urllib3 gets one freshly signed header set per request, signed
outside its timed loop; and the session against raw urllib3 from 1 to 64 threads.  Also for
reference, the floor under the async adapter rows: ``httpx.Auth`` objects that send plain httpx's
pre-signed headers and do nothing, one HMAC-SHA256 alone, or the profile's signature alone
(made and dropped), interleaved with plain httpx at one task (:func:`httpx_floor`).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from common import Report, calls_for, interleaved, table, us

PATH = "/openapi/account/list"
QUERY = {"page_size": "10", "category": "US_STOCK", "lang": "en"}
HEADERS = {"x-version": "v3"}
#: Where the session row stands against raw urllib3, and the adapters against plain httpx.
SESSION_TARGET = 1.10
HTTPX_SYNC_TARGET = 1.10
HTTPX_ASYNC_TARGET = 1.05
ASYNC_TASKS = 16
#: Each comparison alternates its contenders in short runs, many of them: on a shared machine
#: a burst of someone else's work then spoils a few runs of both sides, and the medians skip
#: them.  Seconds per run, and runs (quick, full).
RUN_SECONDS = 0.02
RUNS = (21, 41)


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
    """The session and the raw pool, and the header sets raw urllib3 sends."""

    def __init__(self, session: Callable[..., Any], profile: str, profiles: Path) -> None:
        import urllib3

        self.api = session(profile, profiles=profiles)
        self.pool = urllib3.PoolManager(maxsize=16, block=False)
        probe = self.api.get(PATH, params=QUERY, headers=HEADERS)
        assert probe.status == 200, probe.text
        self.url = self.api.base_url.rstrip("/") + PATH
        self.request = self.api.binding.build("GET", PATH, params=QUERY, headers=HEADERS)
        self.presigned: Iterator[dict[str, str]] = iter(())

    def signed(self) -> dict[str, str]:
        """One freshly signed header set, as brokerauth sends it."""
        binding, token = self.api.binding, self.api.tokens.current()
        return dict(binding.sign(self.request, token).headers)

    def presign(self, count: int) -> None:
        """``count`` fresh header sets for raw urllib3 (the sandbox refuses a nonce twice)."""
        self.presigned = iter([self.signed() for _ in range(count)])

    def raw(self) -> bytes:
        response = self.pool.request("GET", self.url, fields=QUERY, headers=next(self.presigned))
        assert response.status == 200, response.data
        return bytes(response.data)

    def brokerauth(self) -> bytes:
        response = self.api.get(PATH, params=QUERY, headers=HEADERS)
        assert response.status == 200, response.text
        return bytes(response.content)

    def close(self) -> None:
        self.api.close()
        self.pool.clear()


def compare(clients: Clients, *, fresh_headers: bool, runs: int) -> dict[str, float]:
    """Median seconds per request, one thread, interleaved runs.  ``fresh_headers``: one signed
    header set per raw request (a server that refuses a nonce twice), signed beforehand."""
    clients.presign(200)
    assert clients.raw() == clients.brokerauth(), "the two clients got different answers"
    number = calls_for(clients.brokerauth, RUN_SECONDS)
    if fresh_headers:
        clients.presign(number * (runs + 1) + 10)
    else:
        one = clients.signed()
        clients.presigned = _repeat(one)
    return interleaved({"raw urllib3": clients.raw, "brokerauth": clients.brokerauth},
                       number=number, runs=runs)


def _repeat(headers: dict[str, str]) -> Iterator[dict[str, str]]:
    while True:
        yield headers


# -- httpx --------------------------------------------------------------------------------

def httpx_compare(url: str, signed: dict[str, str], profile: str, profiles: Path,
                  quick: bool) -> dict[str, dict[str, float]]:
    """Median seconds per request of plain httpx and of the adapter: sync, and async with one
    and with ``ASYNC_TASKS`` tasks."""
    import httpx
    from brokerauth.adapters import httpx_auth

    try:
        import sniffio  # noqa: F401
    except ModuleNotFoundError:
        print("  sniffio is not installed: httpcore's async path tries to import it on every "
              "request, which slows plain httpx and the adapter alike and flatters the async "
              "ratios (`make bench` installs it)", flush=True)
    plain_headers = {**HEADERS, **signed}
    runs = RUNS[0] if quick else RUNS[1]
    results: dict[str, dict[str, float]] = {}

    auth = httpx_auth(profile, profiles=profiles)
    with httpx.Client() as plain, httpx.Client(auth=auth) as ours:
        def plain_get() -> bytes:
            response = plain.get(url, params=QUERY, headers=plain_headers)
            assert response.status_code == 200, response.text
            return response.content

        def ours_get() -> bytes:
            response = ours.get(url, params=QUERY, headers=HEADERS)
            assert response.status_code == 200, response.text
            return response.content

        assert plain_get() == ours_get(), "the two clients got different answers"
        number = calls_for(ours_get, RUN_SECONDS)
        results["sync"] = interleaved({"plain httpx": plain_get, "adapter": ours_get},
                                      number=number, runs=runs)

    async def asynchronous() -> None:
        limits = httpx.Limits(max_connections=ASYNC_TASKS, max_keepalive_connections=ASYNC_TASKS)
        async with httpx.AsyncClient(limits=limits) as plain, \
                httpx.AsyncClient(auth=auth, limits=limits) as ours:
            async def plain_get() -> bytes:
                response = await plain.get(url, params=QUERY, headers=plain_headers)
                assert response.status_code == 200, response.text
                return response.content

            async def ours_get() -> bytes:
                response = await ours.get(url, params=QUERY, headers=HEADERS)
                assert response.status_code == 200, response.text
                return response.content

            assert await plain_get() == await ours_get(), "the two clients got different answers"
            contenders: dict[str, Callable[[], Awaitable[object]]] = {
                "plain httpx": plain_get, "adapter": ours_get}
            for tasks in (1, ASYNC_TASKS):
                # About RUN_SECONDS of requests per run, however many tasks share them.
                warm = await _tasks(ours_get, tasks, max(1, 200 // tasks))
                per_task = max(5, int(RUN_SECONDS / warm / tasks))
                results[f"async, {tasks} task{'s' if tasks > 1 else ''}"] = (
                    await _interleaved_async(contenders, tasks, per_task, runs))

    asyncio.run(asynchronous())
    return results


def httpx_floor(url: str, signed: dict[str, str], profile: str, profiles: Path,
                quick: bool) -> dict[str, float]:
    """For reference (a note, no target): what signing alone costs an async httpx client, one
    task, interleaved with plain httpx in one run of its own.  Each contender is an
    ``httpx.Auth`` that sends the plain client's own pre-signed headers and does one thing
    more: nothing; one HMAC-SHA256 and base64 of a string as long as a Webull request's string
    to sign (the crypto floor); the profile's signature made and thrown away
    (``binding.signature_headers``: the token read, a fresh nonce and timestamp, the string to
    sign and its HMAC, what any adapter must do per request).  Cold, between the requests of
    a real client, this costs several times what a loop of signatures alone shows."""
    import binascii
    import hmac

    import httpx
    from brokerauth.adapters import httpx_auth

    plain_headers = {**HEADERS, **signed}
    runs = RUNS[0] if quick else RUNS[1]
    core = httpx_auth(profile, profiles=profiles).core
    binding, tokens = core.session.binding, core.session.tokens
    tokens.current()  # read from the store once, before the timed runs
    key = b"bench-app-secret-fedcba9876543210&"
    text = (b"/openapi/account/list&category=US_STOCK&host=127.0.0.1&lang=en&page_size=10"
            b"&x-app-key=test_app_key_0123456789abcdef&x-signature-algorithm=HMAC-SHA1"
            b"&x-signature-nonce=0123456789abcdef0123456789abcdef&x-signature-version=1.0"
            b"&x-timestamp=2024-01-01T00:00:00Z")

    class Nothing(httpx.Auth):
        async def async_auth_flow(
            self, request: httpx.Request
        ) -> AsyncGenerator[httpx.Request, httpx.Response]:
            yield request

    class CryptoFloor(httpx.Auth):
        async def async_auth_flow(
            self, request: httpx.Request
        ) -> AsyncGenerator[httpx.Request, httpx.Response]:
            binascii.b2a_base64(hmac.digest(key, text, "sha256"), newline=False)
            yield request

    class SignOnly(httpx.Auth):
        async def async_auth_flow(
            self, request: httpx.Request
        ) -> AsyncGenerator[httpx.Request, httpx.Response]:
            target = core.request(request.method, str(request.url), request.content)
            binding.signature_headers(target, tokens.current_nowait())
            yield request

    async def asynchronous() -> dict[str, float]:
        auths: dict[str, httpx.Auth | None] = {
            "plain httpx": None, "an Auth that does nothing": Nothing(),
            "HMAC-SHA256 + base64 alone": CryptoFloor(),
            "the signature alone": SignOnly(),
        }
        clients = [httpx.AsyncClient(auth=auth) for auth in auths.values()]
        try:
            def getter(client: httpx.AsyncClient) -> Callable[[], Awaitable[object]]:
                async def get() -> bytes:
                    response = await client.get(url, params=QUERY, headers=plain_headers)
                    assert response.status_code == 200, response.text
                    return response.content
                return get

            contenders = {name: getter(client) for name, client in zip(auths, clients,
                                                                          strict=True)}
            warm = await _tasks(contenders["plain httpx"], 1, 200)
            per_task = max(5, int(RUN_SECONDS / warm))
            return await _interleaved_async(contenders, 1, per_task, runs)
        finally:
            for client in clients:
                await client.aclose()

    return asyncio.run(asynchronous())


async def _tasks(fn: Callable[[], Awaitable[object]], tasks: int, per_task: int) -> float:
    """Seconds per request with ``tasks`` tasks on the loop each making ``per_task``."""

    async def work() -> None:
        for _ in range(per_task):
            await fn()

    start = time.perf_counter()
    await asyncio.gather(*(work() for _ in range(tasks)))
    return (time.perf_counter() - start) / (tasks * per_task)


async def _interleaved_async(
    contenders: dict[str, Callable[[], Awaitable[object]]], tasks: int, per_task: int,
    runs: int,
) -> dict[str, float]:
    """As :func:`common.interleaved`, for coroutines: a warm-up run of each, then ``runs``
    interleaved runs, each one's median."""
    for fn in contenders.values():
        await _tasks(fn, tasks, max(1, per_task // 4))
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, fn in contenders.items():
            samples[name].append(await _tasks(fn, tasks, per_task))
    return {name: statistics.median(values) for name, values in samples.items()}


# -- the run ------------------------------------------------------------------------------

def fast_server(report: Report, session: Callable[..., Any], profiles: Path,
                quick: bool) -> None:
    print("\n== Authenticated GET vs raw urllib3 and plain httpx, against a server that only "
          "answers (bench/server.py)", flush=True)
    clients = Clients(session, "bench-session", profiles)
    try:
        result = compare(clients, fresh_headers=False, runs=RUNS[0] if quick else RUNS[1])
        url, signed = clients.url, clients.signed()
    finally:
        clients.close()
    raw, ours = result["raw urllib3"], result["brokerauth"]
    print(f"  raw urllib3 {us(raw)}, brokerauth.session {us(ours)} per request")
    report.add("authenticated GET through brokerauth.session, server that only answers",
               f"{us(ours)}/request (+{us(ours - raw)})", f"raw urllib3 {us(raw)}/request",
               ours / raw, f"≤ {SESSION_TARGET:.2f}× its time", ours / raw <= SESSION_TARGET)

    try:
        import httpx  # noqa: F401
    except ModuleNotFoundError:
        print("  httpx is not installed in this environment: the adapter rows are missing "
              "(`make bench` installs it in .bench-venv)", flush=True)
        report.add("httpx adapter vs plain httpx", "not measured", "httpx missing",
                   float("nan"), "present", False)
        return
    for mode, times in httpx_compare(url, signed, "bench-session", profiles, quick).items():
        plain, adapter = times["plain httpx"], times["adapter"]
        target = HTTPX_SYNC_TARGET if mode == "sync" else HTTPX_ASYNC_TARGET
        print(f"  httpx {mode}: plain {us(plain)}, adapter {us(adapter)} per request")
        report.add(f"GET through the httpx adapter ({mode}), server that only answers",
                   f"{us(adapter)}/request (+{us(adapter - plain)})",
                   f"plain httpx {us(plain)}/request", adapter / plain,
                   f"≤ {target:.2f}× its time", adapter / plain <= target)
    floor = httpx_floor(url, signed, "bench-session", profiles, quick)
    plain = floor.pop("plain httpx")
    line = ("The floor under the async adapter rows, one task (a run of its own, interleaved; "
            "each an httpx.Auth beside plain httpx's pre-signed headers): plain httpx "
            f"{us(plain)}; " + "; ".join(
                f"{name} {'+' if time >= plain else '-'}{us(abs(time - plain))} "
                f"({time / plain:.2f}×)" for name, time in floor.items()))
    print(f"  {line}")
    report.notes.append(line)


def sandbox(report: Report, session: Callable[..., Any], profiles: Path, quick: bool) -> None:
    print("\n== Authenticated GET through brokerauth.session vs raw urllib3, Webull sandbox "
          "(reference)", flush=True)
    clients = Clients(session, "bench-sandbox", profiles)
    try:
        result = compare(clients, fresh_headers=True, runs=RUNS[0] if quick else RUNS[1])
        raw, ours = result["raw urllib3"], result["brokerauth"]
        line = (f"Against the Webull sandbox, which checks every signature and nonce: raw "
                f"urllib3 {us(raw)}, brokerauth {us(ours)} per request: +{us(ours - raw)}, "
                f"{ours / raw:.2f}× (the sandbox's own checks are in both)")
        print(f"  {line}")
        report.notes.append(line)

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


def run(report: Report, session: Callable[..., Any], profiles: Path, quick: bool) -> None:
    print(f"\n(load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
    fast_server(report, session, profiles, quick)
    sandbox(report, session, profiles, quick)
