"""Event senders' OIDC tokens checked with a real RSA key against a JWKS served over HTTP."""

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kscribe.errors import TransientError
from kscribe.pipeline.event_auth import EventAuth, Jwks, Unauthenticated
from tests.oidc_issuer import AUDIENCE, ISSUER, SENDER, Issuer


@pytest.fixture
def issuer():
    issuer = Issuer()
    yield issuer
    issuer.close()


def checker(issuer, **jwks_options) -> EventAuth:
    return EventAuth(Jwks(issuer.jwks_url, **jwks_options), ISSUER, AUDIENCE, frozenset({SENDER}))


def test_the_broker_token_passes(issuer):
    assert checker(issuer).verify(f"Bearer {issuer.token()}") == SENDER


@pytest.mark.parametrize(
    "make_header, why",
    [
        (lambda i: f"Bearer {i.token(aud='kscribe/publish')}", "(?i)audience"),
        (lambda i: f"Bearer {i.token(iss='https://elsewhere')}", "(?i)issuer"),
        (lambda i: f"Bearer {i.token(sub='system:serviceaccount:default:attacker')}", "not one of"),
        (lambda i: f"Bearer {i.token(exp=int(time.time()) - 3600)}", "expired"),
        (lambda i: f"Bearer {i.token(exp=None)}", "exp"),
        (
            lambda i: f"Bearer {i.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))}",
            "Signature verification failed",
        ),
        (lambda i: f"Bearer {i.token()[:-4]}AAAA", "invalid token"),
        (lambda i: "", "no bearer token"),
        (lambda i: f"Basic {i.token()}", "no bearer token"),
        (lambda i: "Bearer not-a-jwt", "invalid token"),
    ],
)
def test_anything_else_is_refused(issuer, make_header, why):
    with pytest.raises(Unauthenticated, match=why):
        checker(issuer).verify(make_header(issuer))


def test_alg_none_and_hmac_tokens_are_refused(issuer):
    import jwt

    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": SENDER, "exp": int(time.time()) + 60}
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": issuer.kid})
    with pytest.raises(Unauthenticated):
        checker(issuer).verify(f"Bearer {unsigned}")
    hmac = jwt.encode(
        claims, "secret-guess-that-is-long-enough-for-hs256", algorithm="HS256", headers={"kid": issuer.kid}
    )
    with pytest.raises(Unauthenticated):
        checker(issuer).verify(f"Bearer {hmac}")


def test_keys_are_cached_and_fetched_again_for_a_new_key_id(issuer):
    clock = [1000.0]
    check = checker(issuer, min_refresh_s=30, clock=lambda: clock[0])
    for _ in range(3):
        check.verify(f"Bearer {issuer.token()}")
    assert issuer.fetches == 1
    issuer.rotate("key-2")
    clock[0] += 31
    assert check.verify(f"Bearer {issuer.token()}") == SENDER, "an unknown kid refreshes the keys"
    assert issuer.fetches == 2
    for i in range(5):  # made-up key ids do not turn into a fetch each
        with pytest.raises(Unauthenticated, match="no signing key"):
            check.verify(f"Bearer {issuer.token(kid=f'made-up-{i}')}")
    assert issuer.fetches == 2


def test_unreachable_keys_are_transient(issuer):
    url = issuer.jwks_url
    issuer.close()
    with pytest.raises(TransientError):
        EventAuth(Jwks(url, timeout_s=2), ISSUER, AUDIENCE, frozenset({SENDER})).verify(f"Bearer {issuer.token()}")
