"""Everything a run is configured with, checked before any work starts."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

import msgspec

from engine.batch import Settings
from engine.counties import CALIFORNIA_COUNTIES
from engine.naming import county_folder
from engine.policy import DEFAULT_POLICY, CountyPolicy, PolicyError, load_policy

logger = logging.getLogger(__name__)

DEFAULT_POLICY_FILE = "default.json"


class RunConfig(msgspec.Struct):
    """The options of one `clearance run`."""

    inputs: list[str]
    out: str
    counties: list[str] | None = None
    policy: str | None = None
    policy_dir: str | None = None
    compute_at: datetime.date | None = None
    scheduler: str | None = None
    workers: int | None = None
    shard_size: int = 64 * 1024 * 1024
    overwrite: bool = False
    progress: bool = True
    tls: str | None = None
    """Folder of certificates made by `clearance certs`; None runs without TLS."""
    dashboard_host: str = "127.0.0.1"
    """Interface of the LocalCluster's dashboards and `/metrics` endpoints."""
    memory_limit: int | None = None
    """Bytes of memory per LocalCluster worker; None lets distributed share out the machine's."""
    debug: bool = False


class ConfigError(ValueError):
    """A run option or file that cannot be used; raised before any work starts."""


def load_policies(config: RunConfig) -> tuple[CountyPolicy, dict[str, CountyPolicy], dict[str, str]]:
    """Return the default policy, per-county policies by folder name, and their sources."""
    if config.policy and config.policy_dir:
        raise ConfigError("give either --policy or --policy-dir, not both")
    sources: dict[str, str] = {}
    if config.policy:
        sources["*"] = config.policy
        return load_policy(config.policy), {}, sources
    if not config.policy_dir:
        sources["*"] = "built-in default"
        return DEFAULT_POLICY, {}, sources

    folder = Path(config.policy_dir)
    if not folder.is_dir():
        raise ConfigError(f"policy folder {folder} is not found or not a folder")
    default = DEFAULT_POLICY
    sources["*"] = "built-in default"
    policies: dict[str, CountyPolicy] = {}
    known = {county_folder(name) for name in CALIFORNIA_COUNTIES}
    for path in sorted(folder.glob("*.json")):
        policy = load_policy(path)
        if path.name == DEFAULT_POLICY_FILE:
            default = policy
            sources["*"] = str(path)
            continue
        if path.stem != county_folder(path.stem):
            raise ConfigError(f"policy file {path} is not named after a county folder; "
                              f"expected a name like san-joaquin.json")
        if path.stem not in known:
            logger.warning("policy file %s names no California county; it applies only if "
                           "the input has a county with that folder name", path)
        policies[path.stem] = policy
        sources[path.stem] = str(path)
    return default, policies, sources


def build_settings(config: RunConfig, today: datetime.date) -> tuple[Settings, dict[str, str]]:
    """Check the options and return the engine settings and the policy sources."""
    try:
        default, policies, sources = load_policies(config)
    except PolicyError as error:
        raise ConfigError(str(error)) from None
    counties = None
    if config.counties:
        counties = frozenset(county_folder(name) for name in config.counties)
    all_results = counties is not None and len(counties) == 1
    compute_at = config.compute_at or today
    return Settings(compute_at, default, policies, counties, all_results), sources
