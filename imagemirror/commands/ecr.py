"""``imagemirror ecr plan|apply|destroy|doctor|rules|usage``: plain functions returning exit codes.

No click here: results go to stdout, progress and reports to stderr, both through
:mod:`imagemirror.output`; a prompt (``ask``, ``confirm``) is passed in by ``cli.py``.  boto3
is imported by :mod:`imagemirror.ecr.client` only when a client is made.  Exit codes
(imagemirror/errors.py): 0 ok / no drift, 1 doctor found problems or a plan would fail, 2
settings or usage error, 4 AWS error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import output
from ..config import resolve_settings
from ..ecr import settings as ecr_settings
from ..ecr import usage as usage_mod
from ..ecr.apply import ApplyStopped, execute, gather_credentials
from ..ecr.client import AwsClient
from ..ecr.doctor import findings as doctor_findings
from ..ecr.doctor import format_text as doctor_text
from ..ecr.plan import desired_state, destroy_plan, format_json, format_text, preflight
from ..ecr.plan import plan as make_plan
from ..ecr.regions import partition_of, refusal, registry_host, storage_price
from ..ecr.settings import ECR_HOST, host_for_url
from ..ecr.state import observe
from ..errors import ConfigError, Exit, ServiceError
from ..inventory import scan
from .common import report_errors

Ask = Callable[[str, bool], str]
_QUIET_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


def _out(text: str) -> None:  # the texts below end their own lines
    output.out(text, end="")


class _OutputHandler(logging.Handler):
    """``--debug`` lines on stderr, through :mod:`imagemirror.output`."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            output.err(self.format(record))
        except Exception:  # noqa: BLE001 -- logging must never break the command
            self.handleError(record)


def _setup_logging(debug: bool) -> None:
    # botocore's DEBUG logs carry request bodies (a SecretString among them): never let them
    # through, whatever the root logger's level is.
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logger = logging.getLogger("imagemirror")
    ours = [h for h in logger.handlers if isinstance(h, _OutputHandler)]
    if debug:
        if not ours:
            handler = _OutputHandler()
            handler.setFormatter(logging.Formatter("imagemirror: debug: %(message)s"))
            logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    elif ours:  # a previous command in this process had --debug; this one has not
        for handler in ours:
            logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


@dataclass
class _Context:
    settings: Any
    ecr: Any
    client: Any
    account: str
    region: str
    partition: str


def connect(region: str | None, endpoint_url: str | None, settings_region: str | None = None):
    """An :class:`AwsClient` for a Region that offers the pull-through cache.

    The Region (``--region``, else ``ecr.region``, else the AWS config) is checked before any
    call is made; then STS gives the account and the ARN partition, which must agree.
    """
    client = AwsClient(
        region=region or settings_region or os.environ.get("AWS_REGION") or None, endpoint_url=endpoint_url
    )
    if not client.region:
        raise ConfigError("no AWS Region: set ecr.region in .imagemirror.yaml, pass --region, or set AWS_REGION")
    reason = refusal(client.region)
    if reason:
        raise ConfigError(f"Region {reason}")
    account, partition = client.identity()
    if partition != partition_of(client.region):
        raise ServiceError(
            f"the AWS credentials are for partition {partition}, but Region {client.region} is in {partition_of(client.region)}"
        )
    return client, account, partition


def _context(config: Path | None, endpoint_url: str | None, region: str | None, debug: bool) -> _Context:
    _setup_logging(debug)
    settings = resolve_settings(Path.cwd(), config)
    ecr = ecr_settings.parse(settings)
    client, actual, partition = connect(region, endpoint_url, ecr.region)
    if ecr.account and ecr.account != actual:
        raise ServiceError(f"the AWS credentials are for account {actual}, but ecr.account is {ecr.account}")
    return _Context(settings, ecr, client, actual, client.region, partition)


def _state(ctx: _Context, *, cached: bool = False, global_users: bool = False):
    desired = desired_state(ctx.ecr, ctx.account, ctx.region, ctx.partition)
    return desired, observe(ctx.client, ctx.ecr, desired, cached=cached, global_users=global_users)


def _plan_text(changes, ctx: _Context, fmt: str, notes=(), verb: str = "Plan", problems=()) -> str:
    if fmt == "json":
        doc = json.loads(format_json(changes, ctx.account, ctx.region, notes))
        doc["problems"] = list(problems)
        return json.dumps(doc, indent=2) + "\n"
    return format_text(changes, ctx.account, ctx.region, notes, verb)


def _refuse(problems: list[str], what: str) -> int:
    for problem in problems:
        output.err(f"imagemirror: {what}: {problem}")
    output.err(f"imagemirror: {what}: nothing was written; fix the above and plan again")
    return Exit.FINDINGS


def plan(
    *,
    config: Path | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    fmt: str = "text",
    rotate_credentials: bool = False,
    debug: bool = False,
) -> int:
    """Print what ``apply`` would change.  Describe calls only; exit 1 when it would fail."""
    ctx = _context(config, endpoint_url, region, debug)
    desired, observed = _state(ctx)
    changes = make_plan(desired, observed, rotate_credentials=rotate_credentials)
    problems = preflight(desired, observed, changes)
    _out(_plan_text(changes, ctx, fmt, problems=problems))
    if problems:
        return _refuse(problems, "plan cannot be applied")
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
    """Make the account match ``.imagemirror.yaml``; a second run changes nothing.

    Checks :func:`plan.preflight` before the first write; a failure midway names what was and
    was not done (re-running does what is left).
    """
    if dry_run:
        return plan(
            config=config,
            endpoint_url=endpoint_url,
            region=region,
            fmt=fmt,
            rotate_credentials=rotate_credentials,
            debug=debug,
        )
    ctx = _context(config, endpoint_url, region, debug)
    desired, observed = _state(ctx)
    changes = make_plan(desired, observed, rotate_credentials=rotate_credentials)
    problems = preflight(desired, observed, changes)
    if problems:
        return _refuse(problems, "apply refused")
    stdin_text = (stdin or sys.stdin).read() if credentials_stdin else None
    credentials = gather_credentials(changes, ctx.ecr, stdin_text=stdin_text, ask=None if credentials_stdin else ask)
    try:
        done = execute(
            ctx.client, changes, observed, credentials, progress=lambda line: output.err(f"imagemirror: {line}")
        )
    except ApplyStopped as stopped:
        _out(_plan_text(stopped.done, ctx, fmt, verb="Applied"))
        for line in stopped.report():
            output.err(line)
        return stopped.exit_code
    _out(_plan_text(done, ctx, fmt, verb="Applied"))
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
    """Remove what imagemirror manages; cached images stay unless ``purge_cache``.

    The CI policy (IAM, global) is deleted only when no other Region its tag lists still has
    imagemirror's repositories; otherwise this Region just leaves the tag.
    """
    ctx = _context(config, endpoint_url, region, debug)
    desired, observed = _state(ctx, cached=True, global_users=True)
    changes, notes = destroy_plan(desired, observed, purge_cache=purge_cache)
    if dry_run or not changes:
        _out(_plan_text(changes, ctx, fmt, notes, verb="Destroy plan"))
        return Exit.OK
    if not yes:
        if confirm is None:
            raise ConfigError("destroy deletes resources: pass --yes, or run in a terminal to confirm")
        _out(_plan_text(changes, ctx, "text", notes, verb="Destroy plan"))
        if not confirm(f"Delete these {len(changes)} resources in account {ctx.account}?"):
            output.err("imagemirror: nothing deleted")
            return Exit.OK
    try:
        done = execute(ctx.client, changes, observed, {}, progress=lambda line: output.err(f"imagemirror: {line}"))
    except ApplyStopped as stopped:
        _out(_plan_text(stopped.done, ctx, fmt, notes, verb="Destroyed"))
        for line in stopped.report():
            output.err(line.replace("ecr apply", "ecr destroy").replace("apply stopped", "destroy stopped"))
        return stopped.exit_code
    _out(_plan_text(done, ctx, fmt, notes, verb="Destroyed"))
    return Exit.OK


def doctor(
    *,
    config: Path | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    fmt: str = "text",
    debug: bool = False,
) -> int:
    """Validate rules, report drift, preflight problems, the quota, node roles and ECR upstreams."""
    ctx = _context(config, endpoint_url, region, debug)
    desired, observed = _state(ctx)
    found = doctor_findings(ctx.client, ctx.settings, ctx.ecr, desired, observed)
    if fmt == "json":
        _out(
            json.dumps(
                {"account": ctx.account, "region": ctx.region, "findings": [f.to_json() for f in found]}, indent=2
            )
            + "\n"
        )
    else:
        _out(doctor_text(found))
    return Exit.FINDINGS if any(not f.ok for f in found) else Exit.OK


def rules_block(found: dict[str, dict], account: str, region: str) -> str:
    """The account's rules as a ``rules:`` block (pure).  An ECR upstream's
    ``upstreamRepositoryPrefix`` is the key's path (``<host>/<upstream prefix>: <prefix>``);
    rules imagemirror cannot express in ``rules:`` (ROOT, an upstream prefix on another
    upstream, a second rule for one key) are comments saying why."""
    lines = [f"# pull-through cache rules of account {account} in {region}"]
    if not found:
        return "\n".join([*lines, "rules: {}"]) + "\n"
    lines.append("rules:")
    seen: set[str] = set()
    for prefix, rule in sorted(found.items(), key=lambda kv: (host_for_url(kv[1]["upstreamRegistryUrl"]), kv[0])):
        host = host_for_url(rule["upstreamRegistryUrl"])
        upstream_prefix = rule.get("upstreamRepositoryPrefix") or "ROOT"
        key = host if upstream_prefix == "ROOT" else f"{host}/{upstream_prefix.rstrip('/')}"
        if prefix == "ROOT":
            lines.append(f"  # {host}: ROOT  (no prefix: rewrite needs a prefix to tell cached paths apart)")
        elif upstream_prefix != "ROOT" and not ECR_HOST.match(host):
            lines.append(
                f"  # {key}: {prefix}  (upstreamRepositoryPrefix {upstream_prefix}: imagemirror maps upstream "
                f"prefixes of ECR upstreams only, as AWS documents them)"
            )
        elif key in seen:  # rules: holds one prefix per upstream (host, or host/upstream prefix)
            lines.append(f"  # {key}: {prefix}  (another rule for the same upstream)")
        else:
            role = f"  # customRoleArn {rule['customRoleArn']}" if rule.get("customRoleArn") else ""
            lines.append(f"  {key}: {prefix}{role}")
            seen.add(key)
    return "\n".join(lines) + "\n"


def rules(
    *,
    config: Path | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    debug: bool = False,
) -> int:
    """Print the account's actual pull-through cache rules as a ``rules:`` block."""
    _setup_logging(debug)
    reg = region
    if reg is None:  # only the Region is needed: rules: itself may not match the account
        raw = resolve_settings(Path.cwd(), config).ecr or {}
        reg = raw.get("region") if isinstance(raw.get("region"), str) else None
    client, account, _ = connect(reg, endpoint_url)
    _out(rules_block(client.rules(), account, client.region))
    return Exit.OK


def usage(
    paths: tuple[Path, ...] = (),
    *,
    config: Path | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    fmt: str = "text",
    debug: bool = False,
) -> int:
    """What the cache holds and costs; with PATHs, joined with their image references."""
    _setup_logging(debug)
    first = Path(paths[0]) if paths else Path.cwd()
    settings = resolve_settings(first, config)
    raw = settings.ecr if isinstance(settings.ecr, dict) else {}
    try:
        ecr = ecr_settings.parse(settings)
        price, settings_region = ecr.storage_price, ecr.region
    except ConfigError:
        if paths:
            raise
        # Without PATHs the rules: need not match ECR's upstreams; read just the two keys.
        price = raw.get("storage_price") if isinstance(raw.get("storage_price"), (int, float)) else None
        settings_region = raw.get("region") if isinstance(raw.get("region"), str) else None
    client, account, _ = connect(region, endpoint_url, settings_region)
    if price is None:
        price = storage_price(client.region)
    host = registry_host(account, client.region)
    found = client.rules()
    repos = usage_mod.collect(client, sorted(found))
    refs = None
    if paths:
        results = scan(list(paths), settings).results
        report_errors(results)
        if settings.registry is not None and settings.registry != host:
            output.note(f"registry {settings.registry} in .imagemirror.yaml is not this account's cache {host}")
        refs = usage_mod.referenced(results, settings.registry or host, settings)
    report = usage_mod.build(repos, sorted(found), price, refs)
    formatter = {"json": usage_mod.format_json, "csv": usage_mod.format_csv}.get(fmt, usage_mod.format_text)
    _out(formatter(report, account=account, region=client.region, host=host))
    return Exit.OK
