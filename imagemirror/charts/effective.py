"""The images a release really pulls: the core's detector run on the effective values.

For each chart of the release (the chart and each enabled subchart, recursively) the merged
values of that chart -- without its subcharts' keys -- are dumped to YAML and walked by the
core's detector (:mod:`imagemirror.walker`, :mod:`imagemirror.inventory`), so shapes are
recognised exactly as in a values file.  Where the text alone is ``ambiguous`` because an image
map has no ``registry`` key, the chart settles it: the merged values *are* what the chart
templates read, so a map without a ``registry`` key after merging with the defaults is composed
``repository[:tag]`` (frappe's ERPNext), while a map whose defaults carry ``registry`` already
has it (bitnami).

Each image records where its name comes from: the highest-priority values layer that sets it
(file, line, column), or the chart's defaults (``default_only``), and the key paths a rewrite
must set to move it onto the cache (``assignments``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import inventory
from ..config import Settings
from ..errors import FileError
from ..reference import DOCKER_HUB
from ..rules import AMBIGUOUS, UNMIRRORED
from ..walker import LineIndex, Mapping, Scalar, Sequence, compose, content_start, find_sites, parse_events
from .chart import Chart, load_yaml
from .discover import Layer, Release
from .values import Scope, SetInt, effective_values, path_value

KeyPath = tuple  # of str keys (and int indexes for sequences)


@dataclass
class EffectiveImage:
    release: str
    chart: str  # name-version of the chart whose values hold it
    scope: tuple[str, ...]
    path: str  # dotted path in the release's values ("mariadb.image")
    keypath: KeyPath
    written: str
    upstream: str | None
    status: str
    target: str | None
    hint: str | None
    origin: str  # the values layer that names it, or "chart default (<chart>)"
    origin_file: Path | None = None
    line: int | None = None
    column: int | None = None
    default_only: bool = False
    assignments: list[tuple[KeyPath, Any]] = field(default_factory=list)
    name_keys: list[KeyPath] = field(default_factory=list)
    disabled: bool = False  # an ``enabled: false`` beside or above it: likely not rendered

    def to_json(self) -> dict:
        out = {
            "release": self.release,
            "chart": self.chart,
            "path": self.path,
            "written": self.written,
            "upstream": self.upstream,
            "status": self.status,
            "target": self.target,
            "origin": self.origin,
            "default_only": self.default_only,
            "disabled": self.disabled,
        }
        if self.line is not None:
            out.update(line=self.line, column=self.column)
        if self.hint:
            out["hint"] = self.hint
        return out


@dataclass
class ReleaseView:
    release: Release
    chart: Chart
    top: Scope
    layers: list[tuple[Layer, dict]]
    images: list[EffectiveImage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def scope_defaults_have(self, keypath: KeyPath) -> bool:
        for scope in self.top.walk():
            found, _ = path_value(scope.chart.defaults, ".".join(map(str, keypath)))
            if found:
                return True
        return False


def layer_data(layer: Layer, texts: dict[Path, str] | None = None) -> dict:
    """The plain values of a layer (``texts`` replaces file contents, for planned rewrites)."""
    if layer.path is None:
        return layer.data if isinstance(layer.data, dict) else {}
    text = (texts or {}).get(layer.path)
    if text is None:
        try:
            text = layer.path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise FileError(layer.label, "values file named by the release does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise FileError(layer.label, f"cannot read: {exc}") from None
    data = load_yaml(text.lstrip("\ufeff"), layer.label)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FileError(layer.label, "values file is not a mapping")
    return data


def dump_yaml(data: Any) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.representer.sort_base_mapping_type_on_output = False  # keep the chart's own order
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def keypaths(root) -> dict[int, KeyPath]:
    """``id(scalar or collection node) -> key path`` for the walker's light nodes (an aliased
    node keeps the first path it is met at; each collection is walked once)."""
    out: dict[int, KeyPath] = {}
    stack = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in out:
            continue
        out[id(node)] = path
        if isinstance(node, Mapping):
            for k, v in reversed(node.items()):
                stack.append((v, path + (k.value if hasattr(k, "value") else str(k),)))
        elif isinstance(node, Sequence):
            for i in range(len(node.items) - 1, -1, -1):
                stack.append((node.items[i], path + (i,)))
    return out


def nodes_of(data: Any):
    """Plain data -> the walker's light nodes, each dict and list once (shared data stays
    shared: an alias bomb is walked in its size), without recursion.  Strings are quoted
    scalars; numbers are plain scalars as Helm prints them (a float64, Go's ``%v``), or as
    written when the YAML text is known (:class:`~.chart.YamlNumber`); booleans and null plain."""
    from ..walker import Mapping, Scalar, Sequence, go_float

    counter = [0]

    def scalar(value: Any) -> Scalar:
        counter[0] += 1
        if isinstance(value, str):
            node = Scalar(value, '"', counter[0], counter[0], False, 0, 0)
            if value.endswith("\n"):  # a one-word block scalar (``|``): the word, as in a file
                core = value.rstrip("\n")
                if core and not any(ch.isspace() for ch in core):
                    node.value, node.tail = core, value[len(core) :]
        elif isinstance(value, bool):
            node = Scalar("true" if value else "false", "", counter[0], counter[0], False, 0, 0)
        elif value is None:
            node = Scalar("null", "", counter[0], counter[0], False, 0, 0)
        elif isinstance(value, SetInt):  # a --set integer: Helm's int64 prints in full (never 2e+07)
            node = Scalar(str(int(value)), '"', counter[0], counter[0], False, 0, 0)
        elif isinstance(value, (int, float)):
            text = getattr(value, "text", None) or go_float(float(value))
            node = Scalar(text, "", counter[0], counter[0], False, 0, 0)
        else:
            node = Scalar(str(value), '"', counter[0], counter[0], False, 0, 0)
        return node

    def container(value):
        counter[0] += 1
        return (Mapping if isinstance(value, dict) else Sequence)(counter[0], True, 0, 0)

    if not isinstance(data, (dict, list)):
        return scalar(data)
    root = container(data)
    made: dict[int, Any] = {id(data): root}
    # pre-order, one iterator per open container: the counter follows document order
    stack = [(data, root, iter(data.items() if isinstance(data, dict) else enumerate(data)))]
    while stack:
        value, node, items = stack[-1]
        step = next(items, None)
        if step is None:
            stack.pop()
            continue
        key, child = step
        key_node = scalar(str(key)) if isinstance(value, dict) else None
        if isinstance(child, (dict, list)):
            sub = made.get(id(child))
            if sub is None:
                sub = made[id(child)] = container(child)
                stack.append((child, sub, iter(child.items() if isinstance(child, dict) else enumerate(child))))
        else:
            sub = scalar(child)
        if key_node is not None:
            node.pairs.append((key_node, sub))
        else:
            node.items.append(sub)
    return root


def scalar_positions(text: str) -> dict[KeyPath, tuple[int, int]]:
    """1-based ``(line, column)`` of every scalar value of a values text, by key path."""
    body = text.lstrip("\ufeff")
    docs = compose(parse_events(body))
    if not docs:
        return {}
    lines = LineIndex(body)
    out: dict[KeyPath, tuple[int, int]] = {}
    stack = [(docs[0], ())]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if isinstance(node, Scalar):
            out.setdefault(path, lines.position(content_start(body, node)))
            continue
        if id(node) in seen:  # an alias: walked once
            continue
        seen.add(id(node))
        if isinstance(node, Mapping):
            stack.extend((v, path + (k.value,)) for k, v in node.items() if isinstance(k, Scalar))
        elif isinstance(node, Sequence):
            stack.extend((item, path + (i,)) for i, item in enumerate(node.items))
    return out


def _get(data: Any, keypath: KeyPath) -> tuple[bool, Any]:
    node = data
    for key in keypath:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            return False, None
    return True, node


def _dotted(keypath: KeyPath) -> str:
    out = ""
    for key in keypath:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _scope_values(scope: Scope, ignored: list | None = None) -> dict:
    ignored = [] if ignored is None else ignored
    skip = {child.path[-1] for child in scope.children} | set(scope.disabled)
    values = {k: v for k, v in scope.values.items() if k not in skip}
    glob = values.get("global")
    if isinstance(glob, dict):
        # bitnami-style helpers only prepend a global registry that is set: "" means "none"
        glob = dict(glob)
        if not glob.get("imageRegistry"):
            glob.pop("imageRegistry", None)
        image = glob.get("image")
        if isinstance(image, dict) and not image.get("registry"):
            glob["image"] = {k: v for k, v in image.items() if k != "registry"}
        values["global"] = glob
    return _drop_unused_registries(values, scope.chart.defaults, (), ignored)


def _drop_unused_registries(values: Any, defaults: Any, path: KeyPath, ignored: list, memo: dict | None = None) -> Any:
    """A ``registry`` the chart never reads is dropped: where the chart's defaults give an image
    map ``repository`` but no ``registry`` (frappe's ERPNext, Rocket.Chat's services), the chart
    composes ``repository:tag`` -- a ``registry: <ECR>`` an overlay adds there changes nothing.

    Shared (aliased) data is copied once (``memo``); nesting is bounded by the loader."""
    memo = {} if memo is None else memo
    key_ = (id(values), id(defaults))
    if key_ in memo:
        return memo[key_]
    if isinstance(values, dict):
        out = memo[key_] = {}
        for key, value in values.items():
            sub = defaults.get(key) if isinstance(defaults, dict) else None
            out[key] = _drop_unused_registries(value, sub, path + (key,), ignored, memo)
        if (
            "registry" in out
            and "repository" in out
            and isinstance(defaults, dict)
            and "repository" in defaults
            and "registry" not in defaults
        ):
            ignored.append((path, out.pop("registry")))
        return out
    if isinstance(values, list):
        out = memo[key_] = []
        out.extend(_drop_unused_registries(v, None, path + (i,), ignored, memo) for i, v in enumerate(values))
        return out
    return values


def evaluate(release: Release, chart: Chart, settings: Settings, texts: dict[Path, str] | None = None) -> ReleaseView:
    """Merge the release's values over ``chart`` and classify every image it pulls."""
    layers = [(layer, layer_data(layer, texts)) for layer in release.layers]
    top = effective_values(chart, [data for _, data in layers])
    view = ReleaseView(release, chart, top, layers)
    rules = settings.ruleset
    positions_cache: dict[Path, dict] = {}
    for scope in top.walk():
        # the merged values become the walker's light nodes directly (each shared dict or list
        # once), so the core's detector finds the same sites as in a values file
        ignored: list[KeyPath] = []
        docs = [nodes_of(_scope_values(scope, ignored))]
        paths = keypaths(docs[0])
        for site in sorted(find_sites(docs), key=lambda s: s.main.node.start):
            hint_extra = None
            if site.ambiguous and site.kind == "map":
                site.ambiguous = None
                hint_extra = "the chart has no registry key for this image: it composes repository:tag"
            status, upstream, target, hint, edits = inventory.classify_site(site, rules, False)
            main_path = paths.get(id(site.main.node), ())
            image_path = main_path[:-1] if site.kind == "map" else main_path
            dropped = dict(ignored).get(tuple(image_path), None)
            if dropped is not None:
                hint_extra = (
                    "the chart has no registry key for this image and ignores the one given: it composes repository:tag"
                )
            full = _absolute(scope.path, image_path)
            assignments = [(_absolute(scope.path, paths.get(id(node), ())), value) for node, value in edits]
            name_keys = [_absolute(scope.path, paths.get(id(p.node), ())) for p in site.names]
            prefix = (
                upstream.path.split("/", 1)[0]
                if status == UNMIRRORED
                and upstream is not None
                and upstream.host == DOCKER_HUB
                and "/" in upstream.path
                else None
            )
            if prefix is not None and prefix in settings.rules.values() and site.kind == "map":
                # ``docker-hub/frappe/erpnext`` read as a Docker Hub image: a migration half done.
                rest = upstream.path.split("/", 1)[1]
                if dropped is not None and dropped == settings.registry and name_keys:
                    # registry: <cache> that the chart ignores: the cache host belongs in repository
                    target_ref = f"{settings.registry}/{prefix}/{rest}"
                    assignments = [(name_keys[0], target_ref)]
                    target = target_ref + upstream.suffix
                    hint = (
                        f"the chart ignores `registry: {dropped}`: the cache host belongs in "
                        "repository (repository:tag is all it composes)"
                    )
                else:
                    status, target, assignments = AMBIGUOUS, None, []
                    hint = (
                        f"repository starts with the cache prefix '{prefix}/' but the chart pulls it from "
                        f"{upstream.host}: an unfinished migration? (set the registry to the cache)"
                    )
            origin, origin_file, pos, default_only = _origin(layers, name_keys, positions_cache, texts)
            view.images.append(
                EffectiveImage(
                    release=release.name,
                    chart=scope.chart.describe(),
                    scope=scope.path,
                    path=_dotted(full),
                    keypath=full,
                    written=site.written(),
                    upstream=upstream.qualified() if upstream is not None else None,
                    status=status,
                    target=str(target) if target is not None else None,
                    hint=hint or hint_extra,
                    origin=origin if not default_only else f"chart default ({scope.chart.describe()})",
                    origin_file=origin_file,
                    line=pos[0] if pos else None,
                    column=pos[1] if pos else None,
                    default_only=default_only,
                    assignments=assignments,
                    name_keys=name_keys,
                    disabled=_disabled(scope.values, image_path),
                )
            )
    return view


def _disabled(values: dict, keypath: KeyPath) -> bool:
    """Whether a mapping holding the image (up to the chart's top) says ``enabled: false``."""
    node: Any = values
    for key in keypath[:-1] if keypath else ():
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
        if isinstance(node, dict) and node.get("enabled") is False:
            return True
    return False


def _absolute(scope: tuple[str, ...], keypath: KeyPath) -> KeyPath:
    """Values of a subchart live under its key; its ``global`` is the release's ``global``."""
    if keypath and keypath[0] == "global":
        return tuple(keypath)
    return tuple(scope) + tuple(keypath)


def _origin(layers, name_keys, cache, texts):
    """The highest-priority layer that sets the image's name -> (label, file, (line, col), default_only)."""
    for layer, data in reversed(layers):
        for keypath in name_keys:
            found, _ = _get(data, keypath)
            if not found:
                continue
            pos = None
            if layer.path is not None:
                if layer.path not in cache:
                    text = (texts or {}).get(layer.path)
                    if text is None:
                        text = layer.path.read_text(encoding="utf-8-sig")
                    cache[layer.path] = scalar_positions(text)
                pos = cache[layer.path].get(tuple(keypath))
            return layer.label, layer.path, pos, False
    return "", None, None, True
