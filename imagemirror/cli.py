"""Command line: click only parses, calls a command function, and maps errors to exit codes.

Keep this module's imports light: the CLI start-up time is part of every pre-commit run.
Command modules (and through them boto3, docker, HTTP) are imported inside each command.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import __version__, output
from .errors import Exit, ImagemirrorError

_PATHS = click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))


def _settings_options(func):
    func = click.option(
        "--registry",
        metavar="HOST",
        help="The cache registry host (overrides `registry:` in .imagemirror.yaml).",
    )(func)
    func = click.option(
        "--config",
        "config",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Settings file (default: .imagemirror.yaml found walking up from the first PATH).",
    )(func)
    return func


def run(command, *args, **kwargs) -> None:
    """Call a command function and exit with its code: the one exit funnel.

    A known error is one line and its code (``imagemirror.errors``); anything else is a
    bug: one line, exit 5 (the traceback too with ``IMAGEMIRROR_DEBUG=1``), never 1, the
    code a CI gate reads as "findings".
    """
    try:
        code = command(*args, **kwargs)
    except ImagemirrorError as exc:
        output.error(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        output.err("imagemirror: interrupted")
        code = Exit.INTERRUPTED
    except BrokenPipeError:  # `imagemirror list | head`: the reader has what it wanted
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        code = Exit.BROKEN_PIPE
    except Exception as exc:
        code = internal_error(exc)
    sys.exit(int(code))


def internal_error(exc: BaseException, env=None) -> Exit:
    """Report an unexpected exception in one line (the traceback with IMAGEMIRROR_DEBUG=1)."""
    env = os.environ if env is None else env
    if env.get("IMAGEMIRROR_DEBUG") not in (None, "", "0"):
        import traceback

        output.err("".join(traceback.format_exception(exc)), end="")
    message = " ".join(str(exc).split())
    if len(message) > 300:
        message = message[:300] + "..."
    detail = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    output.err(f"imagemirror: internal error: {detail} (please report; IMAGEMIRROR_DEBUG=1 shows the traceback)")
    return Exit.INTERNAL


def _versions() -> str:
    """imagemirror's version, the renderer --effective would use, ruamel.yaml's (for bug reports).

    The renderer is the one `--renderer auto` chooses (charts/render.py) -- a `helm` binary on
    PATH, else helm-python-sdk when installed, else imagemirror's own model -- and the SDK is
    not imported to say so.
    """
    import importlib.util
    import platform
    import subprocess
    from importlib import metadata

    from .charts.render import helm_binary, sdk_available

    def dist(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    helm = helm_binary()
    if helm:
        try:
            out = subprocess.run(
                [helm, "version", "--short"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL
            )
            version = out.stdout.strip() or "unknown version"
        except (OSError, subprocess.SubprocessError):
            version = "unknown version"
        renderer = f"helm {version} ({helm})"
    elif sdk_available():
        renderer = f"helm-python-sdk {dist('helm-python-sdk') or 'unknown version'}"
    else:
        renderer = "model (imagemirror's own; install imagemirror[helm] for real Helm)"
    import ruamel.yaml

    clib = "with" if importlib.util.find_spec("_ruamel_yaml") is not None else "without"
    return "\n".join(
        [
            f"imagemirror {__version__}",
            f"renderer: {renderer}",
            f"ruamel.yaml {ruamel.yaml.__version__} ({clib} the C parser)",
            f"Python {platform.python_version()}",
        ]
    )


def _print_versions(ctx: click.Context, _param, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        output.out(_versions())
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_versions,
    help="Show the versions of imagemirror, the Helm renderer and ruamel.yaml, and exit.",
)
def main() -> None:
    """Move Helm values' container images onto an ECR pull-through cache, and keep them there.

    Exit codes: 0 ok, 1 findings (check/warm/rewrite --check), 2 usage or settings
    error, 3 a file could not be processed, 4 an external service failed, 5 internal
    error (please report).
    """


def _source(effective: bool, offline: bool, renderer: str = "auto", unrendered: bool = False):
    """The source of references: the values text (None: the commands' default), or with
    ``--effective`` each release's chart values (imported only then: it is the heavy part)."""
    if not effective:
        return None
    from .charts.source import EffectiveSource
    from .commands.clients import chart_client

    return EffectiveSource(offline=offline, renderer=renderer, unrendered=unrendered, connect=chart_client)


_BY_CONTENT = click.option(
    "--by-content",
    is_flag=True,
    help="Read a named file only when a folder's scan would (values files by name, other YAML by "
    "content, not a chart's templates, exclude: honoured): for pre-commit, which names every staged file.",
)


def _effective_options(func):
    func = click.option(
        "--renderer",
        type=click.Choice(["auto", "helm", "sdk", "model"]),
        default="auto",
        envvar="IMAGEMIRROR_RENDERER",
        show_default=True,
        help="With --effective: who evaluates the chart's templates: `helm` on PATH, the helm-python-sdk "
        "extra, or imagemirror's model of Helm (values only); auto takes the first available.",
    )(func)
    func = click.option(
        "--offline", is_flag=True, help="With --effective: use only vendored and cached charts; fetch nothing."
    )(func)
    func = click.option(
        "--effective",
        is_flag=True,
        help="Chart-aware: merge each release's chart defaults (subcharts, globals) with its "
        "values files, as Helm does, and cover every image the release pulls.",
    )(func)
    return func


def _registry_options(func):
    """How `warm`, `pin` and `check --online` reach registries (credentials: docker config, ECR)."""
    func = click.option(
        "--deadline",
        type=click.FloatRange(min=1),
        default=None,
        metavar="SECONDS",
        help="Give up on whatever is left after this long (warm: 3600, pin/check: 600).",
    )(func)
    func = click.option(
        "--ca-bundle",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="CA certificates to verify the registry with (default: SSL_CERT_FILE, REQUESTS_CA_BUNDLE, system).",
    )(func)
    func = click.option("--insecure", is_flag=True, help="Talk plain HTTP to the registry (local test registries).")(
        func
    )
    return func


@main.command("list")
@_PATHS
@_settings_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--jobs", type=click.IntRange(min=0), default=0, help="Worker processes (0: one per core).")
@_effective_options
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="With --effective and real Helm: also list the images the values name that the release does "
    "not render, and why.",
)
def list_command(paths, config, registry, fmt, jobs, effective, offline, renderer, show_all):
    """List every image reference in the values files under PATHS."""
    from .commands.listing import list_images

    run(
        list_images,
        paths,
        config=config,
        registry=registry,
        fmt=fmt,
        jobs=jobs,
        source=_source(effective, offline, renderer, unrendered=show_all),
    )


@main.command("rewrite")
@_PATHS
@_settings_options
@click.option("--dry-run", is_flag=True, help="Print a unified diff; write nothing.")
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 if a file would change.")
@click.option("--revert", is_flag=True, help="Map mirrored references back to their upstream form.")
@click.option("--jobs", type=click.IntRange(min=0), default=0, help="Worker processes (0: one per core).")
@click.option(
    "--exit-nonzero-on-change",
    "nonzero_on_change",
    is_flag=True,
    help="Exit 1 when a file was changed (the pre-commit fixer's convention).",
)
@_BY_CONTENT
@_effective_options
def rewrite_command(
    paths,
    config,
    registry,
    dry_run,
    check_only,
    revert,
    jobs,
    nonzero_on_change,
    by_content,
    effective,
    offline,
    renderer,
):
    """Rewrite image references to the cache registry, byte-exactly, in place."""
    from .commands.rewrite import rewrite_files

    run(
        rewrite_files,
        paths,
        config=config,
        registry=registry,
        dry_run=dry_run,
        check_only=check_only,
        revert=revert,
        jobs=jobs,
        nonzero_on_change=nonzero_on_change,
        source=_source(effective, offline, renderer),
        by_content=by_content,
    )


@main.command("check")
@_PATHS
@_settings_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github", "json", "sarif", "gitlab"]),
    default=None,
    help="Output format (default: github when GITHUB_ACTIONS=true, else text).",
)
@click.option(
    "--deny",
    multiple=True,
    metavar="HOST",
    help="Fail on references pulled from HOST (repeatable; adds to `deny:`). "
    "Compared normalised: docker.io covers nginx and index.docker.io/...",
)
@click.option("--strict", is_flag=True, help="Also fail on no-rule, ambiguous and invalid references.")
@click.option("--jobs", type=click.IntRange(min=0), default=0, help="Worker processes (0: one per core).")
@click.option(
    "--online",
    is_flag=True,
    help="Also ask the cache: a pinned tag that moved (IM008), a pinned digest it lacks (IM009).",
)
@_BY_CONTENT
@_registry_options
@_effective_options
def check_command(
    paths,
    config,
    registry,
    fmt,
    deny,
    strict,
    jobs,
    online,
    by_content,
    insecure,
    ca_bundle,
    deadline,
    effective,
    offline,
    renderer,
):
    """Fail when references bypass the cache (the CI gate and pre-commit hook).

    Exit 1 when a reference is unmirrored or on a denied host (with --strict also
    no-rule, ambiguous, invalid); 3 when a file could not be processed. A comment
    `# imagemirror: ignore` (or `# imagemirror: ignore[IM003]`) on the reference's
    line or its image key's line skips it.
    """
    from .commands.check import check_paths

    resolver = None
    if online:  # the registry client only then: check's start-up is every pre-commit run's
        from .commands.pin import online_resolver

        resolver = online_resolver(insecure=insecure, ca_bundle=ca_bundle, deadline=deadline or 600.0)
    run(
        check_paths,
        paths,
        config=config,
        registry=registry,
        fmt=fmt,
        deny=deny,
        strict=strict,
        jobs=jobs,
        source=_source(effective, offline, renderer),
        resolver=resolver,
        by_content=by_content,
    )


@main.command("warm")
@_PATHS
@_settings_options
@click.option(
    "--jobs", type=click.IntRange(min=1), default=8, show_default=True, help="Images, and blobs, transferred at once."
)
@click.option(
    "--platform",
    default="all",
    show_default=True,
    metavar="all|OS/ARCH",
    help="Which platforms of a multi-arch image to pull (e.g. linux/arm64).",
)
@click.option(
    "--engine",
    type=click.Choice(["registry", "docker"]),
    default="registry",
    show_default=True,
    help="registry: the OCI distribution API, no daemon; docker: pull through a Docker engine (DOCKER_HOST).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--insecure", is_flag=True, help="Talk plain HTTP to the registry (local test registries).")
@click.option(
    "--ca-bundle",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA certificates to verify the registry with (default: SSL_CERT_FILE, REQUESTS_CA_BUNDLE, system).",
)
@click.option(
    "--deadline",
    type=click.FloatRange(min=1),
    default=3600,
    show_default=True,
    metavar="SECONDS",
    help="Give up on whatever is left after this long.",
)
@click.option(
    "--pin",
    "pin",
    is_flag=True,
    help="Then pin (as `imagemirror pin`) exactly the digests this run warmed and verified.",
)
@_effective_options
@click.option(
    "--no-effective",
    is_flag=True,
    help="Warm what the values files say as written, even for a release whose chart is here.",
)
def warm_command(
    paths,
    config,
    registry,
    jobs,
    platform,
    engine,
    fmt,
    insecure,
    ca_bundle,
    deadline,
    pin,
    effective,
    offline,
    renderer,
    no_effective,
):
    """Pull every image through the cache so it is full before nodes pull.

    Warms the references already on the cache and the targets of those not yet
    rewritten. Exit 1 when an image failed (with a hint for known causes).
    Credentials: ~/.docker/config.json (auths, credential helpers); ECR hosts use
    the AWS credential chain.

    A release whose chart is here (a chart folder, vendored, or cached) is warmed
    as it renders (--effective), without fetching; the others as their values say.
    --effective also fetches charts; --no-effective reads values files only.
    """
    from .commands.warm import warm

    if effective and no_effective:
        raise click.UsageError("--effective and --no-effective exclude each other")
    if no_effective:
        source = None
    elif effective:
        source = _source(True, offline, renderer)
        source.announce = "warm"
    else:
        from .charts.source import EffectiveSource

        source = EffectiveSource(offline=True, renderer=renderer, fallback=True, announce="warm")
    run(
        warm,
        paths,
        config=config,
        registry=registry,
        jobs=jobs,
        platform=platform,
        engine=engine,
        fmt=fmt,
        insecure=insecure,
        ca_bundle=ca_bundle,
        deadline=deadline,
        source=source,
        **({"pin": True} if pin else {}),
    )


@main.command("pin")
@_PATHS
@_settings_options
@click.option("--dry-run", is_flag=True, help="Print a unified diff; write nothing.")
@click.option("--revert", is_flag=True, help="Remove the pins imagemirror wrote (and only those), restoring the bytes.")
@click.option("--no-confirm", is_flag=True, help="Do not confirm each digest against the upstream registry.")
@click.option("--jobs", type=click.IntRange(min=1), default=8, show_default=True, help="Tags resolved at once.")
@_registry_options
@_effective_options
def pin_command(
    paths,
    config,
    registry,
    dry_run,
    revert,
    no_confirm,
    jobs,
    insecure,
    ca_bundle,
    deadline,
    effective,
    offline,
    renderer,
):
    """Pin every mirrored reference to the digest its tag resolves to on the cache.

    The digest goes where the chart reads one: the map's `digest:` (or `sha:`) key, a
    `digest:` key added to a Bitnami image map, `tag: "<tag>@sha256:..."`, or
    `@sha256:...` appended to a string reference (the tag is kept). Each pinned line
    gets a `# imagemirror: pinned` comment, so --revert removes exactly those pins.
    Exit 1 when a tag could not be resolved, or the cache and the upstream disagree.
    """
    from .commands.pin import pin_paths

    run(
        pin_paths,
        paths,
        config=config,
        registry=registry,
        dry_run=dry_run,
        revert=revert,
        effective=effective,
        offline=offline,
        renderer=renderer,
        insecure=insecure,
        ca_bundle=ca_bundle,
        deadline=deadline or 600.0,
        jobs=jobs,
        confirm=not no_confirm,
    )


@main.command("renovate-config")
@click.argument("path", required=False, default=".", type=click.Path(path_type=Path))
@_settings_options
@click.option(
    "--pin-digests",
    is_flag=True,
    help="Also a package rule with `pinDigests: true`, so Renovate pins and updates image digests.",
)
def renovate_config_command(path, config, registry, pin_digests):
    """Print Renovate `registryAliases` so Renovate looks rewritten images up upstream.

    PATH (default: the current folder) is where .imagemirror.yaml is looked for.
    """
    from .commands.renovate import renovate_config

    run(renovate_config, path, config=config, registry=registry, pin_digests=pin_digests)


# ---------------------------------------------------------------- ecr (boto3 only inside)


def _ecr_options(func):
    func = click.option("--debug", is_flag=True, help="Log AWS operations (names only, never values) to stderr.")(func)
    func = click.option("--region", metavar="REGION", help="AWS Region (default: ecr.region, then AWS_REGION).")(func)
    func = click.option(
        "--endpoint-url",
        metavar="URL",
        help="AWS endpoint, e.g. LocalStack or moto (default: AWS_ENDPOINT_URL, then AWS).",
    )(func)
    func = click.option(
        "--config",
        "config",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Settings file (default: .imagemirror.yaml found walking up from the current folder).",
    )(func)
    return func


_ECR_FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)


def _interactive() -> bool:
    return sys.stdin.isatty()


def _ask(text: str, hide: bool) -> str:
    return click.prompt(text, hide_input=hide, err=True)


@main.group("ecr")
def ecr_group() -> None:
    """Provision the ECR side: pull-through cache rules, credential secrets, creation
    templates, repositories, the node-role registry policy and a CI push policy.

    Driven by `rules:` and `ecr:` in .imagemirror.yaml. Exit codes: 0 ok / no drift,
    1 doctor found problems or a plan would fail (nothing written), 2 settings error,
    4 AWS error.
    """


@ecr_group.command("plan")
@_ecr_options
@_ECR_FORMAT
@click.option("--rotate-credentials", is_flag=True, help="Plan to overwrite existing credential secrets.")
def ecr_plan_command(config, endpoint_url, region, debug, fmt, rotate_credentials):
    """Show what `apply` would create, update, replace or delete, and why."""
    from .commands import ecr

    run(
        ecr.plan,
        config=config,
        endpoint_url=endpoint_url,
        region=region,
        fmt=fmt,
        rotate_credentials=rotate_credentials,
        debug=debug,
    )


@ecr_group.command("apply")
@_ecr_options
@_ECR_FORMAT
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing (same as `plan`).")
@click.option("--rotate-credentials", is_flag=True, help="Overwrite existing credential secrets with new values.")
@click.option(
    "--credentials-stdin",
    is_flag=True,
    help='Read credentials as JSON from stdin: {"docker.io": {"username": ..., "accessToken": ...}}.',
)
def ecr_apply_command(config, endpoint_url, region, debug, fmt, dry_run, rotate_credentials, credentials_stdin):
    """Make the account match .imagemirror.yaml (a second run changes nothing).

    Upstream credentials come from the environment variables named in
    ecr.credentials (default IMAGEMIRROR_<HOST>_USERNAME / _TOKEN), --credentials-stdin,
    or a hidden prompt on a terminal; never from the command line. Existing secrets are
    reused unless --rotate-credentials.
    """
    from .commands import ecr

    run(
        ecr.apply,
        config=config,
        endpoint_url=endpoint_url,
        region=region,
        fmt=fmt,
        dry_run=dry_run,
        rotate_credentials=rotate_credentials,
        credentials_stdin=credentials_stdin,
        ask=_ask if _interactive() else None,
        debug=debug,
    )


@ecr_group.command("destroy")
@_ecr_options
@_ECR_FORMAT
@click.option("--dry-run", is_flag=True, help="Print what would be deleted; delete nothing.")
@click.option("--purge-cache", is_flag=True, help="Also delete the cached repositories under the rules' prefixes.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def ecr_destroy_command(config, endpoint_url, region, debug, fmt, dry_run, purge_cache, yes):
    """Remove only what imagemirror manages; cached images stay unless --purge-cache."""
    from .commands import ecr

    confirm = (lambda text: click.confirm(text, err=True)) if _interactive() else None
    run(
        ecr.destroy,
        config=config,
        endpoint_url=endpoint_url,
        region=region,
        fmt=fmt,
        dry_run=dry_run,
        purge_cache=purge_cache,
        yes=yes,
        confirm=confirm,
        debug=debug,
    )


@ecr_group.command("doctor")
@_ecr_options
@_ECR_FORMAT
def ecr_doctor_command(config, endpoint_url, region, debug, fmt):
    """Validate every rule, report drift, the 50-rule quota and node-role permissions (exit 1 on problems)."""
    from .commands import ecr

    run(ecr.doctor, config=config, endpoint_url=endpoint_url, region=region, fmt=fmt, debug=debug)


@ecr_group.command("rules")
@_ecr_options
def ecr_rules_command(config, endpoint_url, region, debug):
    """Print the account's actual pull-through cache rules as a `rules:` block."""
    from .commands import ecr

    run(ecr.rules, config=config, endpoint_url=endpoint_url, region=region, debug=debug)


@ecr_group.command("usage")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_ecr_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True)
def ecr_usage_command(paths, config, endpoint_url, region, debug, fmt):
    """What the cache holds and costs: per prefix and repository, images, bytes, last pull,
    monthly storage cost. With PATHs, also what is cached but no longer referenced and what
    is referenced but not cached yet."""
    from .commands import ecr

    run(ecr.usage, tuple(paths), config=config, endpoint_url=endpoint_url, region=region, fmt=fmt, debug=debug)


@main.command("init")
@click.argument("path", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing .imagemirror.yaml.")
@click.option("--region", metavar="REGION", help="AWS Region (default: AWS_REGION, then the AWS config).")
@click.option("--endpoint-url", metavar="URL", help="AWS endpoint, e.g. moto (default: AWS_ENDPOINT_URL, then AWS).")
@click.option("--debug", is_flag=True, help="Log AWS operations (names only, never values) to stderr.")
def init_command(path, force, region, endpoint_url, debug):
    """Write a commented .imagemirror.yaml in PATH (default: here) from the AWS account:
    the registry host, the account's rules, and the releases found; then say what to run."""
    from .commands.init import init

    run(init, path, force=force, endpoint_url=endpoint_url, region=region, debug=debug)


if __name__ == "__main__":  # pragma: no cover
    main()
