"""Helpers shared by tests and benchmarks: settings and a real sync against a simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.config import Settings, load_settings
from pipeline.progress import Progress
from pipeline.runner import SyncResult, sync
from pipeline.simulator.server import Simulator


def settings_for(sim: Simulator, tmp_path: Path, **overrides: Any) -> Settings:
    flags = {
        "site": sim.site_url,
        "gateway": sim.gateway_url,
        "auth_url": sim.auth_url,
        "db": tmp_path / "atlassian.db",
        "attachments_dir": tmp_path / "blobs",
        **overrides,
    }
    return load_settings(flags, environ={}, default_config=False)


async def run_sync(
    sim: Simulator, tmp_path: Path, environ: dict[str, str] | None = None, **overrides: Any
) -> SyncResult:
    environ = {"ATLASSIAN_TOKEN": sim.token} if environ is None else environ
    return await sync(settings_for(sim, tmp_path, **overrides), environ, Progress("quiet"))


def gateway_path(sim: Simulator, product: str, path: str) -> str:
    return f"{sim.gateway_url}/ex/{product}/{sim.cloud_id}{path}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
