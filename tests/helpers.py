"""Test helpers: compare documents as data, apart from the paths a rewrite may change; run the
CLI and read what kustomize built (the GitOps source tests)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML


def load_all(text: str) -> list:
    return list(YAML(typ="safe", pure=True).load_all(text))


def leaf_diffs(a, b, path="", seen=None) -> list[tuple[str, object, object]]:
    """Paths where two plain documents differ (aliases are compared once)."""
    seen = set() if seen is None else seen
    if isinstance(a, (dict, list)):  # an aliased collection is compared once
        key = (id(a), id(b))
        if key in seen:
            return []
        seen.add(key)
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in [*a, *(k for k in b if k not in a)]:
            sub = f"{path}.{k}" if path else str(k)
            if k not in a or k not in b:
                out.append((sub, a.get(k, "<missing>"), b.get(k, "<missing>")))
            else:
                out.extend(leaf_diffs(a[k], b[k], sub, seen))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(leaf_diffs(x, y, f"{path}[{i}]", seen))
        return out
    return [] if a == b else [(path, a, b)]


IMAGE_KEYS = ("registry", "repository", "image", "name", "imageRegistry", "imageNamespace")


def assert_only_image_scalars_changed(before: str, after: str, refs, registry: str) -> list[str]:
    """Every changed leaf is an image scalar of a reported reference (or the Bitnami flag)."""
    paths = {r.path for r in refs}
    changed = []
    for old_doc, new_doc in zip(load_all(before), load_all(after), strict=True):
        diffs = leaf_diffs(old_doc, new_doc)
        allowed_objects = set()
        pending = []
        for path, old, new in diffs:
            changed.append(path)
            if path in ("global.security", "global.security.allowInsecureImages", "global"):
                continue
            assert isinstance(old, str) and isinstance(new, str), (path, old, new)
            parent, _, leaf = path.rpartition(".")
            assert registry in new or new.startswith(
                ("docker-hub/", "quay/", "github/", "k8s/", "ecr-public/", "library/")
            ), (path, old, new)
            if path in paths or parent in paths or leaf in IMAGE_KEYS:
                allowed_objects.add(id(old))
            else:
                pending.append((path, old, new))
        # an alias of an edited image scalar (`again: *exp`) changes with it: the same object
        for path, old, new in pending:
            assert id(old) in allowed_objects, (path, old, new)
    return changed


def assert_line_edits_are_scalar_swaps(before: str, after: str) -> int:
    """Line by line: each changed line differs from its original in one token only, and the
    only inserted lines are the Bitnami ``global.security.allowInsecureImages`` block."""
    import difflib

    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    swaps = 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        assert op in ("replace", "insert"), (op, old[i1:i2], new[j1:j2])
        if op == "replace" and i2 - i1 != j2 - j1:
            # an insertion next to a replaced line: match the inserted lines out
            inserted = [
                ln for ln in new[j1:j2] if "allowInsecureImages: true" in ln or ln.strip() in ("security:", "global:")
            ]
            rest = [ln for ln in new[j1:j2] if ln not in inserted]
            assert len(rest) == i2 - i1, (old[i1:i2], new[j1:j2])
            pairs = zip(old[i1:i2], rest)
        elif op == "insert":
            for line in new[j1:j2]:
                assert "allowInsecureImages: true" in line or line.strip() in ("security:", "global:"), line
            continue
        else:
            pairs = zip(old[i1:i2], new[j1:j2])
        for a, b in pairs:
            p = 0
            while p < min(len(a), len(b)) and a[p] == b[p]:
                p += 1
            s = 0
            while s < min(len(a), len(b)) - p and a[-1 - s] == b[-1 - s]:
                s += 1
            old_mid, new_mid = a[p : len(a) - s], b[p : len(b) - s]
            for mid in (old_mid, new_mid):
                assert not any(c in mid for c in " \t#\r\n"), (a, b)
            swaps += 1
    return swaps


# --- the GitOps source tests (test_sources_flux_kustomization/_patches/_substitute) --------------

REPO = Path(__file__).resolve().parent.parent
REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
_PREFIXES = {"docker.io": "docker-hub", "ghcr.io": "github", "quay.io": "quay", "registry.k8s.io": "k8s"}


def run(*args, cwd):
    """``imagemirror ARGS`` in a process of its own, from this tree, without colour or CI format."""
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "GITHUB_ACTIONS": ""},
    )


def pod_images(objects: list[dict]) -> list[str]:
    """The init containers' and containers' images of built workloads, in order."""
    out = []
    for obj in objects:
        pod = obj["spec"]["template"]["spec"]
        out += [c["image"] for c in pod.get("initContainers", []) + pod["containers"]]
    return out


def without_images(objects: list[dict]) -> str:
    """Built objects as JSON with every image blanked (what else a rewrite must not change)."""
    return re.sub(r'"image": "[^"]*"', '"image": "-"', json.dumps(objects, sort_keys=True))


def cache_form(image: str) -> str:
    """The cache's form of an upstream image, written out independently of imagemirror's rules
    (the tests' expectation): host -> prefix, Docker Hub's ``library/``, tag and digest kept."""
    name, sep, rest = image.partition("@") if "@" in image else (image, "", "")
    slash, colon = name.rfind("/"), name.rfind(":")
    tag = name[colon:] if colon > slash else ""
    name = name[: len(name) - len(tag)]
    first = name.split("/", 1)[0]
    host, path = (first, name.split("/", 1)[1]) if "." in first else ("docker.io", name)
    if host == "docker.io" and "/" not in path:
        path = "library/" + path
    return f"{REG}/{_PREFIXES[host]}/{path}{tag}{sep}{rest}"
