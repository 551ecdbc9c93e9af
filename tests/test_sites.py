"""Many sites: `[[sites]]` in one config, synced together by `sync --all` into a store each; one failing
site (a refused token) stops no other, each gets its summary line, and the exit status is the worst."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from expected import differences, expected, stored

from pipeline.cli import main
from pipeline.errors import ConfigError
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator
from pipeline.sites import load_sites, sync_sites, worst_exit


def sites_toml(tmp_path: Path, *sims: tuple[str, Simulator]) -> Path:
    lines = ["concurrency = 4", ""]
    for name, sim in sims:
        lines += [
            "[[sites]]",
            f'name = "{name}"',
            f'site = "{sim.site_url}"',
            f'gateway = "{sim.gateway_url}"',
            f'auth_url = "{sim.auth_url}"',
            f'db = "{tmp_path / name}.db"',
            f'attachments_dir = "{tmp_path / name}-blobs"',
            "",
        ]
    path = tmp_path / "sites.toml"
    path.write_text("\n".join(lines))
    return path


async def test_two_sites_sync_together_and_one_failing_stops_neither(sim, tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=7)) as other:
        config = sites_toml(tmp_path, ("alpha", sim), ("beta-site", other), ("gamma", other))
        sites = load_sites(config, environ={})
        assert [s.settings.db for s in sites] == [
            tmp_path / "alpha.db",
            tmp_path / "beta-site.db",
            tmp_path / "gamma.db",
        ]
        environ = {
            "ATLASSIAN_TOKEN_ALPHA": sim.token,
            "ATLASSIAN_TOKEN_BETA_SITE": other.token,
            "ATLASSIAN_TOKEN_GAMMA": "not-a-token",  # refused by the site
            "ATLASSIAN_TOKEN": sim.token,  # the single-site variable reaches no site of the list
        }
        outcomes = await sync_sites(sites, environ)
        assert [o.name for o in outcomes] == ["alpha", "beta-site", "gamma"]
        assert [o.exit_code for o in outcomes] == [0, 0, 1]
        assert worst_exit(outcomes) == 1
        assert differences(expected(sim), stored(tmp_path / "alpha.db")) == {}
        assert differences(expected(other), stored(tmp_path / "beta-site.db")) == {}
        assert expected(sim) != expected(other), "two different sites, not one stored twice"
        gamma = outcomes[2]
        assert gamma.result.status == "failed" and gamma.result.errors
        for error in gamma.result.errors:  # the operator is told which variable to fix
            assert "ATLASSIAN_TOKEN_GAMMA" in error.message and "ATLASSIAN_TOKEN;" not in error.message
        assert "not-a-token" not in str(gamma.error) + str(gamma.result)


def test_sync_all_prints_a_line_per_site_and_exits_with_the_worst(threaded_sim, tmp_path, monkeypatch):
    config = sites_toml(tmp_path, ("alpha", threaded_sim), ("beta", threaded_sim))
    monkeypatch.setenv("ATLASSIAN_TOKEN_ALPHA", threaded_sim.token)
    monkeypatch.delenv("ATLASSIAN_TOKEN_BETA", raising=False)
    for name in ("ATLASSIAN_TOKEN", "ATLASSIAN_EMAIL", "ATLASSIAN_CLIENT_ID", "ATLASSIAN_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["sync", "--all", "--config", str(config), "--quiet"])
    lines = result.output.splitlines()
    assert any(line.startswith("site alpha: sync run #1: ok;") for line in lines), result.output
    assert "site beta: failed; no credentials for site beta: set ATLASSIAN_TOKEN_BETA" in result.output
    assert "1 of 2 site(s) synced completely; exit status 1" in result.output
    assert threaded_sim.token not in result.output
    assert result.exit_code == 1
    assert (tmp_path / "alpha.db").exists() and not (tmp_path / "beta.db").exists()
    logged = CliRunner().invoke(main, ["sync", "--all", "--config", str(config), "--quiet", "--log-format", "json"])
    results = [orjson.loads(line) for line in logged.output.splitlines() if line.startswith("{")]
    by_site = {r["site"]: r for r in results if r["event"] == "result"}
    assert by_site["alpha"]["status"] == "ok" and by_site["alpha"]["run"] == 2
    assert by_site["beta"]["status"] == "failed" and "ATLASSIAN_TOKEN_BETA" in by_site["beta"]["error"]
    assert logged.exit_code == 1


def test_worst_exit_ranks_interrupted_over_failed_over_partial():
    from pipeline.sites import SiteOutcome

    class Done:
        def __init__(self, code):
            self.exit_code = code

    outcome = lambda code: SiteOutcome("s", Done(code))  # noqa: E731
    assert worst_exit([outcome(0), outcome(2)]) == 2
    assert worst_exit([outcome(2), outcome(1), outcome(0)]) == 1
    assert worst_exit([outcome(1), outcome(143)]) == 143
    assert worst_exit([]) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('site = "acme"', "lists no [[sites]]"),
        ('[[sites]]\nname = "a b"\nsite = "acme"', "needs a name"),
        ('[[sites]]\nname = "a"', 'needs site = "acme.atlassian.net"'),
        ('[[sites]]\nname = "a"\nsite = "x"\ntoken = "secret"', "unknown key 'token'"),
        ('[[sites]]\nname = "a"\nsite = "x"\n[[sites]]\nname = "a"\nsite = "y"', "share one name"),
        (
            '[[sites]]\nname = "a"\nsite = "x"\ndb = "d.db"\n[[sites]]\nname = "b"\nsite = "y"\ndb = "d.db"',
            "share one db",
        ),
        (  # both names make ATLASSIAN_TOKEN_MY_SHOP: one site would quietly sync with the other's token
            '[[sites]]\nname = "my-shop"\nsite = "x"\ndb = "a.db"\n'
            '[[sites]]\nname = "my_shop"\nsite = "y"\ndb = "b.db"',
            "sites my-shop and my_shop .* both take ATLASSIAN_TOKEN_MY_SHOP",
        ),
        (
            '[[sites]]\nname = "a"\nsite = "x"\ntoken_env = "T"\n[[sites]]\nname = "b"\nsite = "y"\ntoken_env = "T"',
            "sites a and b .* both take T",
        ),
        (  # one site's email variable is another's token variable
            '[[sites]]\nname = "a"\nsite = "x"\nemail_env = "T"\n[[sites]]\nname = "b"\nsite = "y"\ntoken_env = "T"',
            "sites a and b .* both take T",
        ),
    ],
)
def test_a_bad_sites_config_is_named(tmp_path, text, message):
    path = tmp_path / "sites.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[[", r"\[\[").replace("]]", r"\]\]")):
        load_sites(path, environ={})


def test_a_single_site_sync_refuses_a_config_of_many(tmp_path):
    path = tmp_path / "sites.toml"
    path.write_text('[[sites]]\nname = "a"\nsite = "x"\n')
    result = CliRunner().invoke(main, ["sync", "--config", str(path)])
    assert result.exit_code == 1 and "sync --all" in result.output
    mixed = CliRunner().invoke(main, ["sync", "--all", "--config", str(path), "--db", "x.db"])
    assert mixed.exit_code == 1 and "--db cannot go with --all" in mixed.output


def test_sigterm_stops_every_site_cleanly(threaded_sim, tmp_path):
    """One signal listener for all the sites: every store records its run as interrupted, and no site is
    left killed in mid-write because another finished and dropped the handler."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys

    sim = threaded_sim
    config = sites_toml(tmp_path, ("alpha", sim), ("beta", sim))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLASSIAN_")}
    env |= {"ATLASSIAN_TOKEN_ALPHA": sim.token, "ATLASSIAN_TOKEN_BETA": sim.token}
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "sync", "--all", "--config", str(config), "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    start = sim.gateway_requests

    def stop(count: int) -> None:
        if count - start == 12:  # both sites are under way by then
            process.send_signal(signal.SIGTERM)

    sim.on_gateway_request = stop
    try:
        out, err = process.communicate(timeout=120)
    finally:
        sim.on_gateway_request = None
    assert b"Traceback" not in err, err.decode()
    assert process.returncode == 128 + signal.SIGTERM, out.decode() + err.decode()
    for name in ("alpha", "beta"):
        conn = sqlite3.connect(tmp_path / f"{name}.db")
        assert conn.execute("SELECT status FROM sync_runs").fetchall() == [("interrupted",)], name
        conn.close()
    assert out.decode().count("interrupted") >= 2


def test_the_example_config_reads_as_documented(tmp_path):
    from pathlib import Path as P

    example = P(__file__).resolve().parents[1] / "configs" / "sites.example.toml"
    acme, globex = load_sites(example, environ={})
    assert acme.settings.db == P("data/acme.db") and acme.settings.attachments_dir == P("data/acme-attachments")
    assert acme.credential_env["ATLASSIAN_TOKEN"] == "ATLASSIAN_TOKEN_ACME"
    assert globex.credential_env["ATLASSIAN_TOKEN"] == "GLOBEX_SANDBOX_TOKEN"
    assert globex.credential_env["ATLASSIAN_CLIENT_ID"] == "ATLASSIAN_CLIENT_ID_GLOBEX_SANDBOX"
    assert globex.settings.products == ("jira",) and acme.settings.products == ("confluence", "jira")
    assert acme.settings.concurrency == globex.settings.concurrency == 8
    env = {"GLOBEX_SANDBOX_TOKEN": "g", "ATLASSIAN_TOKEN_ACME": "a", "ATLASSIAN_TOKEN": "x", "HOME": "/h"}
    assert globex.environ(env, [acme, globex]) == {"ATLASSIAN_TOKEN": "g", "HOME": "/h"}, "no other site's token"
    assert acme.environ(env, [acme, globex]) == {"ATLASSIAN_TOKEN": "a", "HOME": "/h"}


def test_the_readmes_sites_example_loads(tmp_path):
    import re
    from pathlib import Path as P

    readme = (P(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"## Many sites.*?```toml\n(.*?)```", readme, re.S).group(1)
    path = tmp_path / "sites.toml"
    path.write_text(block)
    acme, globex = load_sites(path, environ={})
    assert (
        acme.settings.site == "acme.atlassian.net"
        and globex.credential_env["ATLASSIAN_TOKEN"] == "GLOBEX_SANDBOX_TOKEN"
    )
