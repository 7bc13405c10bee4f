import http.client
import ssl
import time

import pytest

from kscribe.delivery.signing import sign, verify
from kscribe.delivery.targets import CallbackTarget, check_url
from kscribe.delivery.transport import CallbackRefused, _describe, send

PUBLIC = lambda host: ["93.184.216.34"]  # noqa: E731


def test_signature_round_trip_and_staleness():
    body = b'{"job_id":"x"}'
    header = sign("s3cret", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify("s3cret", header, body, now=1_700_000_100)
    assert not verify("s3cret", header, body + b" ", now=1_700_000_100), "body changed"
    assert not verify("other", header, body, now=1_700_000_100), "wrong secret"
    assert not verify("s3cret", header, body, now=1_700_000_000 + 301), "too old: a replay"
    assert not verify("s3cret", "garbage", body)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.8",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fc00::5",
        "0.0.0.0",
        "100.64.0.1",
        "224.0.0.1",
        "::ffff:127.0.0.1",
        "::7f00:1",
        "2002:a00:1::1",
        "64:ff9b::a9fe:a9fe",
    ],
)
def test_internal_addresses_are_refused(address):
    with pytest.raises(CallbackRefused, match="internal address"):
        check_url("https://hooks.example.com/x", resolve=lambda host: [address])


def test_a_name_with_any_internal_address_is_refused():
    with pytest.raises(CallbackRefused):
        check_url("https://mixed.example.com/", resolve=lambda host: ["93.184.216.34", "10.0.0.1"])


def test_public_addresses_and_the_allow_list_pass():
    check_url("https://hooks.example.com/x", resolve=lambda host: ["93.184.216.34", "2606:2800:220:1::1"])
    check_url("http://127.0.0.1:8080/x", allow=["127.0.0.1"])
    check_url("http://receiver.internal/x", allow=["10.0.0.0/8"], resolve=lambda host: ["10.4.5.6"])
    check_url("http://receiver.internal/x", allow=["receiver.internal"], resolve=lambda host: ["10.4.5.6"])
    check_url("http://[::1]:9000/x", allow=["::1"])


def test_check_url_returns_what_it_checked():
    target = check_url(
        "HTTPS://Hooks.Example.com/a/b?c=d#frag", resolve=lambda host: ["93.184.216.34", "93.184.216.34"]
    )
    assert target == CallbackTarget("https", "hooks.example.com", 443, "/a/b?c=d", ("93.184.216.34",))
    assert target.authority == "hooks.example.com"
    target = check_url("http://hooks.example.com:8080?x=1", resolve=PUBLIC)
    assert (target.port, target.path, target.authority) == (8080, "/?x=1", "hooks.example.com:8080")
    target = check_url("http://[2606:2800:220:1:0::1]:81/")
    assert target.host == "2606:2800:220:1::1" and target.addresses == ("2606:2800:220:1::1",)
    assert target.authority == "[2606:2800:220:1::1]:81"


def test_ip_literals_are_not_resolved():
    def resolve(host):
        raise AssertionError("an IP literal was looked up")

    assert check_url("http://93.184.216.34/x", resolve=resolve).addresses == ("93.184.216.34",)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "file:///etc/passwd", "example.com/x", "http:example.com", "gopher://127.0.0.1:25/", ""],
)
def test_only_http_urls(url):
    with pytest.raises(CallbackRefused, match="http"):
        check_url(url, resolve=PUBLIC)


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://127.0.0.1:8080\\@8.8.8.8/", "backslash"),
        ("http://8.8.8.8\\@127.0.0.1/", "backslash"),
        ("http://user@hooks.example.com/", "user information"),
        ("http://user:pw@hooks.example.com/", "user information"),
        ("http://127.0.0.1:8080@8.8.8.8/", "user information"),
        ("http://hooks.example.com/x\r\nX-Injected: 1", "whitespace"),
        ("http://hooks.example.com/\nx", "whitespace"),
        ("http://hooks.exa\tmple.com/", "whitespace"),
        ("http://hooks.example.com/a b", "whitespace"),
        (" http://hooks.example.com/", "whitespace"),
        ("http://hooks.example.com/\x00", "control"),
        ("http://hooks.example.com/\x7f", "control"),
        ("http://127。0。0。1/", "non-ASCII"),
        ("http://hoоks.example.com/", "non-ASCII"),
        ("http:///x", "no host"),
        ("http://:80/x", "no host"),
        ("http://hooks.example.com:/x", "port"),
        ("http://hooks.example.com:0/x", "port"),
        ("http://hooks.example.com:65536/x", "port"),
        ("http://hooks.example.com:8o/x", "port"),
        ("http://hooks.example.com:+80/x", "port"),
        ("http://hooks.example.com:80:81/x", "port"),
        ("http://127.1/", "ambiguous"),
        ("http://2130706433/", "ambiguous"),
        ("http://0x7f.0.0.1/", "ambiguous"),
        ("http://0177.0.0.1/", "ambiguous"),
        ("http://127.000.000.001/", "ambiguous"),
        ("http://[::1/", "IPv6"),
        ("http://[fe80::1%25eth0]/", "IPv6"),
        ("http://[::1]x/", "after its IPv6 host"),
        ("http://hooks%2eexample.com/", "host name"),
        ("http://hooks..example.com/", "host name"),
        ("http://hooks.example.com./", "host name"),
        ("http://-/", "host name"),
    ],
)
def test_ambiguous_urls_are_refused(url, reason):
    with pytest.raises(CallbackRefused, match=reason):
        check_url(url, allow=["127.0.0.0/8", "8.8.8.8"], resolve=PUBLIC)


def test_names_that_do_not_resolve_are_refused():
    def resolve(host):
        raise OSError("Name or service not known")

    with pytest.raises(CallbackRefused, match="does not resolve"):
        check_url("https://nowhere.example/", resolve=resolve)
    with pytest.raises(CallbackRefused, match="does not resolve"):
        check_url("https://nowhere.example/", resolve=lambda host: [])


class FakeConnect:
    """Stands in for the TCP connection: records where it was sent, then fails."""

    def __init__(self):
        self.addresses = []

    def __call__(self, address, timeout):
        self.addresses.append(address)
        raise ConnectionRefusedError(111, "Connection refused")


def test_network_errors_are_retried_with_backoff_across_the_checked_addresses():
    delays, connect = [], FakeConnect()
    outcome = send(
        "http://hooks.example.com:8080/x",
        {},
        "s",
        "t",
        attempts=3,
        backoff_s=1.0,
        sleep=delays.append,
        resolve=lambda host: ["93.184.216.34", "93.184.216.35"],
        connect=connect,
    )
    assert outcome == outcome.__class__(False, 3, 0, "connection refused")
    assert delays == [1.0, 2.0]
    assert connect.addresses == [("93.184.216.34", 8080), ("93.184.216.35", 8080), ("93.184.216.34", 8080)]


def test_send_rechecks_the_address_at_send_time():
    connect = FakeConnect()
    outcome = send("http://127.0.0.1/x", {}, "s", "t", allow=[], connect=connect, sleep=lambda s: None)
    assert not outcome.delivered and outcome.attempts == 0 and "internal address" in outcome.error
    assert connect.addresses == []


def test_no_attempt_or_sleep_starts_past_the_deadline():
    delays = []
    outcome = send(
        "http://hooks.example.com/x",
        {},
        "s",
        "t",
        attempts=5,
        backoff_s=10.0,
        deadline_s=15.0,
        sleep=delays.append,
        resolve=PUBLIC,
        connect=FakeConnect(),
    )
    assert delays == [10.0] and outcome.attempts == 2 and "15 s deadline" in outcome.error


@pytest.mark.parametrize(
    "exc",
    [
        http.client.BadStatusLine("SECRET internal status line"),
        http.client.LineTooLong("header line"),
        http.client.RemoteDisconnected("SECRET"),
        ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] SECRET"),
        OSError("SECRET"),
        TimeoutError("SECRET"),
    ],
)
def test_errors_are_described_in_kscribes_words(exc):
    description = _describe(exc)
    assert description and "SECRET" not in description


def test_timestamps_are_current():
    header = sign("s", int(time.time()), b"{}")
    assert verify("s", header, b"{}")
