"""The pure rules: Retry-After and backoff, link re-rooting, site forms, settings, credentials."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.auth import Credentials, Secret
from pipeline.backoff import Backoff, RetryBudget, is_quota, is_retryable, parse_reset, parse_retry_after
from pipeline.config import Settings, load_settings
from pipeline.errors import ConfigError, UnexpectedResponse
from pipeline.links import reroot
from pipeline.scopes import ALL_READ_SCOPES, BY_NAME, operation_for
from pipeline.tenant import check_cloud_id, site_url

ROOT = "https://api.atlassian.com/ex/confluence/11111111-2222-3333-4444-555555555555"
JIRA_ROOT = "https://api.atlassian.com/ex/jira/11111111-2222-3333-4444-555555555555"
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


# -- Retry-After and backoff -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("0.5", 0.5),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("-4", 0.0),
        ("Thu, 01 Jan 2026 12:00:30 GMT", 30.0),
        ("Thu, 01 Jan 2026 11:59:00 GMT", 0.0),
        ("99999999999", 3600.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date(header, seconds):
    assert parse_retry_after(header, NOW) == seconds


def test_rate_limit_reset_is_read_from_iso_8601():
    assert parse_reset("2026-01-01T12:00:10Z", NOW) == 10.0
    assert parse_reset("2026-01-01T12:00:10.500+00:00", NOW) == 10.5
    assert parse_reset("garbage", NOW) is None


def test_retry_after_is_the_minimum_wait():
    backoff = Backoff()
    rng = random.Random(0)
    waits = [backoff.delay(attempt, 5.0, rng) for attempt in range(50)]
    assert min(waits) >= 5.0 and max(waits) <= 5.0 * 1.15


def test_without_a_hint_backoff_doubles_to_a_cap_with_jitter():
    backoff = Backoff(base_s=2.0, cap_s=30.0)
    rng = random.Random(1)
    for attempt, nominal in [(0, 2), (1, 4), (2, 8), (3, 16), (4, 30), (10, 30), (400, 30)]:
        wait = backoff.delay(attempt, None, rng)
        assert nominal * 0.7 <= wait <= nominal * 1.3
    assert backoff.delay(0, 0.0, rng) >= 1.4, "Retry-After: 0 does not mean hammer the server"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttling_is_bounded_by_time_and_other_failures_by_count():
    clock = FakeClock()
    budget = RetryBudget(max_failures=2, throttle_budget_s=60.0, backoff=Backoff(), clock=clock)
    throttled = 0
    while (wait := budget.next_wait(True, 5.0)) is not None:
        assert wait >= 5.0, "every Retry-After is honoured in full"
        clock.now += wait
        throttled += 1
    assert 8 <= throttled <= 11, "as many 429s as fit in 60 s of 5 s waits, far beyond max_retries"
    assert clock.now - 1000.0 <= 60.0
    assert "retry_budget_s (60 s)" in budget.exhausted("GET /x", "HTTP 429", throttled=True)
    assert [budget.next_wait(False, None) is not None for _ in range(3)] == [True, True, False]
    assert f"after {throttled + 1 + 3} attempts" in budget.exhausted("GET /x", "HTTP 500", throttled=False)


def test_a_retry_after_longer_than_the_budget_fails_at_once():
    budget = RetryBudget(max_failures=8, throttle_budget_s=600.0, backoff=Backoff(), clock=FakeClock())
    assert budget.next_wait(True, 3600.0) is None


def test_which_statuses_retry_and_which_reasons_are_quotas():
    assert all(is_retryable(s) for s in (429, 500, 502, 503, 504))
    assert not any(is_retryable(s) for s in (400, 401, 403, 404, 410))
    assert is_quota("jira-quota-tenant-based") and is_quota("Confluence-Quota-Global-Based")
    assert not is_quota("jira-burst-based") and not is_quota(None)


# -- links -------------------------------------------------------------------------------------------
def test_confluence_next_link_is_rerooted_on_the_gateway():
    link = "/wiki/api/v2/pages?cursor=abc%3D&limit=250&body-format=storage"
    assert reroot(link, ROOT) == f"{ROOT}/wiki/api/v2/pages?cursor=abc%3D&limit=250&body-format=storage"


def test_site_absolute_jira_links_are_rerooted_and_keep_their_query():
    link = "https://acme.atlassian.net/rest/api/3/project/search?startAt=50&maxResults=50"
    assert reroot(link, JIRA_ROOT) == f"{JIRA_ROOT}/rest/api/3/project/search?startAt=50&maxResults=50"
    local = "http://127.0.0.1:9000/rest/api/3/attachment/content/10"
    assert reroot(local, JIRA_ROOT, "http://127.0.0.1:9000") == f"{JIRA_ROOT}/rest/api/3/attachment/content/10"


def test_links_already_on_the_gateway_stay_put():
    assert reroot(f"{ROOT}/wiki/api/v2/spaces?cursor=x", ROOT) == f"{ROOT}/wiki/api/v2/spaces?cursor=x"
    assert reroot("/ex/confluence/11111111-2222-3333-4444-555555555555/wiki/x", ROOT) == f"{ROOT}/wiki/x"


def test_links_to_other_hosts_are_refused_rather_than_sent_the_token():
    with pytest.raises(UnexpectedResponse, match="another host"):
        reroot("https://evil.example.com/wiki/api/v2/pages", ROOT)
    with pytest.raises(UnexpectedResponse, match="another gateway product"):
        reroot("/ex/jira/11111111-2222-3333-4444-555555555555/rest/api/3/field", ROOT)


# -- sites and cloud ids -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("acme", "https://acme.atlassian.net"),
        ("acme.atlassian.net", "https://acme.atlassian.net"),
        ("https://acme.atlassian.net/wiki/spaces/X", "https://acme.atlassian.net"),
        ("HTTPS://acme.atlassian.net/", "https://acme.atlassian.net"),
        ("http://127.0.0.1:8090", "http://127.0.0.1:8090"),
        ("http://localhost:1", "http://localhost:1"),
    ],
)
def test_the_site_may_be_named_in_any_of_its_forms(given, url):
    assert site_url(given) == url


def test_plain_http_is_refused_except_on_loopback():
    with pytest.raises(ConfigError, match="unencrypted"):
        site_url("http://acme.atlassian.net")
    with pytest.raises(ConfigError, match="unencrypted"):
        load_settings({"gateway": "http://api.example.com"}, environ={}, default_config=False)


def test_a_cloud_id_must_be_a_uuid():
    assert check_cloud_id("11111111-2222-3333-4444-55555555555A") == "11111111-2222-3333-4444-55555555555a"
    with pytest.raises(ConfigError, match="cloud-id SITE"):
        check_cloud_id("acme.atlassian.net")


# -- settings ----------------------------------------------------------------------------------------
def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    return path


def test_flags_override_the_file_which_overrides_the_environment(tmp_path):
    path = write(tmp_path, 'site = "from-file"\nconcurrency = 3\n[jira]\nprojects = ["A", "B"]\nworklogs = true\n')
    environ = {"ATLASSIAN_SITE": "from-env", "ATLASSIAN_GATEWAY": "https://gw.example.com"}
    settings = load_settings({"concurrency": 5, "site": None}, path, environ)
    assert settings.site == "from-file" and settings.concurrency == 5 and settings.gateway == "https://gw.example.com"
    assert settings.projects == ("A", "B") and settings.jira_worklogs is True
    assert load_settings({}, None, {}, default_config=False) == Settings()


def test_an_unknown_key_is_named_with_its_file(tmp_path):
    path = write(tmp_path, "[jira]\nprojcts = []\n")
    with pytest.raises(ConfigError, match=r"unknown key '\[jira\] projcts' in .*settings.toml"):
        load_settings({}, path, {})


@pytest.mark.parametrize("flags", [{"retry_budget_s": 0}, {"max_retries": -1}, {"request_timeout_s": -5}])
def test_retry_settings_out_of_range_are_refused(flags):
    with pytest.raises(ConfigError, match=r"retries|retry_budget_s|timeout"):
        load_settings(flags, environ={}, default_config=False)


def test_a_value_of_the_wrong_type_is_named(tmp_path):
    with pytest.raises(ConfigError, match="concurrency"):
        load_settings({}, write(tmp_path, 'concurrency = "lots"\n'), {})
    with pytest.raises(ConfigError, match="attachments"):
        load_settings({}, write(tmp_path, 'attachments = "yes"\n'), {})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({}, write(tmp_path, "site = \n"), {})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({}, tmp_path / "nope.toml", {})


def test_the_example_config_documents_every_key():
    example = Path(__file__).resolve().parents[1] / "configs" / "example.toml"
    settings = load_settings({}, example, {})
    assert settings.site == "acme.atlassian.net"
    text = example.read_text()
    from pipeline.config import TOML_KEYS

    for section, name in TOML_KEYS.values():
        assert f"{name} =" in text, f"configs/example.toml does not document {name}"
        if section:
            assert f"[{section}]" in text


# -- credentials -------------------------------------------------------------------------------------
def test_credentials_come_from_the_environment_in_three_kinds():
    assert Credentials.from_env({"ATLASSIAN_TOKEN": "t"}).kind == "bearer"
    assert Credentials.from_env({"ATLASSIAN_TOKEN": "t", "ATLASSIAN_EMAIL": "a@b"}).kind == "basic"
    oauth = Credentials.from_env({"ATLASSIAN_CLIENT_ID": "c", "ATLASSIAN_CLIENT_SECRET": "s", "ATLASSIAN_TOKEN": "t"})
    assert oauth.kind == "oauth"
    for broken in ({}, {"ATLASSIAN_EMAIL": "a@b"}, {"ATLASSIAN_CLIENT_ID": "c"}):
        with pytest.raises(ConfigError):
            Credentials.from_env(broken)


def test_secrets_never_show_in_reprs():
    creds = Credentials.from_env({"ATLASSIAN_TOKEN": "tok-123-secret", "ATLASSIAN_EMAIL": "a@b"})
    assert "tok-123-secret" not in repr(creds) and "tok-123-secret" not in str(creds)
    assert "xyz" not in f"{Secret('xyz')}"


# -- scopes ------------------------------------------------------------------------------------------
def test_operations_are_found_from_request_paths():
    assert operation_for("confluence", "GET", "/wiki/api/v2/pages/42/footer-comments").path.endswith("/footer-comments")
    assert operation_for("jira", "POST", "/rest/api/3/issue/bulkfetch") is BY_NAME["POST /rest/api/3/issue/bulkfetch"]
    assert operation_for("jira", "GET", "/rest/api/3/nothing") is None


def test_missing_scopes_are_the_smallest_set_to_add():
    op = BY_NAME["GET /rest/api/3/field"]
    assert op.missing(frozenset()) == ("read:jira-work",)
    assert op.allows(frozenset({"read:jira-work"})) and op.allows(ALL_READ_SCOPES)
    granular = frozenset({"read:field:jira", "read:avatar:jira", "read:project-category:jira", "read:project:jira"})
    assert op.missing(granular) == ("read:field-configuration:jira",)


def test_an_error_inside_task_groups_is_shown_by_its_own_message_not_as_an_exception_group():
    from pipeline.errors import MissingScope, explain

    scope = MissingScope("GET /rest/api/3/issue/{id}/comment", ("read:jira-work",))
    nested = ExceptionGroup("outer", [ExceptionGroup("inner", [ValueError("x"), scope]), KeyError("y")])
    message = explain(nested)
    assert message.startswith("the token lacks a scope for GET /rest/api/3/issue/{id}/comment: add read:jira-work")
    assert "ExceptionGroup" not in message and message.endswith("(+2 more)")
    assert explain(ValueError("plain")) == "internal error: ValueError: plain"
