import time

import pytest
import requests

from kscribe.callbacks import CallbackRefused, check_url, send, sign, verify


def test_signature_round_trip_and_staleness():
    body = b'{"job_id":"x"}'
    header = sign("s3cret", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify("s3cret", header, body, now=1_700_000_100)
    assert not verify("s3cret", header, body + b" ", now=1_700_000_100), "body changed"
    assert not verify("other", header, body, now=1_700_000_100), "wrong secret"
    assert not verify("s3cret", header, body, now=1_700_000_000 + 301), "too old: a replay"
    assert not verify("s3cret", "garbage", body)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.8", "172.16.3.4", "192.168.1.1", "169.254.169.254",
                                     "::1", "fe80::1", "fc00::5", "0.0.0.0", "100.64.0.1", "224.0.0.1"])
def test_internal_addresses_are_refused(address):
    with pytest.raises(CallbackRefused, match="internal address"):
        check_url("https://hooks.example.com/x", resolve=lambda host: [address])


def test_a_name_with_any_internal_address_is_refused():
    with pytest.raises(CallbackRefused):
        check_url("https://mixed.example.com/", resolve=lambda host: ["93.184.216.34", "10.0.0.1"])


def test_public_addresses_and_the_allow_list_pass():
    check_url("https://hooks.example.com/x", resolve=lambda host: ["93.184.216.34", "2606:2800:220:1::1"])
    check_url("http://127.0.0.1:8080/x", allow=["127.0.0.1"], resolve=lambda host: ["127.0.0.1"])
    check_url("http://receiver.internal/x", allow=["10.0.0.0/8"], resolve=lambda host: ["10.4.5.6"])
    check_url("http://receiver.internal/x", allow=["receiver.internal"], resolve=lambda host: ["10.4.5.6"])


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "example.com/x", "http:///x"])
def test_only_http_urls(url):
    with pytest.raises(CallbackRefused, match="http"):
        check_url(url, resolve=lambda host: ["93.184.216.34"])


class FakeSession:
    def __init__(self, codes):
        self.codes = list(codes)
        self.calls = 0

    def post(self, url, **kwargs):
        self.calls += 1
        response = requests.Response()
        response.status_code = self.codes.pop(0)
        response._content = b"nope"
        return response


def test_send_retries_server_errors_with_backoff_but_not_client_errors():
    delays = []
    session = FakeSession([500, 503, 200])
    outcome = send("http://127.0.0.1/x", {"a": 1}, "s", "t", allow=["127.0.0.1"], sleep=delays.append,
                   session=session, backoff_s=1.0)
    assert outcome.delivered and outcome.attempts == 3 and delays == [1.0, 2.0]
    outcome = send("http://127.0.0.1/x", {}, "s", "t", allow=["127.0.0.1"], sleep=delays.append,
                   session=FakeSession([404]))
    assert not outcome.delivered and outcome.attempts == 1 and outcome.status_code == 404


def test_send_rechecks_the_address_at_send_time():
    outcome = send("http://127.0.0.1/x", {}, "s", "t", allow=[], session=FakeSession([200]), sleep=lambda s: None)
    assert not outcome.delivered and outcome.attempts == 0 and "internal address" in outcome.error


def test_timestamps_are_current():
    header = sign("s", int(time.time()), b"{}")
    assert verify("s", header, b"{}")
