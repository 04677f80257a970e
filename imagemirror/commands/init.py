"""``imagemirror init [PATH]``: write a commented ``.imagemirror.yaml`` from the account.

* STS gives the account, the Region (``--region``, else the AWS config) gives the registry host.
* ``rules:`` are the account's existing pull-through cache rules; with none, the defaults for
  the upstream hosts the repository's values files actually use (all defaults when none found).
* Argo CD / Flux / helmfile releases found under PATH are listed as comments.
* Never overwrites an existing file without ``force``; prints what to run next.

:func:`render` is pure (data in, file text out); :func:`init` is the I/O edge.
"""

from __future__ import annotations

import os
from pathlib import Path

from ruamel.yaml import YAML

from .. import output
from ..charts.discover import index
from ..config import Settings, parse_settings
from ..ecr import settings as ecr_settings
from ..ecr.regions import registry_host
from ..ecr.settings import ECR_HOST, env_slug, host_for_url, upstream_for
from ..errors import ConfigError, Exit
from ..inventory import scan
from ..reference import InvalidReference, parse
from ..rules import DEFAULT_RULES
from .ecr import _setup_logging, connect

FILENAME = ".imagemirror.yaml"


def render(
    *,
    account: str,
    region: str,
    host: str,
    rules: dict[str, str],
    rule_comments: list[str],
    source: str,
    used: dict[str, int],
    secret_hosts: list[str],
    ecr_hosts: dict[str, str | None],
    releases: list[tuple[str, str, str, str]],
) -> str:
    """The settings file's text.  ``releases``: (kind, name, chart, origin)."""

    out = [
        f"# imagemirror settings, written by `imagemirror init` from AWS account {account} in {region}.",
        '# Reference: README.md (sections "Settings" and "ECR provisioning").',
        "",
        "# The ECR registry that holds the pull-through cache (account + Region).",
        f"registry: {host}",
        "",
        f"# Upstream registry host -> ECR pull-through cache prefix ({source}).",
        "rules:",
    ]
    for upstream, prefix in rules.items():
        note = f"  # {used[upstream]} reference(s) in this repository" if used.get(upstream) else ""
        out.append(f"  {upstream}: {prefix}{note}")
    out += [f"  {c}" for c in rule_comments]
    out += [
        "",
        "ecr:",
        f"  region: {region}",
        f'  account: "{account}"',
        "  # node_roles: [arn:aws:iam::" + account + ":role/<eks-node-role>]   # may fill the cache on first pull",
        "  # lifecycle: {untagged_days: 14, keep_last: 50}",
        "  # repositories: [custom-apps]        # private repositories for your own images",
        "  # ci_policy: imagemirror-ci-push     # one IAM policy for CI pushes, shared by every Region",
        "  # storage_price: 0.10                # USD per GB-month for `ecr usage`",
    ]
    cred_lines = []
    for h in secret_hosts:
        slug = env_slug(h)
        cred_lines.append(
            f"  #   {h}: {{username_env: IMAGEMIRROR_{slug}_USERNAME, token_env: IMAGEMIRROR_{slug}_TOKEN}}"
        )
    for h, role in ecr_hosts.items():
        if role:
            cred_lines.append(f"    {h}: {{role: {role}}}")
        else:
            cred_lines.append(
                f"  #   {h}: {{role: arn:aws:iam::{account}:role/<pull-through-cache-role>}}   # needed across accounts"
            )
    if cred_lines:
        uncommented = any(not line.lstrip().startswith("#") for line in cred_lines)
        out.append(
            "  credentials:"
            if uncommented
            else "  # credentials:   # defaults shown: the variables are read by `ecr apply`"
        )
        out += cred_lines
    out.append("")
    if releases:
        out.append(f"# Releases found in this repository ({len(releases)}); `--effective` covers their chart defaults:")
        for kind, name, chart, origin in releases:
            out.append(f"#   {kind:<9} {name:<28} {chart}  ({origin})")
    else:
        out.append("# No Argo CD, Flux or helmfile releases were found under this folder.")
    return "\n".join(out) + "\n"


def init(
    path: Path | None = None,
    *,
    force: bool = False,
    endpoint_url: str | None = None,
    region: str | None = None,
    debug: bool = False,
) -> int:
    _setup_logging(debug)
    root = Path(path) if path is not None else Path.cwd()
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder")
    target = root / FILENAME
    if target.exists() and not force:
        raise ConfigError(f"{target} exists; pass --force to overwrite it")
    client, account, _ = connect(region, endpoint_url)
    host = registry_host(account, client.region)

    found = client.rules()
    rules: dict[str, str] = {}
    comments: list[str] = []
    ecr_hosts: dict[str, str | None] = {}
    for prefix, rule in sorted(found.items()):
        upstream = host_for_url(rule["upstreamRegistryUrl"])
        scope = (rule.get("upstreamRepositoryPrefix") or "ROOT").rstrip("/")
        key = upstream if scope == "ROOT" else f"{upstream}/{scope}"  # an ECR upstream's prefix: the key's path
        if prefix == "ROOT" or (scope != "ROOT" and not ECR_HOST.match(upstream)) or key in rules:
            comments.append(
                f"# {key}: {prefix}   (an existing rule that rules: cannot express; see `imagemirror ecr rules`)"
            )
            continue
        rules[key] = prefix
        if ECR_HOST.match(upstream):
            ecr_hosts[upstream] = rule.get("customRoleArn")
    used = _hosts_used(root)
    if rules:
        source = f"the {len(rules)} rule(s) already in the account"
    else:
        wanted = {h: p for h, p in DEFAULT_RULES.items() if h in used} or dict(DEFAULT_RULES)
        rules = wanted
        source = "none in the account yet: the defaults for the hosts this repository uses; `imagemirror ecr apply` creates them"
    unsupported = sorted(h for h in used if h not in rules and upstream_for(h) is None and h != host)
    for h in unsupported:
        comments.append(f"# {h}: ({used[h]} reference(s)) cannot be an ECR pull-through cache upstream")
    secret_hosts = [h for h in rules if (upstream_for(h) or ("", "", False))[2]]
    releases = _releases(root)
    text = render(
        account=account,
        region=client.region,
        host=host,
        rules=rules,
        rule_comments=comments,
        source=source,
        used=used,
        secret_hosts=secret_hosts,
        ecr_hosts=ecr_hosts,
        releases=releases,
    )
    _check(text, target)
    tmp = target.with_name(f".{FILENAME}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    output.err(f"imagemirror: wrote {target}")
    shown = str(root) if path is not None else "."
    steps = [
        "Next:",
        "  imagemirror ecr plan                   # what apply would create in the account",
        "  imagemirror ecr apply                  # create it"
        + (
            f" (set {', '.join(f'IMAGEMIRROR_{env_slug(h)}_USERNAME/_TOKEN' for h in secret_hosts)} first)"
            if secret_hosts and not found
            else ""
        ),
        f"  imagemirror rewrite --dry-run {shown}   # the references that would move onto the cache",
        f"  imagemirror warm {shown}                # fill the cache before nodes pull",
        f"  imagemirror check {shown}               # the CI gate",
    ]
    output.out("\n".join(steps))
    return Exit.OK


def _hosts_used(root: Path) -> dict[str, int]:
    """Upstream host -> how many references the values files under ``root`` pull from it."""
    counts: dict[str, int] = {}
    try:
        results = scan([root], Settings(exclude=("**/charts/**",))).results
    except Exception:  # noqa: BLE001 -- the listing is a convenience; init works without it
        return counts
    for result in results:
        for ref in result.refs:
            if not ref.upstream:
                continue
            try:
                counts[parse(ref.upstream).host] = counts.get(parse(ref.upstream).host, 0) + 1
            except InvalidReference:
                continue
    return counts


def _releases(root: Path) -> list[tuple[str, str, str, str]]:
    try:
        idx = index(root)
    except Exception:  # noqa: BLE001 -- listed as a help, never a reason to fail
        return []
    return [(r.kind, r.name, r.chart.describe(), r.origin) for r in idx.releases]


def _check(text: str, target: Path) -> None:
    """The file must load as settings (and its ecr: section parse) before it is written."""
    data = YAML(typ="safe").load(text)
    settings = parse_settings(data, target)
    ecr_settings.parse(settings)
