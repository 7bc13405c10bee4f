import pytest

from kscribe.errors import ConfigError
from kscribe.tenancy.apikeys import ApiKeys
from kscribe.tenancy.ratelimit import RateLimiter
from kscribe.tenancy.tenants import Tenants


def test_keys_are_stored_hashed_and_bound_to_a_tenant(redis_client):
    keys = ApiKeys(redis_client)
    token, key = keys.create("acme", "ci")
    assert token.startswith("ksk_") and len(token) > 40
    dump = str({k: redis_client.hgetall(k) for k in redis_client.scan_iter("kscribe:apikey:*")})
    assert token not in dump and token[4:] not in dump, "only the hash is stored"
    assert keys.authenticate(token).tenant == "acme"
    assert keys.authenticate(token + "x") is None and keys.authenticate("Bearer") is None
    assert [k.key_id for k in keys.list()] == [key.key_id]
    assert keys.revoke(key.key_id) and keys.authenticate(token) is None
    assert not keys.revoke("abc"), "too short to identify a key"


def test_tenant_names_are_checked(redis_client):
    with pytest.raises(ConfigError):
        ApiKeys(redis_client).create("Acme Corp")


def test_the_limit_counts_per_key_per_window(redis_client):
    now = [1_000_040.0]  # 20 s into a window that ends at 1_000_080
    limiter = RateLimiter(redis_client, per_minute=3, clock=lambda: now[0])
    assert [limiter.hit("a")[0] for _ in range(4)] == [True, True, True, False]
    assert limiter.hit("b")[0], "another key has its own budget"
    allowed, retry_after = limiter.hit("a")
    assert not allowed and retry_after == 40
    now[0] += 40
    assert limiter.hit("a")[0], "a new window"


def test_quotas_must_be_numbers_of_at_least_zero(redis_client):
    tenants = Tenants(redis_client)
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ConfigError):
            tenants.set_limits("acme", audio_hours_per_day=bad)
    assert tenants.set_limits("acme", max_active_jobs=3).max_active_jobs == 3
