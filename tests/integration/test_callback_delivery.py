"""Callback delivery against real receivers on 127.0.0.1: the connection goes where the check
looked, answers never reach the tenant, and slow or greedy receivers cannot hold notify."""

from __future__ import annotations

import datetime
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kscribe.delivery import transport as callbacks
from kscribe.delivery.signing import verify
from kscribe.delivery.targets import check_url
from kscribe.delivery.transport import MAX_RESPONSE_HEAD_BYTES, send

HOST = "hooks.example.test"
LOOPBACK = ["127.0.0.1"]
SECRET_BYTES = b"root:x:0:0:internal-only"  # what an internal service would answer


class Receiver:
    """A loopback HTTP(S) endpoint whose answer is ``behaviour``:
    ok (204), internal (500 with a body), endless (500, a body that never ends), endless-head
    (headers that never end), banner (not HTTP at all), trickle-status / trickle-head (a byte
    every 20 ms, before or after the status line), tls-trickle (a TLS record, a byte at a time)."""

    def __init__(self, behaviour: str = "ok", tls: ssl.SSLContext | None = None):
        self.behaviour, self.received, self.server_names = behaviour, [], []
        self.stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def handle(self):
                try:
                    if receiver.behaviour == "tls-trickle":
                        self.wfile.write(b"\x16\x03\x03\x40\x00")  # a 16 KiB handshake record follows...
                        receiver.trickle(self.wfile, b"\x00")
                    else:
                        super().handle()
                except OSError:
                    pass  # the sender hung up on us, as it should

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                behaviour = receiver.behaviour
                if behaviour == "ok":
                    self.send_response(204)
                    self.end_headers()
                elif behaviour == "internal":
                    self.send_response(500)
                    self.send_header("Content-Length", str(len(SECRET_BYTES)))
                    self.end_headers()
                    self.wfile.write(SECRET_BYTES)
                elif behaviour in ("endless", "endless-ok"):
                    self.send_response(500 if behaviour == "endless" else 200)
                    self.end_headers()
                    while not receiver.stop.is_set():
                        self.wfile.write(SECRET_BYTES * 4096)
                elif behaviour == "endless-head":
                    self.wfile.write(b"HTTP/1.1 500 Internal Server Error\r\n")
                    while not receiver.stop.is_set():
                        self.wfile.write(b"X-Internal: " + SECRET_BYTES * 64 + b"\r\n")
                elif behaviour == "banner":
                    self.wfile.write(SECRET_BYTES + b"\r\n")
                elif behaviour == "trickle-status":
                    receiver.trickle(self.wfile, b"H")
                elif behaviour == "trickle-head":
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    receiver.trickle(self.wfile, b"z")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            tls.sni_callback = lambda sock, name, context: self.server_names.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def trickle(self, wfile, byte: bytes) -> None:
        while not self.stop.wait(0.02):  # the receiver's pace, not the test waiting
            wfile.write(byte)

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory():
    made = []

    def make(behaviour: str = "ok", tls: ssl.SSLContext | None = None) -> Receiver:
        made.append(Receiver(behaviour, tls))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


class CountingConnect:
    """The default connection, recording where it went and how many bytes were read from it."""

    def __init__(self):
        self.addresses, self.bytes_read = [], 0

    def __call__(self, address, timeout):
        self.addresses.append(address)
        return _CountingSocket(callbacks._open(address, timeout), self)


class _CountingSocket:
    def __init__(self, sock, counter):
        self._sock, self._counter = sock, counter

    def recv_into(self, buffer, *args):
        count = self._sock.recv_into(buffer, *args)
        self._counter.bytes_read += count
        return count

    def __getattr__(self, name):
        return getattr(self._sock, name)


def loopback(host):
    return list(LOOPBACK)


def test_delivers_signed_to_the_checked_address_without_resolving_again(receiver_factory, monkeypatch):
    receiver = receiver_factory("ok")
    answers = iter(["127.0.0.1", "203.0.113.9"])  # DNS answers differently after the check
    lookups = []

    def resolve(host):
        lookups.append(host)
        return [next(answers)]

    def no_dns(*args, **kwargs):
        raise AssertionError(f"a name was resolved after the check: {args}")

    monkeypatch.setattr("socket.getaddrinfo", no_dns)
    connect = CountingConnect()
    outcome = send(
        f"http://{HOST}:{receiver.port}/hooks/kscribe?x=1",
        {"job_id": "j1"},
        "s3cret",
        "job.succeeded",
        allow=LOOPBACK,
        resolve=resolve,
        connect=connect,
        sleep=lambda s: None,
    )
    assert outcome == callbacks.CallbackOutcome(True, 1, 204, "")
    assert lookups == [HOST] and connect.addresses == [("127.0.0.1", receiver.port)]
    [(headers, body)] = receiver.received
    assert headers["Host"] == f"{HOST}:{receiver.port}" and headers["Kscribe-Event"] == "job.succeeded"
    assert body == b'{"job_id":"j1"}' and verify("s3cret", headers["Kscribe-Signature"], body)


def test_a_rebinding_resolver_cannot_reach_loopback(receiver_factory):
    receiver = receiver_factory("ok")
    url = f"http://{HOST}:{receiver.port}/hook"
    answers = iter([["93.184.216.34"], ["93.184.216.34"]])

    def rebinding(host):
        return next(answers, LOOPBACK)  # public while checked, loopback once that has passed

    check_url(url, resolve=rebinding)  # when the job is created
    connected = []

    def connect(address, timeout):  # nothing listens at the public address here: refuse, as it would
        connected.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    outcome = send(url, {}, "s", "t", attempts=3, resolve=rebinding, connect=connect, sleep=lambda s: None)
    # The one attempt that passed its check went to the public address it checked; the next
    # check saw loopback and refused. Nothing reached the receiver.
    assert connected == [("93.184.216.34", receiver.port)]
    assert outcome.attempts == 1 and not outcome.delivered and "internal address" in outcome.error
    assert receiver.received == []


@pytest.mark.parametrize(
    "behaviour, status, error",
    [
        ("internal", 500, "HTTP 500"),
        ("endless", 500, "HTTP 500"),
        ("endless-ok", 200, ""),
        ("endless-head", 0, f"response headers over {MAX_RESPONSE_HEAD_BYTES} bytes"),
        ("banner", 0, "malformed HTTP response"),
    ],
)
def test_response_bodies_are_neither_read_nor_shown(receiver_factory, behaviour, status, error):
    receiver = receiver_factory(behaviour)
    connect = CountingConnect()
    started = time.monotonic()
    outcome = send(
        f"http://{HOST}:{receiver.port}/",
        {},
        "s",
        "t",
        attempts=1,
        allow=LOOPBACK,
        resolve=loopback,
        connect=connect,
        timeout_s=10.0,
    )
    assert time.monotonic() - started < 5.0
    assert (outcome.status_code, outcome.error) == (status, error)
    assert b"internal-only" not in outcome.error.encode()
    assert 0 < connect.bytes_read <= MAX_RESPONSE_HEAD_BYTES, "the body is not read"


@pytest.mark.parametrize("behaviour", ["trickle-status", "trickle-head"])
def test_a_trickling_receiver_is_cut_off_at_the_attempt_timeout(receiver_factory, behaviour):
    receiver = receiver_factory(behaviour)
    started = time.monotonic()
    outcome = send(
        f"http://{HOST}:{receiver.port}/",
        {},
        "s",
        "t",
        attempts=2,
        backoff_s=0.0,
        allow=LOOPBACK,
        resolve=loopback,
        timeout_s=0.5,
        sleep=lambda s: None,
    )
    elapsed = time.monotonic() - started
    assert outcome == callbacks.CallbackOutcome(False, 2, 0, "timed out")
    assert 0.9 < elapsed < 3.0, elapsed  # two attempts of 0.5 s each, with a generous margin
    assert len(receiver.received) == 2


def test_the_whole_send_ends_at_its_deadline(receiver_factory):
    receiver = receiver_factory("trickle-head")
    started = time.monotonic()
    outcome = send(
        f"http://{HOST}:{receiver.port}/",
        {},
        "s",
        "t",
        attempts=5,
        backoff_s=0.0,
        allow=LOOPBACK,
        resolve=loopback,
        timeout_s=5.0,
        deadline_s=0.6,
        sleep=lambda s: None,
    )
    elapsed = time.monotonic() - started
    assert not outcome.delivered and outcome.attempts == 1 and outcome.error.startswith("timed out")
    assert elapsed < 3.0, elapsed


# --- HTTPS: SNI, Host and certificate verification for the name, connection to the address ---


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for HOST: (certificate path, key path)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(folder / "cert.pem"), str(folder / "key.pem")


def server_context(certificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def test_https_keeps_sni_host_and_verification_for_the_name(receiver_factory, certificate):
    receiver = receiver_factory("ok", tls=server_context(certificate))
    trusted = ssl.create_default_context(cafile=certificate[0])
    connect = CountingConnect()
    outcome = send(
        f"https://{HOST}:{receiver.port}/hooks",
        {"job_id": "j2"},
        "s",
        "job.failed",
        allow=LOOPBACK,
        resolve=loopback,
        connect=connect,
        ssl_context=trusted,
    )
    assert outcome == callbacks.CallbackOutcome(True, 1, 204, "")
    assert connect.addresses == [("127.0.0.1", receiver.port)]
    assert receiver.server_names == [HOST]
    [(headers, _)] = receiver.received
    assert headers["Host"] == f"{HOST}:{receiver.port}"


def test_https_refuses_a_certificate_for_another_name_or_issuer(receiver_factory, certificate):
    receiver = receiver_factory("ok", tls=server_context(certificate))
    trusted = ssl.create_default_context(cafile=certificate[0])
    outcome = send(
        f"https://other.example.test:{receiver.port}/",
        {},
        "s",
        "t",
        attempts=1,
        allow=LOOPBACK,
        resolve=loopback,
        ssl_context=trusted,
    )
    assert not outcome.delivered and outcome.error.startswith("TLS certificate not accepted")
    assert "other.example.test" in outcome.error
    outcome = send(f"https://{HOST}:{receiver.port}/", {}, "s", "t", attempts=1, allow=LOOPBACK, resolve=loopback)
    assert not outcome.delivered and outcome.error.startswith("TLS certificate not accepted"), "default CAs"
    assert receiver.received == []


def test_a_trickled_tls_handshake_ends_at_the_timeout(receiver_factory):
    receiver = receiver_factory("tls-trickle")
    started = time.monotonic()
    outcome = send(
        f"https://{HOST}:{receiver.port}/", {}, "s", "t", attempts=1, allow=LOOPBACK, resolve=loopback, timeout_s=0.5
    )
    assert outcome == callbacks.CallbackOutcome(False, 1, 0, "timed out")
    assert time.monotonic() - started < 3.0
