"""``imagemirror renovate-config``: the Renovate ``registryAliases`` for the cache.

Renovate's extractors (helm-values, and the other managers that honour
``registryAliases``: dockerfile, docker-compose, kubernetes, gitlabci, helmv3, ...) look
each image up under its ``packageName``.  When an image starts with ``<alias key>/``,
Renovate replaces that prefix by the alias value for the lookup, and keeps the file's
own text (``depName`` and the replaced string) for the update.  So mapping
``<registry>/<prefix>`` to the upstream host makes Renovate look tags up upstream
(``docker.io/library/nginx``) while it keeps writing
``<registry>/docker-hub/library/nginx:<new tag>``.  Keys are tried in order and the
first that matches wins; longer prefixes come first so none shadows another.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import output
from ..config import resolve_settings
from ..errors import ConfigError, Exit


def registry_aliases(registry: str, rules: dict[str, str]) -> dict[str, str]:
    """``{"<registry>/<prefix>": "<upstream host>"}``, longest prefix first."""
    items = sorted(rules.items(), key=lambda kv: (-len(kv[1]), kv[1]))
    return {f"{registry}/{prefix}": host for host, prefix in items}


def renovate_json(registry: str, rules: dict[str, str]) -> str:
    return json.dumps({"registryAliases": registry_aliases(registry, rules)}, indent=2) + "\n"


def renovate_config(path: Path, *, config: Path | None = None, registry: str | None = None) -> int:
    settings = resolve_settings(Path(path), config, registry)
    if settings.registry is None:
        where = f" (settings: {settings.path})" if settings.path else ""
        raise ConfigError(
            f"no cache registry configured{where}: set `registry:` in .imagemirror.yaml or pass --registry"
        )
    output.out(renovate_json(settings.registry, settings.rules), end="")
    return Exit.OK
