"""JSON bodies: the bytes a session sends (and signs) for ``json=``.  With the ``orjson``
extra they are orjson's, and mean what json's mean; json writes whatever orjson would write
otherwise (NaN and the infinities, integers past 64 bits, keys that are not text), so a body
never changes meaning with the extra, and an error is the one json raises."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from typing import Any

import pytest
from brokerauth.engine.binding import encode_body
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("orjson", reason="the core's [test] extra installs orjson")


def with_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sent(value: Any) -> bytes:
    body, content_type = encode_body(value, None)
    assert content_type == "application/json"
    assert body is not None
    return body


# Text of any code point a UTF-8 body can carry (no lone surrogates), control characters,
# quotes, backslashes and U+2028 among them.
text = st.text(st.characters(codec="utf-8"), max_size=12)
integers = st.integers(min_value=-(2**63), max_value=2**64 - 1)
no_floats = st.recursive(
    st.one_of(st.booleans(), integers, text),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)
finite = st.floats(allow_nan=False, allow_infinity=False)
anything = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), finite, text),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)


@given(no_floats)
@settings(max_examples=300)
def test_without_numbers_in_doubt_the_bytes_are_jsons(value: Any) -> None:
    assert sent(value) == with_json(value)


@given(anything.filter(lambda value: value is not None))  # json=None: no body
@settings(max_examples=300)
def test_every_body_means_what_jsons_means(value: Any) -> None:
    assert json.loads(sent(value)) == json.loads(with_json(value))


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_never_sent_as_null(number: float) -> None:
    # orjson writes them as null: a NaN limit price sent as "no limit price" would place
    # another order than the one given.  They go as json writes them (which a broker
    # refuses), never as null.
    body = {"limit_price": number, "stop_price": None}
    assert sent(body) == with_json(body)
    assert b'"limit_price":null' not in sent(body)


@pytest.mark.parametrize("value", [
    {"quantity": 2**70},
    {1: "one", None: "none", 2.5: "half"},
    {"nested": [[[[1]]]] * 2},
])
def test_what_orjson_refuses_json_writes(value: Any) -> None:
    assert sent(value) == with_json(value)


def test_what_json_refuses_is_refused_with_its_error() -> None:
    with pytest.raises(TypeError, match="datetime is not JSON serializable"):
        sent({"at": datetime(2026, 1, 2, tzinfo=UTC)})
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises(ValueError, match="Circular reference"):
        sent(circular)


def test_orjson_writes_the_bodies_when_installed_and_json_without_it() -> None:
    # 1e-05 is the one number here the two write differently: which encoder wrote the body.
    assert sent({"f": 1e-05, "s": "é"}) == '{"f":0.00001,"s":"é"}'.encode()
    script = textwrap.dedent("""
        import sys
        sys.modules["orjson"] = None  # as if the extra were not installed
        from brokerauth.engine.binding import encode_body
        for value in ({"f": 1e-05, "s": "é"}, {"p": float("nan")}, {"q": 2**70}):
            sys.stdout.buffer.write(encode_body(value, None)[0] + b"\\n")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True,
                         timeout=60).stdout
    assert out.splitlines() == ['{"f":1e-05,"s":"é"}'.encode(), b'{"p":NaN}',
                                b'{"q":1180591620717411303424}']
