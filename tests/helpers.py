"""Test helpers: compare documents as data, apart from the paths a rewrite may change."""

from __future__ import annotations

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
