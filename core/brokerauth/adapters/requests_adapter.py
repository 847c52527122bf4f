"""brokerauth as a ``requests.auth.AuthBase``.

requests follows redirects by itself, copying every header but ``Authorization`` to the next
host, and a 307 or 308 re-sends the body.  So this adapter follows redirects of the requests it
signs itself, before requests sees them: within the origin, each hop signed anew; a redirect to
another origin raises :class:`~brokerauth.contract.errors.OriginError`, and nothing is sent there.
With ``allow_redirects=False`` the 3xx is the caller's, returned with the signature taken off
the request requests copies into ``response.next``: sent on, that request carries no credential.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

from brokerauth.adapters.extras import missing_extra

try:
    import requests
    from requests.auth import AuthBase
except ModuleNotFoundError as exc:  # the [requests] extra is not installed
    raise missing_extra(exc, "requests", ("requests", "urllib3")) from None

from brokerauth.adapters.signer import AdapterCore
from brokerauth.contract.errors import ResponseError
from brokerauth.engine.authflow import REDIRECTS, Attempt, Flow
from brokerauth.engine.transport import _too_large as too_large

_BODY_HEADERS = ("Content-Length", "Content-Type", "Transfer-Encoding")


def _body_bytes(body: Any) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes):
        return body
    raise TypeError("brokerauth signs the exact body bytes: streamed bodies cannot be signed")


def _unsign(request: requests.PreparedRequest, attempt: Attempt) -> None:
    for name in attempt.signature:
        request.headers.pop(name, None)


def _apply(request: requests.PreparedRequest, attempt: Attempt,
           previous: Attempt | None) -> None:
    if previous is not None:
        _unsign(request, previous)
        if attempt.request is not previous.request:  # a redirect: another target
            request.method = attempt.request.method
            request.url = attempt.request.url
            if attempt.request.body is None and request.body is not None:
                request.body = None
                for name in _BODY_HEADERS:
                    request.headers.pop(name, None)
    request.headers.update(attempt.signature)


_SEND = requests.Session.send.__code__


def _caller_follows_redirects() -> bool:
    """Whether the ``Session.send`` that runs the response hooks was asked to follow
    redirects: it takes ``allow_redirects`` out of the arguments it gives its hooks, so it is
    read from that call's frame (a hook runs two calls below it).  Without one (a caller that
    runs the hooks itself), redirects are followed, as requests' default is."""
    frame: FrameType | None = sys._getframe(2)
    for _ in range(4):  # Session.send -> dispatch_hook -> this hook -> here
        if frame is None:
            break
        if frame.f_code is _SEND:
            return bool(frame.f_locals.get("allow_redirects", True))
        frame = frame.f_back
    return True


class BrokerAuthRequests(AuthBase):
    def __init__(self, profile: Any, **session_options: Any) -> None:
        self.core = AdapterCore(profile, follow_redirects=True, **session_options)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        assert request.method is not None
        assert request.url is not None
        self._refuse_proxy(request.url)
        flow, attempt = self.core.start(request.method, request.url, _body_bytes(request.body))
        _apply(request, attempt, None)
        request._brokerauth = (flow, attempt)  # type: ignore[attr-defined]
        # types-requests leaves register_hook unannotated.
        request.register_hook("response", self._drive)  # type: ignore[no-untyped-call]
        return request

    def _refuse_proxy(self, url: str) -> None:
        """Refuse an ``http://`` request that the environment's proxy variables would send
        through a forwarding proxy, which reads it whole.  requests decides its proxies only
        after signing, so the adapter sees neither a ``proxies=`` argument nor a session's
        ``trust_env = False``: it goes by the environment, as requests does by default."""
        if url[:7].lower() != "http://":
            return  # https is tunnelled (CONNECT): the proxy never reads the request
        from requests.utils import get_environ_proxies

        proxies = get_environ_proxies(url)  # {} where NO_PROXY exempts the host
        proxy = proxies.get("http") or proxies.get("all")
        if proxy:
            from urllib.parse import urlsplit

            def origin(address: str) -> str:  # no user part: a proxy's may hold a password
                parts = urlsplit(address if "://" in address else "http://" + address)
                return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"

            raise self.core.through_proxy(origin(url), origin(proxy))

    def _read_error(self, attempt: Attempt, response: requests.Response) -> bytes:
        """A non-success answer's body, which the flow judges, read up to the profile's
        ``max_response_bytes`` (counted after decompression, as the transport counts it) and
        kept as the response's content; a larger one is a :class:`ResponseError`, and its
        connection is dropped rather than drained."""
        limit = self.core.session.options.max_response_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response.close()
            raise self._too_large(attempt, response, limit, int(declared))
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=64 << 10):
            size += len(chunk)
            if size > limit:
                response.close()
                raise self._too_large(attempt, response, limit)
            chunks.append(chunk)
        # As requests keeps what it read (iter_content marked the stream consumed): the
        # caller's response.content and .json().
        response._content = b"".join(chunks)
        return response._content

    @staticmethod
    def _too_large(attempt: Attempt, response: requests.Response, limit: int,
                   declared: int | None = None) -> ResponseError:
        return too_large(attempt.request, response.status_code, limit,
                         "the profile's max_response_bytes", declared=declared)

    def _drive(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        """Run the flow on each answer: resend after a refresh or a learned clock, follow a
        same-origin redirect, until the flow is done."""
        first = response.request
        state: tuple[Flow, Attempt] | None = getattr(first, "_brokerauth", None)
        if state is None:  # a request requests made itself (it follows no redirect of ours)
            return response
        # The flow (its generator, token and signature) and this hook are held here only: the
        # request keeps none of it, so a response can be pickled, copied, or kept in a cache.
        # The hook list is replaced, not changed: requests is iterating over it.
        del first._brokerauth  # type: ignore[attr-defined]
        first.hooks["response"] = [h for h in first.hooks["response"] if h != self._drive]
        flow, attempt = state
        first_attempt = attempt
        current = response
        while True:
            if current.status_code in REDIRECTS and not _caller_follows_redirects():
                # The caller's to follow, or not, with requests: what requests prepares to
                # send on (``response.next``, copied from the first request) and what a
                # caller would copy carry no credential, whatever origin it goes to.
                flow.close()
                _unsign(first, first_attempt)
                _unsign(current.request, attempt)
                return current
            ok = 200 <= current.status_code < 300
            answer = self.core.answer(attempt, current.status_code, current.headers,
                                      b"" if ok else self._read_error(attempt, current))
            try:
                following = flow.send(answer)
            except StopIteration as end:
                left = self.core.ended(end.value)
                if left is not None:
                    left()
                return current
            except BaseException:
                current.close()
                raise
            again = current.request.copy()
            _apply(again, following, attempt)
            current.close()
            assert current.connection is not None
            resent: requests.Response = current.connection.send(again, **kwargs)
            resent.history = [*current.history, current]
            resent.request = again
            current, attempt = resent, following
