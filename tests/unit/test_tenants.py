"""Which sources a tenant may name, and which uploads belong to whom: pure rules."""

import pytest

from kscribe.settings import Settings
from kscribe.tenancy.tenants import Tenant, source_allowed, tenant_of_upload, unsafe_object_name

SETTINGS = Settings.from_env(
    {
        "KSCRIBE_DATA_DIR": "/tmp/kscribe-rules",
        "KSCRIBE_INPUT_URI": "gs://in",
        "KSCRIBE_WORK_URI": "gs://work",
        "KSCRIBE_OUTPUT_URI": "gs://out",
    }
)


@pytest.mark.parametrize(
    "uri, allowed",
    [
        ("gs://in/tenants/acme/talk.mp4", True),
        ("gs://in/tenants/acme/a/b/talk.mp4", True),
        ("gs://media/acme/talk.mp4", True),  # a prefix the operator gave
        ("gs://in/tenants/acme-evil/talk.mp4", False),
        ("gs://in/tenants/globex/talk.mp4", False),
        ("gs://in/shared/talk.mp4", False),
        ("gs://work/job/chunks/00000.wav", False),
        ("gs://out/tenants/acme/jobs/x/talk.srt", False),
        ("gs://in/tenants/acme/../globex/talk.mp4", False),
        ("gs://in/tenants/acme//talk.mp4", False),
        ("gs://in/tenants/acme/\u202egnp.mp4", False),
        ("gs:///in/tenants/acme/talk.mp4", False),
    ],
)
def test_a_tenant_names_only_its_own_prefixes(uri, allowed):
    acme = Tenant("acme", sources=("gs://media/acme/",))
    assert source_allowed(SETTINGS, acme, uri) is allowed


def test_no_prefix_the_operator_gives_reaches_other_tenants_or_kscribes_own():
    greedy = Tenant("acme", sources=("gs://in/tenants/", "gs://in/", "gs://work/", "gs://out/"))
    assert source_allowed(SETTINGS, greedy, "gs://in/tenants/acme/talk.mp4")
    assert source_allowed(SETTINGS, greedy, "gs://in/shared/talk.mp4"), "what the operator gave"
    for uri in ("gs://in/tenants/globex/secret.wav", "gs://work/j/chunks/0.wav", "gs://out/x.srt"):
        assert not source_allowed(SETTINGS, greedy, uri), uri


@pytest.mark.parametrize(
    "uri, tenant",
    [
        ("gs://in/tenants/acme/talk.mp4", "acme"),
        ("gs://in/tenants/acme", ""),
        ("gs://in/talk.mp4", ""),
        ("gs://in/tenants/Acme/talk.mp4", ""),
        ("gs://in/tenants/acme\n/talk.mp4", ""),
    ],
)
def test_an_upload_belongs_to_the_tenant_whose_prefix_holds_it(uri, tenant):
    assert tenant_of_upload(SETTINGS, uri) == tenant


def test_names_that_hide_characters_are_unsafe():
    for uri in ("gs://b/a\x00.mp4", "gs://b/a\u200b.mp4", "gs://b/\u202egnp.mp4", "gs://b/a/./b.mp4", "gs://b"):
        assert unsafe_object_name(uri), uri
    assert not unsafe_object_name("gs://b/ünïcödé talk.mp4")
