#!/usr/bin/env python3
"""The naive approach the benchmarks compare against: ruamel.yaml round trip, one file at a time.

    python3 bench/naive.py rewrite REGISTRY PATH...   # YAML() rt load, change images, dump
    python3 bench/naive.py list PATH...               # YAML() rt load, walk, print images

This is what a careful script writer does first: ``YAML()`` (round-trip mode, keeps
comments), walk every mapping for ``image`` keys (a string reference, or a map with
``repository`` plus optional ``registry``/``tag``/``digest``), classify with imagemirror's own
rules (so both sides do the same work), change the values in place and ``dump`` the file back.
One process, no prefilter.  Round-trip dumping is not byte-exact (it reflows some
comments and quotes), which is one of the reasons imagemirror edits text instead; the
benchmark only compares the time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from imagemirror.reference import InvalidReference, parse  # noqa: E402
from imagemirror.rules import Rules  # noqa: E402


def files_under(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and not f.name.startswith(".")))
        else:
            out.append(p)
    return out


def walk(node, path: str, found: list) -> None:
    """Collect ``(container, key, kind, written, path)`` for every image under ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            sub = f"{path}.{key}" if path else str(key)
            if key == "image" and isinstance(value, str):
                found.append((node, key, "string", value, sub))
            elif key == "image" and isinstance(value, dict) and isinstance(value.get("repository"), str):
                repo = value["repository"]
                reg = value.get("registry")
                name = f"{reg}/{repo}" if isinstance(reg, str) and reg else repo
                tag = value.get("tag")
                if tag not in (None, ""):
                    name += f":{tag}"
                digest = value.get("digest")
                if isinstance(digest, str) and digest:
                    name += f"@{digest}"
                found.append((value, key, "map", name, sub))
                walk(value, sub, found)
            else:
                walk(value, sub, found)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            walk(value, f"{path}[{i}]", found)


def classify(rules: Rules, written: str):
    try:
        ref = parse(written)
    except InvalidReference:
        return "invalid", None
    status, _upstream, target = rules.classify(ref)
    return status, target


def rewrite(registry: str, paths: list[str]) -> int:
    rules = Rules(registry)
    changed = 0
    for path in files_under(paths):
        yaml = YAML()  # round trip
        yaml.preserve_quotes = True
        with path.open("rb") as fh:
            data = yaml.load(fh)
        found: list = []
        walk(data, "", found)
        dirty = False
        for container, key, kind, written, _sub in found:
            status, target = classify(rules, written)
            if target is None:
                continue
            dirty = True
            if kind == "string":
                container[key] = str(target)
            else:
                container["registry"] = target.host
                container["repository"] = target.path
        if dirty:
            with path.open("wb") as fh:
                yaml.dump(data, fh)
            changed += 1
    print(f"naive: rewrote {changed} files", file=sys.stderr)
    return 0


def listing(paths: list[str]) -> int:
    rules = Rules(None)
    out = []
    for path in files_under(paths):
        yaml = YAML()
        with path.open("rb") as fh:
            data = yaml.load(fh)
        found: list = []
        walk(data, "", found)
        for _container, _key, _kind, written, sub in found:
            status, _target = classify(rules, written)
            out.append(f"{path}\t{sub}\t{written}\t{status}")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["rewrite"] and len(argv) >= 3:
        return rewrite(argv[1], argv[2:])
    if argv[:1] == ["list"] and len(argv) >= 2:
        return listing(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
