"""``imagemirror ecr usage``: what the cache holds, what it costs, and how it matches the repo.

:func:`collect` is the I/O edge (``DescribeRepositories`` and ``DescribeImages``, every page);
:func:`referenced` reads the inventory (``imagemirror.inventory.scan`` results) read-only;
:func:`build` and the formatters are pure.

* Size is ``imageSizeInBytes`` summed per repository.  ECR reports each manifest's compressed
  layer size; layers shared between images are counted once per image, so the sum can exceed
  what ECR bills (it stores a shared layer once).  The cost is therefore an upper estimate.
  A multi-arch index reports its largest platform's size while ECR lists the platforms as
  images too, so an index's own size is left out where its repository holds untagged images.
* Cost is size in GiB x the Region's storage price per GB-month (``ecr.storage_price``, else
  :func:`regions.storage_price`, sourced there).
* Matching with PATHs: an image is *referenced* when one of its tags, or its digest, is what a
  values file names (directly on the cache, or as the target ``rewrite`` would write).
  Untagged images in a repository that holds a referenced multi-arch index are counted as
  referenced too (ECR caches an index's per-platform children untagged).
"""

from __future__ import annotations

import csv
import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from ..reference import InvalidReference, parse
from .regions import PRICE_SOURCE

GIB = 1024**3
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


@dataclass
class Repo:
    name: str
    prefix: str
    images: list[dict] = field(default_factory=list)  # {digest, tags, bytes, pushed, pulled, media}


def collect(client, prefixes: list[str], workers: int = 8) -> list[Repo]:
    """Every repository under a rule prefix, with its images (paginated throughout).

    Repositories are read ``workers`` at a time (each call waits on the network; botocore
    clients are thread-safe), each one's pages in order.
    """
    repos = [Repo(n, p) for n in client.repository_names() if (p := owner(n, prefixes)) is not None]

    def fill(repo: Repo) -> Repo:
        for d in client.images(repo.name):
            repo.images.append(
                {
                    "digest": d.get("imageDigest"),
                    "tags": list(d.get("imageTags") or []),
                    "bytes": int(d.get("imageSizeInBytes") or 0),
                    "pushed": d.get("imagePushedAt"),
                    "pulled": d.get("lastRecordedPullTime"),
                    "media": d.get("imageManifestMediaType"),
                }
            )
        return repo

    if len(repos) < 2:
        return [fill(r) for r in repos]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fill, repos))


def owner(name: str, prefixes: Iterable[str]) -> str | None:
    """The rule prefix a repository name belongs to (the longest), or None."""
    best = None
    for p in prefixes:
        if name.startswith(p + "/") and (best is None or len(p) > len(best)):
            best = p
    return best


def referenced(results, host: str, settings) -> dict[str, dict[str, list[str]]]:
    """repository -> {tag or digest -> [file:line, ...]} for every reference to the cache
    ``host``, as written or as ``rewrite`` would write it."""
    out: dict[str, dict[str, list[str]]] = {}
    for result in results:
        for ref in result.refs:
            if ref.suppressed:
                continue
            text = ref.target if ref.target else ref.written
            try:
                parsed = parse(text)
            except InvalidReference:
                continue
            if parsed.host != host:
                continue
            key = parsed.digest or parsed.tag or "latest"
            out.setdefault(parsed.path, {}).setdefault(key, []).append(f"{ref.file}:{ref.line}")
    return out


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def _latest(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def build(repos: list[Repo], prefixes: list[str], price: float | None, refs: dict | None = None) -> dict:
    """The report as plain data (see the module docstring for what each figure means)."""

    def cost(nbytes: int) -> float | None:
        return None if price is None else round(nbytes / GIB * price, 4)

    rows = []
    stale, cold = [], []
    cached_referenced = 0
    by_name = {r.name: r for r in repos}
    for repo in sorted(repos, key=lambda r: r.name):
        # An index's imageSizeInBytes is its largest platform's, and ECR lists the platforms
        # as images of their own: count their bytes, not the index's too.
        children = any(not i["tags"] for i in repo.images)
        for i in repo.images:
            i["counted"] = 0 if (children and i["media"] in _INDEX_TYPES) else i["bytes"]
        nbytes = sum(i["counted"] for i in repo.images)
        row = {
            "prefix": repo.prefix,
            "repository": repo.name,
            "images": len(repo.images),
            "bytes": nbytes,
            "last_pull": _iso(_latest([i["pulled"] for i in repo.images])),
            "never_pulled": sum(1 for i in repo.images if i["pulled"] is None),
            "monthly_cost": cost(nbytes),
        }
        if refs is not None:
            wanted = refs.get(repo.name, {})
            hit = [i for i in repo.images if i["digest"] in wanted or any(t in wanted for t in i["tags"])]
            index_hit = any(i["media"] in _INDEX_TYPES for i in hit)
            ok = {id(i) for i in hit}
            if index_hit:
                ok |= {id(i) for i in repo.images if not i["tags"]}
            row["referenced_images"] = len(ok)
            cached_referenced += len(ok)
            for i in repo.images:
                if id(i) not in ok:
                    stale.append(
                        {
                            "repository": repo.name,
                            "tags": sorted(i["tags"]),
                            "digest": i["digest"],
                            "bytes": i["counted"],
                            "last_pull": _iso(i["pulled"]),
                            "monthly_cost": cost(i["counted"]),
                        }
                    )
        rows.append(row)
    if refs is not None:
        for name in sorted(refs):
            repo = by_name.get(name)
            for key, where in sorted(refs[name].items()):
                present = repo is not None and any(i["digest"] == key or key in i["tags"] for i in repo.images)
                if not present:
                    sep = "@" if key.startswith("sha256:") else ":"
                    cold.append(
                        {
                            "repository": name,
                            "reference": f"{name}{sep}{key}",
                            "where": sorted(set(where)),
                            "prefix": owner(name, prefixes),
                        }
                    )
    groups = []
    for prefix in prefixes:
        mine = [r for r in rows if r["prefix"] == prefix]
        nbytes = sum(r["bytes"] for r in mine)
        groups.append(
            {
                "prefix": prefix,
                "repositories": len(mine),
                "images": sum(r["images"] for r in mine),
                "bytes": nbytes,
                "last_pull": max((r["last_pull"] for r in mine if r["last_pull"]), default=None),
                "monthly_cost": cost(nbytes),
            }
        )
    total = sum(r["bytes"] for r in rows)
    report: dict[str, Any] = {
        "price_per_gb_month": price,
        "prefixes": groups,
        "repositories": rows,
        "total": {"images": sum(r["images"] for r in rows), "bytes": total, "monthly_cost": cost(total)},
    }
    if refs is not None:
        report["cached_referenced"] = cached_referenced
        report["stale"] = stale
        report["cold"] = cold
        report["stale_bytes"] = sum(s["bytes"] for s in stale)
        report["stale_monthly_cost"] = cost(report["stale_bytes"])
    return report


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.2f}"


def format_text(report: dict, *, account: str, region: str, host: str) -> str:
    price = report["price_per_gb_month"]
    lines = [
        f"Cache usage of {host} (account {account}, {region}); storage at "
        + (f"${price:.3f} per GB-month" if price is not None else "an unknown price (set ecr.storage_price)")
        + ":"
    ]
    rows = report["repositories"]
    width = max([len(r["repository"]) + 2 for r in rows] + [len(g["prefix"]) + 1 for g in report["prefixes"]] + [10])
    lines.append(f"  {'REPOSITORY':<{width}}  {'IMAGES':>6}  {'SIZE':>10}  {'LAST PULL':<25}  {'PER MONTH':>10}")
    for g in report["prefixes"]:
        lines.append(
            f"  {g['prefix'] + '/':<{width}}  {g['images']:>6}  {size(g['bytes']):>10}  {(g['last_pull'] or 'never'):<25}  {money(g['monthly_cost']):>10}"
        )
        for r in rows:
            if r["prefix"] == g["prefix"]:
                lines.append(
                    f"    {r['repository']:<{width - 2}}  {r['images']:>6}  {size(r['bytes']):>10}  {(r['last_pull'] or 'never'):<25}  {money(r['monthly_cost']):>10}"
                )
    t = report["total"]
    lines.append(
        f"  {'total':<{width}}  {t['images']:>6}  {size(t['bytes']):>10}  {'':<25}  {money(t['monthly_cost']):>10}"
    )
    if "stale" in report:
        lines.append(f"Cached and referenced: {report['cached_referenced']} image(s).")
        lines.append(
            f"Cached but no longer referenced (lifecycle expiry candidates): {len(report['stale'])} image(s), "
            f"{size(report['stale_bytes'])}, {money(report['stale_monthly_cost'])} per month:"
        )
        for s in report["stale"]:
            name = s["repository"] + (":" + ",".join(s["tags"]) if s["tags"] else "@" + str(s["digest"]))
            lines.append(f"  {name}  {size(s['bytes'])}  last pull {s['last_pull'] or 'never'}")
        lines.append(f"Referenced but not cached yet (run `imagemirror warm PATH`): {len(report['cold'])}:")
        for c in report["cold"]:
            lines.append(f"  {c['reference']}  ({', '.join(c['where'][:3])}{', ...' if len(c['where']) > 3 else ''})")
    lines.append(
        f"Sizes are DescribeImages imageSizeInBytes (shared layers counted per image); price source: {PRICE_SOURCE}."
    )
    return "\n".join(lines) + "\n"


def format_json(report: dict, *, account: str, region: str, host: str) -> str:
    return json.dumps({"account": account, "region": region, "registry": host, **report}, indent=2, default=str) + "\n"


def format_csv(report: dict, *, account: str, region: str, host: str) -> str:
    """One row per repository, then (with PATHs) one per stale and per cold image."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["kind", "prefix", "repository", "reference", "images", "bytes", "last_pull", "monthly_cost_usd"])
    for r in report["repositories"]:
        w.writerow(
            [
                "repository",
                r["prefix"],
                r["repository"],
                "",
                r["images"],
                r["bytes"],
                r["last_pull"] or "",
                _num(r["monthly_cost"]),
            ]
        )
    for s in report.get("stale", []):
        ref = s["repository"] + (":" + ",".join(s["tags"]) if s["tags"] else "@" + str(s["digest"]))
        w.writerow(["stale", "", s["repository"], ref, 1, s["bytes"], s["last_pull"] or "", _num(s["monthly_cost"])])
    for c in report.get("cold", []):
        w.writerow(["cold", c["prefix"] or "", c["repository"], c["reference"], 0, 0, "", ""])
    return buf.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
