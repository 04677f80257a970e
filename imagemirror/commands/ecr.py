"""``imagemirror ecr plan|apply|destroy|doctor|rules``: plain functions returning exit codes.

Results go to stdout, progress to stderr.  Exit codes (imagemirror/errors.py): 0 ok / no
drift, 1 doctor found problems, 2 settings or usage error, 4 AWS error.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import click

from ..errors import ConfigError, Exit, ServiceError

Ask = Callable[[str, bool], str]
_QUIET_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


def _setup_logging(debug: bool) -> None:
    # botocore's DEBUG logs carry request bodies (a SecretString among them): never let them
    # through, whatever the root logger's level is.
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logger = logging.getLogger("imagemirror")
    if debug:
        if not any(getattr(h, "_imagemirror", False) for h in logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("imagemirror: debug: %(message)s"))
            handler._imagemirror = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)


@dataclass
class _Context:
    settings: Any
    ecr: Any
    client: Any
    account: str
    region: str


def _context(config: Path | None, endpoint_url: str | None, region: str | None, debug: bool) -> _Context:
    from ..config import resolve_settings
    from ..ecr import settings as ecr_settings
    from ..ecr.client import AwsClient

    _setup_logging(debug)
    settings = resolve_settings(Path.cwd(), config)
    ecr = ecr_settings.parse(settings)
    client = AwsClient(region=region or ecr.region, endpoint_url=endpoint_url)
    if not client.region:
        raise ConfigError("no AWS Region: set ecr.region in .imagemirror.yaml, pass --region, or set AWS_REGION")
    actual = client.account_id()
    if ecr.account and ecr.account != actual:
        raise ServiceError(f"the AWS credentials are for account {actual}, but ecr.account is {ecr.account}")
    return _Context(settings, ecr, client, actual, client.region)


def _state(ctx: _Context, *, cached: bool = False):
    from ..ecr.plan import desired_state
    from ..ecr.state import observe

    desired = desired_state(ctx.ecr, ctx.account, ctx.region)
    return desired, observe(ctx.client, ctx.ecr, desired, cached=cached)


def _print_plan(changes, ctx: _Context, fmt: str, notes=(), verb: str = "Plan") -> None:
    from ..ecr.plan import format_json, format_text

    if fmt == "json":
        click.echo(format_json(changes, ctx.account, ctx.region, notes), nl=False)
    else:
        click.echo(format_text(changes, ctx.account, ctx.region, notes, verb), nl=False)


def plan(
    *,
    config: Path | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    fmt: str = "text",
    rotate_credentials: bool = False,
    debug: bool = False,
) -> int:
    """Print what ``apply`` would change.  Describe calls only."""
    from ..ecr.plan import plan as make_plan

    ctx = _context(config, endpoint_url, region, debug)
    desired, observed = _state(ctx)
    _print_plan(make_plan(desired, observed, rotate_credentials=rotate_credentials), ctx, fmt)
    return Exit.OK


def apply(
    *,
    config: Path | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    fmt: str = "text",
    dry_run: bool = False,
    rotate_credentials: bool = False,
    credentials_stdin: bool = False,
    stdin: Any = None,
    ask: Ask | None = None,
    debug: bool = False,
) -> int:
    """Make the account match ``.imagemirror.yaml``; a second run changes nothing."""
    if dry_run:
        return plan(config=config, endpoint_url=endpoint_url, region=region, fmt=fmt, rotate_credentials=rotate_credentials, debug=debug)
    from ..ecr.apply import execute, gather_credentials
    from ..ecr.plan import plan as make_plan

    ctx = _context(config, endpoint_url, region, debug)
    desired, observed = _state(ctx)
    changes = make_plan(desired, observed, rotate_credentials=rotate_credentials)
    stdin_text = (stdin or sys.stdin).read() if credentials_stdin else None
    credentials = gather_credentials(changes, ctx.ecr, stdin_text=stdin_text, ask=None if credentials_stdin else ask)
    done = execute(ctx.client, changes, observed, credentials, progress=lambda line: click.echo(f"imagemirror: {line}", err=True))
    _print_plan(done, ctx, fmt, verb="Applied")
    return Exit.OK


def destroy(
    *,
    config: Path | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    fmt: str = "text",
    dry_run: bool = False,
    purge_cache: bool = False,
    yes: bool = False,
    confirm: Callable[[str], bool] | None = None,
    debug: bool = False,
) -> int:
    """Remove what imagemirror manages; cached images stay unless ``purge_cache``."""
    from ..ecr.apply import execute
    from ..ecr.plan import destroy_plan

    ctx = _context(config, endpoint_url, region, debug)
    desired, observed = _state(ctx, cached=True)
    changes, notes = destroy_plan(desired, observed, purge_cache=purge_cache)
    if dry_run or not changes:
        _print_plan(changes, ctx, fmt, notes, verb="Destroy plan")
        return Exit.OK
    if not yes:
        if confirm is None:
            raise ConfigError("destroy deletes resources: pass --yes, or run in a terminal to confirm")
        _print_plan(changes, ctx, "text", notes, verb="Destroy plan")
        if not confirm(f"Delete these {len(changes)} resources in account {ctx.account}?"):
            click.echo("imagemirror: nothing deleted", err=True)
            return Exit.OK
    done = execute(ctx.client, changes, observed, {}, progress=lambda line: click.echo(f"imagemirror: {line}", err=True))
    _print_plan(done, ctx, fmt, notes, verb="Destroyed")
    return Exit.OK


def doctor(
    *,
    config: Path | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    fmt: str = "text",
    debug: bool = False,
) -> int:
    """Validate rules, report drift, the rule quota and node roles' first-pull permissions."""
    import json

    from ..ecr.doctor import Finding, node_role_findings, validation_finding
    from ..ecr.plan import SYMBOLS, is_tagged, plan as make_plan, quota_problem
    from ..ecr.settings import RULE_QUOTA

    ctx = _context(config, endpoint_url, region, debug)
    desired, observed = _state(ctx)
    findings: list[Finding] = []
    for up in desired.rules:
        rule = observed.rules.get(up.prefix)
        if rule is None:
            continue  # reported as drift below
        if rule.get("credentialArn"):
            findings.append(validation_finding(up.prefix, ctx.client.validate_rule(up.prefix)))
        else:  # ValidatePullThroughCacheRule is documented for authenticated upstreams only
            findings.append(Finding(True, "validate", f"rule {up.prefix}: {rule.get('upstreamRegistryUrl')} is pulled anonymously; no credentials to validate"))
    changes = make_plan(desired, observed)
    for c in changes:
        findings.append(Finding(False, "drift", f"{SYMBOLS[c.action]} {c.action} {c.kind} {c.name} ({c.reason})"))
    if not changes:
        findings.append(Finding(True, "drift", "the account matches .imagemirror.yaml"))
    cache_host = f"{ctx.account}.dkr.ecr.{ctx.region}.amazonaws.com"
    if ctx.settings.registry is None:
        findings.append(Finding(False, "registry", f"no registry: in .imagemirror.yaml; the cache is {cache_host}"))
    elif ctx.settings.registry != cache_host:
        findings.append(Finding(False, "registry", f"{ctx.settings.registry} in .imagemirror.yaml, but the cache these rules fill is {cache_host}"))
    else:
        findings.append(Finding(True, "registry", f"{cache_host} is this account's cache"))
    if desired.ci_policy and observed.ci_policy and not is_tagged(observed.ci_policy.get("Tags")):
        findings.append(Finding(False, "iam-policy", f"{observed.ci_policy['Arn']} exists but is not tagged managed-by=imagemirror, so apply leaves it alone; rename ecr.ci_policy or tag it"))
    problem = quota_problem(desired, observed, changes)
    findings.append(Finding(problem is None, "quota", problem or f"{len(observed.rules)} of {RULE_QUOTA} pull-through cache rules in use"))
    roles: dict[str, list[dict] | None] = {}
    for arn in ctx.ecr.node_roles:
        if arn.split(":")[4] != ctx.account:
            findings.append(Finding(False, "node-role", f"{arn}: in another account; first pulls through the cache "
                                    "need a role in the registry's account"))
            continue
        name = arn.rsplit("/", 1)[-1]
        roles[arn] = ctx.client.role_policies(name) if ctx.client.role_exists(name) else None
    findings.extend(node_role_findings(desired, observed, roles))
    if not ctx.ecr.node_roles:
        findings.append(Finding(True, "node-role", "no ecr.node_roles configured; nodes need ecr:BatchImportUpstreamImage and ecr:CreateRepository from elsewhere"))
    if fmt == "json":
        click.echo(json.dumps({"account": ctx.account, "region": ctx.region, "findings": [f.to_json() for f in findings]}, indent=2))
    else:
        for f in findings:
            click.echo(f"{'ok' if f.ok else 'PROBLEM'}: {f.check}: {f.message}")
        bad = sum(1 for f in findings if not f.ok)
        click.echo(f"{bad} problem(s) found." if bad else "No problems found.")
    return Exit.FINDINGS if any(not f.ok for f in findings) else Exit.OK


def rules(
    *,
    config: Path | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    debug: bool = False,
) -> int:
    """Print the account's actual pull-through cache rules as a ``rules:`` block."""
    from ..ecr.client import AwsClient
    from ..ecr.settings import host_for_url

    _setup_logging(debug)
    reg = region
    if reg is None:  # only the Region is needed: rules: itself may not match the account
        from ..config import resolve_settings

        raw = resolve_settings(Path.cwd(), config).ecr or {}
        reg = raw.get("region") if isinstance(raw.get("region"), str) else None
    client = AwsClient(region=reg, endpoint_url=endpoint_url)
    if not client.region:
        raise ConfigError("no AWS Region: set ecr.region in .imagemirror.yaml, pass --region, or set AWS_REGION")
    found = client.rules()
    click.echo(f"# pull-through cache rules of account {client.account_id()} in {client.region}")
    if not found:
        click.echo("rules: {}")
        return Exit.OK
    click.echo("rules:")
    seen: set[str] = set()
    for prefix, rule in sorted(found.items(), key=lambda kv: (host_for_url(kv[1]["upstreamRegistryUrl"]), kv[0])):
        host = host_for_url(rule["upstreamRegistryUrl"])
        if host in seen:  # rules: holds one prefix per upstream host
            click.echo(f"  # {host}: {prefix}  (another rule for the same upstream)")
        else:
            click.echo(f"  {host}: {prefix}")
        seen.add(host)
    return Exit.OK
