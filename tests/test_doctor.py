"""`check` says exactly which scope, URL or credential is wrong, tested with tokens that lack each scope."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from helpers import settings_for

from pipeline.auth import Credentials
from pipeline.cli import main
from pipeline.doctor import diagnose, failed, works_on_site
from pipeline.scopes import ALL_READ_SCOPES
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator
from pipeline.tenant import is_atlassian_site


def failures(findings):
    return {f.probe: f.detail for f in findings if not f.ok}


async def test_everything_answers_for_a_token_with_every_read_scope(sim, tmp_path):
    findings = await diagnose(settings_for(sim, tmp_path), {"ATLASSIAN_TOKEN": sim.token})
    assert not failed(findings), failures(findings)
    probed = {f.probe for f in findings}
    assert "GET /wiki/api/v2/pages" in probed and "POST /rest/api/3/issue/bulkfetch" in probed
    assert not [f for f in findings if f.skipped], "the tiny site has an item for every probe"


@pytest.mark.parametrize(
    "scope",
    [
        "read:space:confluence",
        "read:page:confluence",
        "read:attachment:confluence",
        "read:comment:confluence",
        "read:label:confluence",
        "read:folder:confluence",
        "read:whiteboard:confluence",
        "read:database:confluence",
        "read:embed:confluence",
        "read:task:confluence",
        "read:user:confluence",
    ],
)
async def test_a_missing_confluence_scope_is_named(sim, tmp_path, scope):
    token = sim.tokens.add_token(scopes=ALL_READ_SCOPES - {scope})
    findings = await diagnose(settings_for(sim, tmp_path, products=("confluence",)), {"ATLASSIAN_TOKEN": token})
    broken = failures(findings)
    assert broken and all(f"add {scope}" in detail for detail in broken.values()), broken


async def test_restrictions_switched_on_are_probed_and_their_scope_named(sim, tmp_path):
    token = sim.tokens.add_token(
        scopes=ALL_READ_SCOPES - {"read:confluence-content.all", "read:content-details:confluence", "search:confluence"}
    )
    off = await diagnose(settings_for(sim, tmp_path, products=("confluence",)), {"ATLASSIAN_TOKEN": token})
    assert "GET /wiki/rest/api/content/{id}/restriction" not in {f.probe for f in off}
    settings = settings_for(sim, tmp_path, products=("confluence",), confluence_restrictions=True)
    broken = failures(await diagnose(settings, {"ATLASSIAN_TOKEN": token}))
    detail = broken["GET /wiki/rest/api/content/{id}/restriction"]
    assert "add read:confluence-content.all or read:content-details:confluence" in detail


async def test_a_token_that_cannot_search_is_told_both_scopes_that_would_do(sim, tmp_path):
    token = sim.tokens.add_token(scopes=ALL_READ_SCOPES - {"search:confluence", "read:content-details:confluence"})
    findings = await diagnose(settings_for(sim, tmp_path, products=("confluence",)), {"ATLASSIAN_TOKEN": token})
    broken = failures(findings)
    assert list(broken) == ["GET /wiki/rest/api/search"], broken
    assert "add search:confluence or read:content-details:confluence" in broken["GET /wiki/rest/api/search"]


async def test_a_missing_jira_scope_names_the_classic_and_granular_choices(sim, tmp_path):
    token = sim.tokens.add_token(scopes={s for s in ALL_READ_SCOPES if s.endswith(":confluence")})
    findings = await diagnose(settings_for(sim, tmp_path, products=("jira",)), {"ATLASSIAN_TOKEN": token})
    detail = failures(findings)["GET /rest/api/3/project/search"]
    assert "add read:jira-work or read:issue-type:jira + read:project:jira" in detail


async def test_the_site_url_used_as_the_gateway(sim, tmp_path):
    findings = await diagnose(settings_for(sim, tmp_path, gateway=sim.site_url), {"ATLASSIAN_TOKEN": sim.token})
    assert all("use --gateway https://api.atlassian.com" in d for d in failures(findings).values())


async def test_a_classic_token_is_named_without_sending_it_to_a_site_that_is_not_atlassian_net(sim, tmp_path):
    classic = sim.tokens.add_token(kind="classic")
    environ = {"ATLASSIAN_TOKEN": classic, "ATLASSIAN_EMAIL": sim.config.account_email}
    findings = await diagnose(settings_for(sim, tmp_path, products=("jira",)), environ)
    assert all("classic (unscoped) API token never works" in d for d in failures(findings).values())
    assert not [e for e in sim.log.entries if e.host == "site" and e.authorized]


async def test_a_classic_token_is_recognised_by_an_atlassian_net_site(sim):
    """What `check` asks an https://*.atlassian.net site, tried here on the simulator's site."""

    def basic(token: str) -> Credentials:
        return Credentials.from_env({"ATLASSIAN_TOKEN": token, "ATLASSIAN_EMAIL": sim.config.account_email})

    assert await works_on_site(sim.site_url, basic(sim.tokens.add_token(kind="classic")))
    assert not await works_on_site(sim.site_url, basic(sim.tokens.add_token(kind="user")))


@pytest.mark.parametrize(
    ("url", "may"),
    [
        ("https://acme.atlassian.net", True),
        ("https://ACME.Atlassian.net:443", True),
        ("http://acme.atlassian.net", False),
        ("https://acme.atlassian.net:8443", False),
        ("https://atlassian.net", False),
        ("https://acme.atlassian.net.example.com", False),
        ("https://evil-atlassian.net", False),
        ("http://127.0.0.1:8080", False),
        ("https://acme.jira.com", False),
    ],
)
def test_which_sites_may_see_credentials(url, may):
    assert is_atlassian_site(url) is may


async def test_check_sends_no_credentials_to_the_site_whatever_the_credential(sim, tmp_path):
    sim.tokens.add_client("cid", "secret")
    email = sim.config.account_email
    kinds = [
        {"ATLASSIAN_TOKEN": sim.token},
        {"ATLASSIAN_TOKEN": sim.tokens.add_token(scopes={"read:space:confluence"})},
        {"ATLASSIAN_TOKEN": sim.tokens.add_token(kind="classic"), "ATLASSIAN_EMAIL": email},
        {"ATLASSIAN_TOKEN": sim.tokens.add_token(kind="classic")},
        {"ATLASSIAN_TOKEN": sim.tokens.add_token(kind="user")},
        {"ATLASSIAN_TOKEN": sim.tokens.add_token(kind="user"), "ATLASSIAN_EMAIL": email},
        {"ATLASSIAN_TOKEN": "wrong", "ATLASSIAN_EMAIL": email},
        {"ATLASSIAN_CLIENT_ID": "cid", "ATLASSIAN_CLIENT_SECRET": "secret"},
    ]
    for environ in kinds:
        await diagnose(settings_for(sim, tmp_path), environ)
    to_site = [(e.method, e.path) for e in sim.log.entries if e.host == "site"]
    assert to_site and all(path == "/_edge/tenant_info" for _, path in to_site), to_site
    assert not [e for e in sim.log.entries if e.host == "site" and e.authorized]
    assert {e.host for e in sim.log.entries if e.authorized} <= {"gateway", "auth"}


async def test_a_persons_scoped_token_sent_as_bearer_asks_for_the_email(sim, tmp_path):
    token = sim.tokens.add_token(kind="user")
    findings = await diagnose(settings_for(sim, tmp_path, products=("confluence",)), {"ATLASSIAN_TOKEN": token})
    assert all("set ATLASSIAN_EMAIL" in d for d in failures(findings).values())
    environ = {"ATLASSIAN_TOKEN": token, "ATLASSIAN_EMAIL": sim.config.account_email}
    assert not failed(await diagnose(settings_for(sim, tmp_path, products=("confluence",)), environ))


async def test_a_wrong_cloud_id_is_caught(sim, tmp_path):
    wrong = "11111111-2222-4333-8444-555555555555"
    findings = await diagnose(settings_for(sim, tmp_path, cloud_id=wrong), {"ATLASSIAN_TOKEN": sim.token})
    detail = failures(findings)["cloudId matches the site"]
    assert sim.cloud_id in detail and "drop --cloud-id" in detail


async def test_an_expired_oauth_secret(sim, tmp_path):
    sim.tokens.add_client("cid", "secret")
    sim.tokens.clients["cid"].expired = True
    environ = {"ATLASSIAN_CLIENT_ID": "cid", "ATLASSIAN_CLIENT_SECRET": "secret"}
    findings = await diagnose(settings_for(sim, tmp_path), environ)
    assert "expired" in failures(findings)["OAuth token"]


async def test_a_product_not_licensed_for_the_account(tmp_path):
    async with Simulator(SimConfig(unlicensed=("jira",))) as sim:
        findings = await diagnose(settings_for(sim, tmp_path), {"ATLASSIAN_TOKEN": sim.token})
    broken = failures(findings)
    assert broken and all(p.startswith(("GET /rest", "POST /rest")) for p in broken)
    assert "may not be licensed" in broken["GET /rest/api/3/project/search"]


def test_check_exits_non_zero_and_prints_a_table(threaded_sim):
    narrow = threaded_sim.tokens.add_token(scopes=ALL_READ_SCOPES - {"read:comment:confluence"})
    env = {k: None for k in os.environ if k.startswith("ATLASSIAN_")}
    args = ["check", "--site", threaded_sim.site_url, "--gateway", threaded_sim.gateway_url]
    bad = CliRunner().invoke(main, args, env={**env, "ATLASSIAN_TOKEN": narrow})
    assert bad.exit_code == 1
    assert "FAIL  GET /wiki/api/v2/footer-comments" in bad.stdout and "add read:comment:confluence" in bad.stdout
    assert "2 problem(s) found." in bad.stdout
    good = CliRunner().invoke(main, args, env={**env, "ATLASSIAN_TOKEN": threaded_sim.token})
    assert good.exit_code == 0 and "Everything the sync needs answered." in good.stdout
    assert threaded_sim.token not in good.stdout
    assert not [e for e in threaded_sim.log.entries if e.host == "site" and e.authorized]
