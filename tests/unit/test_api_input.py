import io

import pytest

from kscribe.api_input import BodyTooLarge, bytes_reader, client_address, json_depth, loads_bounded, stream_reader


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.taken = 0

    def read(self, size=-1):
        part = super().read(size)
        self.taken += len(part)
        return part


@pytest.mark.parametrize("remote, forwarded, hops, expected", [
    ("10.0.0.5", "", 0, "10.0.0.5"),
    ("10.0.0.5", "6.6.6.6", 0, "10.0.0.5"),  # no proxies trusted: the header is the client's own words
    ("10.0.0.5", "6.6.6.6, 198.51.100.7", 1, "198.51.100.7"),
    ("10.0.0.5", "6.6.6.6, 198.51.100.7, 10.0.0.9", 2, "198.51.100.7"),
    ("10.0.0.5", "", 1, "10.0.0.5"),  # did not come through the proxy
])
def test_the_client_address_is_counted_from_the_right(remote, forwarded, hops, expected):
    assert client_address(remote, forwarded, hops) == expected


def test_a_declared_length_over_the_limit_reads_nothing():
    stream = CountingStream(b"x" * 100)
    with pytest.raises(BodyTooLarge):
        stream_reader(stream, 800 * 1024**2)(64)
    assert stream.taken == 0


def test_an_undeclared_length_reads_one_byte_past_the_limit_at_most():
    stream = CountingStream(b"x" * 10_000_000)
    with pytest.raises(BodyTooLarge):
        stream_reader(stream, None)(1000)
    assert stream.taken == 1001
    assert stream_reader(CountingStream(b"y" * 1000), None)(1000) == b"y" * 1000
    assert bytes_reader(b"{}")(2) == b"{}"
    with pytest.raises(BodyTooLarge):
        bytes_reader(b"{} ")(2)


@pytest.mark.parametrize("text, depth", [
    ("1", 0), ("[]", 1), ('{"a": [1, {"b": []}]}', 4), ('["[[[[", "\\"[["]', 1), ('"[[[', 3), ("[" * 5000, 5000),
])
def test_json_depth_is_counted_outside_strings(text, depth):
    assert json_depth(text) == depth


def test_loads_bounded_refuses_deep_nesting_and_non_utf8():
    assert loads_bounded(b"[" * 32 + b"]" * 32) is not None
    for body in (b"[" * 33 + b"]" * 33, b"[" * 100_000 + b"]" * 100_000, '["x"]'.encode("utf-16")):
        with pytest.raises(ValueError):
            loads_bounded(body)
