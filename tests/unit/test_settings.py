import pytest

from kscribe.errors import ConfigError
from kscribe.settings import ALL_FORMATS, DEFAULT_FORMATS, Settings, parse_formats


def test_defaults_live_under_the_data_dir(tmp_path):
    s = Settings.from_env({"KSCRIBE_DATA_DIR": str(tmp_path)})
    assert s.input_uri == str(tmp_path / "input") and s.output_uri == str(tmp_path / "output")
    assert s.model == "tiny.en" and s.vad_filter and s.word_timestamps and not s.condition_on_previous_text
    assert s.chunk_target_s is None and s.formats == DEFAULT_FORMATS and s.redis_url == ""


def test_environment_overrides(tmp_path):
    s = Settings.from_env(
        {
            "KSCRIBE_DATA_DIR": str(tmp_path),
            "KSCRIBE_OUTPUT_URI": "gs://out/t",
            "KSCRIBE_CHUNK_SECONDS": "120",
            "KSCRIBE_VAD": "off",
            "KSCRIBE_FORMATS": "srt, vtt",
            "REDIS_URL": "redis://r:6379/0",
            "KSCRIBE_BEAM_SIZE": "1",
        }
    )
    assert (s.output_uri, s.chunk_target_s, s.vad_filter, s.formats, s.redis_url, s.beam_size) == (
        "gs://out/t",
        120.0,
        False,
        ("srt", "vtt"),
        "redis://r:6379/0",
        1,
    )


def test_chunks_are_long_where_kscribe_run_decodes_one_at_a_time_unless_set(tmp_path):
    from kscribe.cli.main import _local_chunk_target
    from kscribe.media.chunking import LOCAL_CHUNK_S, STACK_CHUNK_S

    s = Settings.from_env({"KSCRIBE_DATA_DIR": str(tmp_path)})
    assert _local_chunk_target(s.replace(parallel_chunks=1)) == LOCAL_CHUNK_S > STACK_CHUNK_S
    assert _local_chunk_target(s.replace(parallel_chunks=2)) == STACK_CHUNK_S
    assert _local_chunk_target(s.replace(parallel_chunks=1, chunk_target_s=120.0)) == 120.0
    assert (
        Settings.from_env({"KSCRIBE_DATA_DIR": str(tmp_path), "KSCRIBE_CHUNK_SECONDS": "auto"}).chunk_target_s is None
    )


@pytest.mark.parametrize(
    "env, message",
    [
        ({"KSCRIBE_CHUNK_SECONDS": "ten"}, "KSCRIBE_CHUNK_SECONDS must be a number"),
        ({"KSCRIBE_CHUNK_SECONDS": "1"}, "at least 5"),
        ({"KSCRIBE_VAD": "maybe"}, "KSCRIBE_VAD must be true or false"),
        ({"KSCRIBE_TASK": "summarise"}, "task must be transcribe or translate"),
        ({"KSCRIBE_DEVICE": "tpu"}, "device must be auto, cpu or cuda"),
        ({"KSCRIBE_FORMATS": "srt,docx"}, "unknown format(s) docx"),
    ],
)
def test_bad_values_are_clear_errors(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env({"KSCRIBE_DATA_DIR": str(tmp_path), **env})


def test_parse_formats_dedupes_and_keeps_order():
    assert parse_formats("TXT,srt,txt") == ("txt", "srt")
    assert parse_formats("all") == ALL_FORMATS


def test_edge_settings(tmp_path):
    s = Settings.from_env({"KSCRIBE_DATA_DIR": str(tmp_path)})
    assert (s.api_auth_failures_per_minute, s.trusted_proxies, s.internal_port, s.internal_host, s.event_auth) == (
        30,
        (),
        0,
        "127.0.0.1",
        "",
    )
    s = Settings.from_env(
        {
            "KSCRIBE_DATA_DIR": str(tmp_path),
            "KSCRIBE_API_AUTH_FAILURES_PER_MINUTE": "5",
            "KSCRIBE_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1",
            "KSCRIBE_INTERNAL_PORT": "9091",
            "KSCRIBE_INTERNAL_HOST": "0.0.0.0",
            "KSCRIBE_EVENT_AUTH": "oidc",
            "KSCRIBE_EVENT_JWKS_URL": "https://issuer/jwks",
            "KSCRIBE_EVENT_ISSUER": "https://issuer",
            "KSCRIBE_EVENT_AUDIENCE": "kscribe/extract",
            "KSCRIBE_EVENT_SENDERS": "system:a, system:b,",
        }
    )
    assert (s.api_auth_failures_per_minute, s.trusted_proxies, s.internal_port, s.internal_host) == (
        5,
        ("10.0.0.0/8", "127.0.0.1"),
        9091,
        "0.0.0.0",
    )
    assert s.event_senders == ("system:a", "system:b") and s.event_audience == "kscribe/extract"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"KSCRIBE_EVENT_AUTH": "mtls"}, "KSCRIBE_EVENT_AUTH must be empty or oidc"),
        ({"KSCRIBE_EVENT_AUTH": "oidc", "KSCRIBE_EVENT_ISSUER": "https://i"}, "needs KSCRIBE_EVENT_JWKS_URL"),
        ({"KSCRIBE_INTERNAL_PORT": "70000"}, "must be a port number"),
    ],
)
def test_edge_settings_are_checked(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"KSCRIBE_DATA_DIR": str(tmp_path), **env})
