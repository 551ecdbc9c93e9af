"""Tokens go only to the gateway origin and never appear in output, logs, exceptions or the database."""

from __future__ import annotations

import logging
from pathlib import Path

from helpers import run_sync

from pipeline.scopes import ALL_READ_SCOPES
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator

TOKEN = "ATSTT3xAmPlE-secret-token-0123456789"


def files_mention(root: Path, secret: str) -> list[str]:
    needle = secret.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def test_a_token_never_leaks_even_when_things_go_wrong(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    config = SimConfig(scale="tiny", faults=0.05, seed=9)
    async with Simulator(config, token=TOKEN) as sim:
        sim.tokens.tokens[TOKEN].scopes = ALL_READ_SCOPES - {"read:attachment:confluence"}
        result = await run_sync(sim, tmp_path, environ={"ATLASSIAN_TOKEN": TOKEN})
        entries = list(sim.log.entries)
    assert result.errors, "the run met a missing scope"
    shown = " ".join(e.message for e in result.errors) + repr(result)
    assert TOKEN not in shown and TOKEN not in caplog.text
    assert files_mention(tmp_path, TOKEN) == [], "not in the database, its WAL, or any file"
    authorized_hosts = {e.host for e in entries if e.authorized}
    assert authorized_hosts == {"gateway"}


async def test_oauth_secrets_and_access_tokens_never_leak(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    async with Simulator(SimConfig(scale="tiny", token_lifetime_s=0.3, faults=0.05)) as sim:
        sim.tokens.add_client("client-7", "client-secret-value-42")
        environ = {"ATLASSIAN_CLIENT_ID": "client-7", "ATLASSIAN_CLIENT_SECRET": "client-secret-value-42"}
        result = await run_sync(sim, tmp_path, environ=environ)
        access_tokens = [t for t, p in sim.tokens.tokens.items() if p.kind == "oauth"]
        entries = list(sim.log.entries)
    assert access_tokens
    for secret in ["client-secret-value-42", *access_tokens]:
        assert secret not in caplog.text and secret not in repr(result)
        assert files_mention(tmp_path, secret) == []
    assert {e.host for e in entries if e.authorized} == {"gateway"}
