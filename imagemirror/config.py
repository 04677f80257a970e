"""Find and validate ``.imagemirror.yaml`` into a frozen :class:`Settings`.

The file is found by walking up from the target path to the repository root
(the first folder holding ``.git``).  Every error names the file, line, column
and key.  Sections owned by other commands (``ecr``, ``charts``) are kept as
plain data with their positions, and validated by those commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .reference import InvalidReference, canonical_host, is_domain
from .rules import DEFAULT_RULES, Rules, split_rule

CONFIG_NAME = ".imagemirror.yaml"
_KEYS = ("registry", "rules", "aliases", "exclude", "deny", "ecr", "charts")
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?\Z")
_PREFIX = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*\Z")


@dataclass(frozen=True)
class Settings:
    path: Path | None = None
    registry: str | None = None
    rules: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_RULES))
    aliases: dict[str, str] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    ecr: Any = None
    charts: Any = None
    positions: dict[tuple, tuple[int, int]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ruleset(self) -> Rules:
        return Rules(self.registry, self.rules, self.aliases)

    def where(self, *keys: object) -> str:
        """``file:line:col`` of a key path in the settings file (best match up the path)."""
        name = str(self.path) if self.path else CONFIG_NAME
        keys_t = tuple(keys)
        while keys_t and keys_t not in self.positions:
            keys_t = keys_t[:-1]
        line, col = self.positions.get(keys_t, (1, 1))
        return f"{name}:{line}:{col}"

    def error(self, message: str, *keys: object) -> ConfigError:
        return ConfigError(f"{self.where(*keys)}: {message}")


def find_config(start: Path) -> Path | None:
    """Walk up from ``start`` to the repository root looking for ``.imagemirror.yaml``."""
    here = start.resolve()
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists():
            return None
    return None


def _plain(node, keys: tuple, positions: dict, constructor) -> Any:
    """Turn a composed node into plain data, recording 1-based positions of every key."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    positions[keys] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, MappingNode):
        out: dict = {}
        for knode, vnode in node.value:
            key = knode.value
            positions[keys + (key,)] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
            out[key] = _plain(vnode, keys + (key,), positions, constructor)
            positions[keys + (key,)] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
        return out
    if isinstance(node, SequenceNode):
        return [_plain(v, keys + (i,), positions, constructor) for i, v in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)


def load_settings(path: Path) -> Settings:
    """Read and validate one settings file."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read settings: {exc}") from None
    yaml = YAML(typ="safe", pure=True)
    try:
        node = yaml.compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc}") from None
    except YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    positions: dict[tuple, tuple[int, int]] = {}
    data = {} if node is None else _plain(node, (), positions, yaml.constructor)
    return parse_settings(data, path, positions)


def parse_settings(data: Any, path: Path | None = None, positions: dict | None = None) -> Settings:
    """Validate plain settings data (as loaded from YAML)."""
    positions = positions or {}
    draft = Settings(path=path, positions=positions)
    if not isinstance(data, dict):
        raise draft.error("settings must be a mapping")
    for key in data:
        if key not in _KEYS:
            hint = _closest(str(key), _KEYS)
            raise draft.error(f"unknown key {key!r}" + (f" (did you mean {hint!r}?)" if hint else ""), key)
    registry = data.get("registry")
    if registry is not None:
        registry = _host(draft, registry, "registry")
    rules = dict(DEFAULT_RULES)
    if "rules" in data:
        raw = data["rules"]
        if not isinstance(raw, dict) or not raw:
            raise draft.error("'rules' must be a non-empty mapping of upstream host to prefix", "rules")
        rules = {}
        for host, prefix in raw.items():
            # `host` or `host/upstream-prefix` (the rule maps only host/upstream-prefix/...)
            name, _, scope = host.partition("/") if isinstance(host, str) else (host, "", "")
            chost = canonical_host(_host(draft, name, "rules", host))
            if scope and not _PREFIX.match(scope):
                raise draft.error(f"rule {host!r}: {scope!r} is not an upstream repository prefix", "rules", host)
            chost = f"{chost}/{scope}" if scope else chost
            if not isinstance(prefix, str) or not _PREFIX.match(prefix):
                raise draft.error(f"rule {host!r}: prefix {prefix!r} is not a repository prefix", "rules", host)
            if chost in rules:
                raise draft.error(f"rule {host!r} repeats upstream {chost!r}", "rules", host)
            if prefix in rules.values():
                raise draft.error(f"rule {host!r}: two rules share one prefix {prefix!r}", "rules", host)
            rules[chost] = prefix
    aliases: dict[str, str] = {}
    raw = data.get("aliases") or {}
    if not isinstance(raw, dict):
        raise draft.error("'aliases' must be a mapping of host to upstream host", "aliases")
    for host, target in raw.items():
        aliases[canonical_host(_host(draft, host, "aliases", host))] = canonical_host(
            _host(draft, target, "aliases", host)
        )
    exclude = _strings(draft, data.get("exclude"), "exclude")
    deny = tuple(
        canonical_host(_host(draft, h, "deny", i)) for i, h in enumerate(_strings(draft, data.get("deny"), "deny"))
    )
    if registry is not None and (canonical_host(registry) in _hosts(rules) or canonical_host(registry) in aliases):
        raise draft.error(
            f"registry {registry!r} is an upstream of the rules: the cache must be another registry", "registry"
        )
    for section in ("ecr", "charts"):
        if section in data and data[section] is not None and not isinstance(data[section], dict):
            raise draft.error(f"'{section}' must be a mapping", section)
    return Settings(
        path=path,
        registry=registry,
        rules=rules,
        aliases=aliases,
        exclude=exclude,
        deny=deny,
        ecr=data.get("ecr"),
        charts=data.get("charts"),
        positions=positions,
    )


def _hosts(rules: dict[str, str]) -> set[str]:
    """The upstream hosts of ``rules:`` (a key may name ``host/upstream-prefix``)."""
    return {split_rule(key)[0] for key in rules}


def _host(draft: Settings, value: Any, *keys: object) -> str:
    if (
        not isinstance(value, str)
        or not _HOST.match(value.lower())
        or not is_domain(value.lower())
        and value != "docker.io"
    ):
        raise draft.error(f"{value!r} is not a registry host name", *keys)
    return value.lower()


def _strings(draft: Settings, value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise draft.error(f"'{key}' must be a list of strings", key)
    return tuple(value)


def _closest(word: str, choices: tuple[str, ...]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return found[0] if found else None


def resolve_settings(target: Path, config: Path | None = None, registry: str | None = None) -> Settings:
    """Settings for a run: ``--config`` or the discovered file, then ``--registry``."""
    path = config if config is not None else find_config(target)
    settings = load_settings(path) if path is not None else Settings()
    if registry is not None:
        try:
            reg = _host(settings, registry)
        except ConfigError:
            raise ConfigError(f"--registry: {registry!r} is not a registry host name") from None
        if canonical_host(reg) in _hosts(settings.rules) or canonical_host(reg) in settings.aliases:
            raise ConfigError(
                f"--registry: {registry!r} is an upstream of the rules: the cache must be another registry"
            )
        settings = Settings(**{**settings.__dict__, "registry": reg})
    return settings


__all__ = ["Settings", "find_config", "load_settings", "parse_settings", "resolve_settings", "InvalidReference"]
