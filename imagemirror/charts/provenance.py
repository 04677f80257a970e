"""Which values keys compose each rendered image: one extra render with sentinels.

Every candidate image key of the release's effective values -- ``registry`` / ``repository`` /
``image`` / ``name`` / ``tag`` / ``version`` / ``digest`` of an image map (a map with
``repository``, or under a key named ``*image*``), any string key named ``*image``,
``*imageRegistry`` (``global.imageRegistry`` too) -- gets a unique sentinel, and the
release is rendered once more (with ``global.security.allowInsecureImages: true``, so Bitnami's
helpers accept the foreign names).  The sentinels that land in a container's image say which
keys compose it.  Only keys with a value are marked, and an image map's empty ``registry`` / ``repository`` / ``image``
(the template then falls back to a literal the key replaces when set): an empty ``tag`` stays
empty (the chart's ``appVersion``), an empty ``digest`` or ``global.imageRegistry`` stays off,
so the sentinel render composes every image the way the real one does.

Sentinels keep templates' logic intact: a tag becomes ``<tag>+im7t<n>`` (semver build metadata,
which Helm's ``semverCompare`` ignores), a digest a well-formed ``sha256:`` value.

An image whose name (its first character on) no key controls is **literal in a template**:
values cannot move it onto the cache.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

IMAGE_MAP_KEYS = ("registry", "repository", "image", "name", "tag", "version", "digest")
ALLOW_INSECURE = ("global", "security", "allowInsecureImages")

_REGISTRY = re.compile(r"r(\d+)\.im7\.invalid")
_NAME = re.compile(r"p(\d+)im7(?!t)")
_TAG = re.compile(r"[+.]im7t(\d+)")
_DIGEST = re.compile(r"sha256:e7e7e7e7([0-9a-f]{8})0{48}")
_LEADING = re.compile(r"(?:r\d+\.im7\.invalid|p\d+im7(?!t))")


@dataclass(frozen=True)
class Candidate:
    keypath: tuple
    role: str  # registry | repository | image | name | tag | digest
    value: Any


@dataclass
class Provenance:
    """The keys composing one image; ``controlled`` when the image's name starts at a key."""

    keys: list[tuple[str, tuple]] = field(default_factory=list)  # (role, keypath)
    controlled: bool = False
    known: bool = True  # False when the sentinel render could not be matched

    @property
    def literal(self) -> bool:
        return self.known and not self.controlled

    def keypaths(self, *roles: str) -> list[tuple]:
        return [k for r, k in self.keys if not roles or r in roles]

    def describe(self) -> str:
        if not self.known:
            return "provenance unknown"
        if not self.keys:
            return "literal in the template"
        return ", ".join(f"{role} <- {dotted(k)}" for role, k in self.keys)


def dotted(keypath: tuple) -> str:
    out = ""
    for key in keypath:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value) != ""


def _imageish(node: dict, key: Any) -> bool:
    """A map that names an image: it has ``repository``, or its key says ``image``."""
    keys = set(node)
    if "repository" in keys and key is not None:
        return True
    named = isinstance(key, str) and "image" in key.lower()
    return named and bool(keys & {"registry", "repository", "tag", "name", "image", "digest", "version"})


def _empty_name(value: Any) -> bool:
    return value is None or value == ""


def candidates(values: Any) -> list[Candidate]:
    """Every candidate image key of an effective values tree (subcharts nested under their key;
    the ``global`` copies Helm pushes into subcharts are skipped: the parent's wins)."""
    out: list[Candidate] = []
    stack: list[tuple[Any, tuple, Any]] = [(values, (), None)]
    while stack:
        node, path, key = stack.pop()
        if isinstance(node, dict):
            image_map = _imageish(node, key)
            for k, v in node.items():
                here = path + (k,)
                if k == "global" and path:
                    continue
                if image_map and k in ("registry", "repository", "image") and _empty_name(v):
                    # unset, the template falls back to a literal (traefik: registry -> docker.io);
                    # set, it composes the image: a key that controls it all the same
                    out.append(Candidate(here, k, v))
                elif _scalar(v) and isinstance(k, str):
                    low = k.lower()
                    if image_map and k in IMAGE_MAP_KEYS:
                        role = {"version": "tag"}.get(k, k)
                        if (
                            role == "name"
                            and not ({"repository", "registry", "image"} & set(node))
                            and not (isinstance(key, str) and "image" in key.lower())
                        ):
                            continue
                        out.append(Candidate(here, role, v))
                    elif low.endswith("imageregistry"):
                        out.append(Candidate(here, "registry", v))
                    elif low.endswith("image") and isinstance(v, str):
                        out.append(Candidate(here, "image", v))
                elif isinstance(v, (dict, list)):
                    stack.append((v, here, k))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                stack.append((item, path + (i,), key))
    out.sort(key=lambda c: [str(p) for p in c.keypath])
    return out


def sentinel(n: int, cand: Candidate) -> str:
    if cand.role == "registry":
        return f"r{n}.im7.invalid"
    if cand.role == "tag":
        text = str(cand.value)
        return f"{text}{'.' if '+' in text else '+'}im7t{n}"
    if cand.role == "digest":
        return f"sha256:e7e7e7e7{n:08x}" + "0" * 48
    return f"p{n}im7"


def overlay(values: Any, cands: list[Candidate]) -> tuple[dict, dict[int, Candidate]]:
    """A sparse values layer setting every candidate to its sentinel, and ``n -> candidate``.

    Helm replaces lists whole, so a candidate inside a list sets the whole list (copied from
    ``values`` with its sentinels in place)."""
    layer: dict = {}
    tokens: dict[int, Candidate] = {}
    lists: dict[tuple, Any] = {}
    for n, cand in enumerate(cands, 1):
        tokens[n] = cand
        value = sentinel(n, cand)
        cut = next((i for i, k in enumerate(cand.keypath) if isinstance(k, int)), None)
        if cut is None:
            _set(layer, cand.keypath, value)
            continue
        head = cand.keypath[:cut]
        if head not in lists:
            lists[head] = copy.deepcopy(_get(values, head))
            _set(layer, head, lists[head])
        node = lists[head]
        for key in cand.keypath[cut:-1]:
            node = node[key]
        node[cand.keypath[-1]] = value
    _set(layer, ALLOW_INSECURE, True)
    return layer, tokens


def _get(data: Any, keypath: tuple) -> Any:
    for key in keypath:
        data = data[key]
    return data


def _set(layer: dict, keypath: tuple, value: Any) -> None:
    node = layer
    for key in keypath[:-1]:
        node = node.setdefault(key, {})
    node[keypath[-1]] = value


def trace(image: str, tokens: dict[int, Candidate]) -> Provenance:
    """The candidates whose sentinels compose ``image`` (of the sentinel render)."""
    found: list[tuple[int, str, tuple]] = []
    for pattern in (_REGISTRY, _NAME, _TAG):
        for m in pattern.finditer(image):
            cand = tokens.get(int(m.group(1)))
            if cand is not None:
                found.append((m.start(), cand.role, cand.keypath))
    for m in _DIGEST.finditer(image):
        cand = tokens.get(int(m.group(1), 16))
        if cand is not None:
            found.append((m.start(), cand.role, cand.keypath))
    found.sort(key=lambda f: f[0])
    keys: list[tuple[str, tuple]] = []
    for _, role, keypath in found:
        if (role, keypath) not in keys:
            keys.append((role, keypath))
    return Provenance(keys, controlled=bool(_LEADING.match(image)))


def attribute(rendered: list, traced: list, tokens: dict[int, Candidate]) -> dict[tuple, Provenance]:
    """``slot -> Provenance`` for the images of the real render, from the sentinel render's
    image at the same slot (template, document, field)."""
    by_slot = {image.slot: image for image in traced}
    out: dict[tuple, Provenance] = {}
    for image in rendered:
        other = by_slot.get(image.slot)
        out[image.slot] = Provenance(known=False) if other is None else trace(other.image, tokens)
    return out
