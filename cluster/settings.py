"""Everything a run is configured with, checked before any work starts."""

from __future__ import annotations

import datetime
import difflib
import logging
from pathlib import Path

import msgspec

from engine.batch import Settings
from engine.counties import CALIFORNIA_COUNTIES
from engine.county_rules import DEFAULT_RULES, county_rules
from engine.naming import county_folder
from engine.policy import PolicyError, load_policy
from engine.rules import RulePolicy, load_rule_policy

logger = logging.getLogger(__name__)

DEFAULT_POLICY_STEM = "default"
#: Policy file suffixes: the JSON county form and the TOML rule language.
POLICY_SUFFIXES = (".json", ".toml")
#: Relief under Prop 64 exists from the day after the November 8, 2016 election.
PROP64_EFFECTIVE = datetime.date(2016, 11, 9)
MAX_DAYS_AHEAD = 366


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
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    tls: str | None = None
    """Folder of certificates made by `clearance certs`; None runs without TLS."""
    dashboard_host: str = "127.0.0.1"
    """Interface of the LocalCluster's dashboards and `/metrics` endpoints."""
    memory_limit: int | None = None
    """Bytes of memory per LocalCluster worker; None lets distributed share out the machine's."""
    debug: bool = False


class ConfigError(ValueError):
    """A run option or file that cannot be used; raised before any work starts."""


def load_any_policy(path: str | Path) -> RulePolicy:
    """Load a policy file: a JSON county policy (translated into rules) or a TOML rule policy."""
    path = Path(path)
    if path.suffix.lower() == ".toml":
        return load_rule_policy(path)
    if path.suffix.lower() == ".json":
        return county_rules(load_policy(path), f"county policy {path.name}")
    raise PolicyError(f"policy {path} is neither .json (the county form) nor .toml (the rule language)")


def load_policies(config: RunConfig) -> tuple[RulePolicy, dict[str, RulePolicy], dict[str, str]]:
    """Return the default policy, per-county policies by folder name, and their sources."""
    if config.policy and config.policy_dir:
        raise ConfigError("give either --policy or --policy-dir, not both")
    sources: dict[str, str] = {}
    if config.policy:
        sources["*"] = config.policy
        return load_any_policy(config.policy), {}, sources
    if not config.policy_dir:
        sources["*"] = "built-in default"
        return DEFAULT_RULES, {}, sources

    folder = Path(config.policy_dir)
    if not folder.is_dir():
        raise ConfigError(f"policy folder {folder} is not found or not a folder")
    default = DEFAULT_RULES
    sources["*"] = "built-in default"
    policies: dict[str, RulePolicy] = {}
    known = {county_folder(name) for name in CALIFORNIA_COUNTIES}
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in POLICY_SUFFIXES and p.is_file())
    if not paths:
        # Such as the folder above the policies (`policies/` over `policies/ca/`), which
        # would otherwise give every county the built-in default without a word.
        raise ConfigError(f"policy folder {folder} contains no .json or .toml policy files; give "
                          "the folder that contains them, or drop --policy-dir for the built-in default")
    if not any(p.stem == DEFAULT_POLICY_STEM for p in paths):
        logger.info("policy folder %s has no default.json or default.toml; counties without a "
                    "policy file get the built-in default", folder)
    stems: dict[str, Path] = {}
    for path in paths:
        if path.stem in stems:
            raise ConfigError(f"policy files {stems[path.stem]} and {path} are for the same county; "
                              "keep one of them")
        stems[path.stem] = path
    for path in paths:
        policy = load_any_policy(path)
        if path.stem == DEFAULT_POLICY_STEM:
            default = policy
            sources["*"] = str(path)
            continue
        if path.stem != county_folder(path.stem):
            raise ConfigError(f"policy file {path} is not named after a county folder; "
                              f"expected a name like san-joaquin.json or san-joaquin.toml")
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
        known = {county_folder(name) for name in CALIFORNIA_COUNTIES}
        for name in config.counties:
            if county_folder(name) not in known:
                close = difflib.get_close_matches(name.strip().upper(), CALIFORNIA_COUNTIES, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"--county {name!r} is not one of the 58 California counties{hint}")
    all_results = counties is not None and len(counties) == 1
    compute_at = config.compute_at or today
    if compute_at < PROP64_EFFECTIVE:
        raise ConfigError(f"--compute-at {compute_at.isoformat()} is before Prop 64 took effect "
                          f"({PROP64_EFFECTIVE.isoformat()}); give a later date")
    if compute_at > today + datetime.timedelta(days=MAX_DAYS_AHEAD):
        logger.warning("compute-at %s is more than a year after today; eligibility is judged "
                       "as of that day", compute_at.isoformat())
    return Settings(compute_at, default, policies, counties, all_results), sources
