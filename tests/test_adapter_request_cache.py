"""The adapters parse each foreign URL into a request once and keep it (a library sends the
same URLs again and again), but only short URLs: long ones (a query of kilobytes) are parsed
each time, so the cache stays small in bytes whatever a caller sends."""

from __future__ import annotations

import gc
import tracemalloc
import urllib.parse

from brokerauth.adapters.signer import AdapterCore


def test_long_urls_are_not_kept() -> None:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(256):
            url = f"https://api.example.com/x?q={i}" + "a" * 65536
            request = AdapterCore.request("GET", url, None)
            assert request.params == (("q", f"{i}" + "a" * 65536),)
        del request, url
        # Python's own urlsplit keeps its last 128 URLs (a cache of its own, bounded by count):
        # emptied, so that what is measured is what brokerauth keeps.
        urllib.parse.urlsplit.cache_clear()  # type: ignore[attr-defined]
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Kept, 256 URLs of 64 KiB would hold their text and their parsed query: 32 MiB and more.
    assert held < 2 << 20, f"{held / 2**20:.1f} MiB held"


def test_a_short_url_is_parsed_once() -> None:
    url = "https://api.example.com/openapi/account/list?page_size=10&lang=en"
    first = AdapterCore.request("GET", url, None)
    assert AdapterCore.request("GET", url, None) is first
    assert first.params == (("page_size", "10"), ("lang", "en"))
    assert AdapterCore.request("GET", url, b"") is not first  # an empty body is its own
