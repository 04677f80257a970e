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


#: Renovate's managers that read image references in the files imagemirror rewrites
PIN_MANAGERS = ["helm-values", "kubernetes", "helmv3", "kustomize", "docker-compose", "dockerfile"]


def renovate_doc(registry: str, rules: dict[str, str], pin_digests: bool = False) -> dict:
    """The Renovate config: ``registryAliases``, and with ``pin_digests`` a package rule that
    pins (and keeps updating) the digest of every image those managers find.

    Renovate's helm-values manager writes a digest as ``tag: "<tag>@sha256:..."`` (and after a
    string reference), the forms ``imagemirror pin`` writes outside Bitnami maps; a separate
    ``digest:`` key it leaves alone, which ``check --online`` then reports (IM008)."""
    doc: dict = {"registryAliases": registry_aliases(registry, rules)}
    if pin_digests:
        doc["packageRules"] = [
            {
                "description": "imagemirror: keep image digests pinned; the cache serves upstream digests unchanged",
                "matchManagers": list(PIN_MANAGERS),
                "matchDatasources": ["docker"],
                "pinDigests": True,
            }
        ]
    return doc


def renovate_json(registry: str, rules: dict[str, str], pin_digests: bool = False) -> str:
    return json.dumps(renovate_doc(registry, rules, pin_digests), indent=2) + "\n"


def renovate_config(
    path: Path, *, config: Path | None = None, registry: str | None = None, pin_digests: bool = False
) -> int:
    settings = resolve_settings(Path(path), config, registry)
    if settings.registry is None:
        where = f" (settings: {settings.path})" if settings.path else ""
        raise ConfigError(
            f"no cache registry configured{where}: set `registry:` in .imagemirror.yaml or pass --registry"
        )
    output.out(renovate_json(settings.registry, settings.rules, pin_digests), end="")
    return Exit.OK
