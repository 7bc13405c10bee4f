import io

import pytest

from kscribe.api.input import BodyTooLarge, bytes_reader, client_address, json_depth, loads_bounded, stream_reader


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.taken = 0

    def read(self, size=-1):
        part = super().read(size)
        self.taken += len(part)
        return part


PROXIES = ("10.0.0.0/8", "127.0.0.0/8")


@pytest.mark.parametrize(
    "remote, forwarded, proxies, expected",
    [
        ("10.0.0.5", "", (), "10.0.0.5"),
        ("10.0.0.5", "6.6.6.6", (), "10.0.0.5"),  # no proxies trusted: the header is the client's own words
        ("10.0.0.5", "6.6.6.6, 198.51.100.7", PROXIES, "198.51.100.7"),
        # Two of our proxies (the activator in the path) or one: the same client either way.
        ("127.0.0.1", "6.6.6.6, 198.51.100.7, 10.0.0.9, 10.0.0.8", PROXIES, "198.51.100.7"),
        ("127.0.0.1", "6.6.6.6, 198.51.100.7, 10.0.0.9", PROXIES, "198.51.100.7"),
        ("198.51.100.9", "6.6.6.6", PROXIES, "198.51.100.9"),  # did not come through our proxies
        ("10.0.0.5", "not-an-address, 10.0.0.9", PROXIES, "not-an-address"),
        ("10.0.0.5", "10.0.0.7", PROXIES, "10.0.0.7"),  # nothing but proxies: the farthest
    ],
)
def test_the_client_is_the_nearest_address_outside_our_proxies(remote, forwarded, proxies, expected):
    assert client_address(remote, forwarded, proxies) == expected


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


@pytest.mark.parametrize(
    "text, depth",
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["[[[[", "\\"[["]', 1),
        ("[" * 5000, 5000),
        # Unterminated: the parser sees one string, and so do we (it fails before any nesting).
        ('"[[[', 0),
        ('{"a":"' + '\\"' * 32764, 1),
        ('[["\\\\"]]', 2),
    ],
)
def test_json_depth_is_counted_outside_strings(text, depth):
    assert json_depth(text) == depth


def test_loads_bounded_refuses_deep_nesting_and_non_utf8():
    assert loads_bounded(b"[" * 32 + b"]" * 32) is not None
    for body in (b"[" * 33 + b"]" * 33, b"[" * 100_000 + b"]" * 100_000, '["x"]'.encode("utf-16")):
        with pytest.raises(ValueError):
            loads_bounded(body)
