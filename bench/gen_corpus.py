#!/usr/bin/env python3
"""Deterministic synthetic corpus of bitnami-style Helm values files, for the benchmarks.

    python3 bench/gen_corpus.py OUT_DIR [--files 1000] [--avg-bytes 13500] [--seed 1]

Default: 1,000 files totalling about 13.5 MB, laid out like a GitOps monorepo
(``apps/<team>/<app>-<n>/values[-<env>].yaml``) with an ``.imagemirror.yaml`` at the top
naming a cache registry.  The content imitates real charts: ``## @param`` comment blocks,
blank lines, ``image:`` maps ``{registry, repository, tag, digest}`` at various depths
(main image, ``metrics``/``volumePermissions`` sidecars, subchart sections two or three
levels down), string images (``image: quay.io/x/y:v1``, in sidecar lists, quoted or not),
commented-out examples (``##   image: your-image``), multi-line block scalars, and about one
file in eight without any image at all.

File ``i`` depends only on ``(seed, i)``: the first 100 files of a 10,000-file corpus are the
100 files of a 100-file corpus, so corpora of different sizes are comparable.
Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from pathlib import Path

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
CONFIG = f"""# imagemirror settings for the benchmark corpus
registry: {REGISTRY}
"""

TEAMS = ("payments", "platform", "data", "search", "identity", "edge", "observability", "ml")
ENVS = ("", "", "-staging", "-prod", "-dev")

# (registry, repository, tag) of map-shaped images, as bitnami writes them.
MAP_IMAGES = (
    ("docker.io", "bitnami/redis", "8.2.1-debian-12-r0"),
    ("docker.io", "bitnami/redis-sentinel", "8.2.1-debian-12-r0"),
    ("docker.io", "bitnami/postgresql", "17.6.0-debian-12-r0"),
    ("docker.io", "bitnami/mongodb", "8.0.13-debian-12-r0"),
    ("docker.io", "bitnami/keycloak", "26.3.3-debian-12-r0"),
    ("docker.io", "bitnami/wordpress", "6.8.2-debian-12-r5"),
    ("docker.io", "bitnami/mariadb", "11.8.3-debian-12-r0"),
    ("docker.io", "bitnami/kafka", "4.0.0-debian-12-r10"),
    ("docker.io", "bitnami/rabbitmq", "4.1.3-debian-12-r1"),
    ("docker.io", "bitnami/nginx", "1.29.1-debian-12-r0"),
    ("docker.io", "bitnami/memcached", "1.6.39-debian-12-r2"),
    ("docker.io", "bitnami/os-shell", "12-debian-12-r50"),
    ("docker.io", "bitnami/redis-exporter", "1.76.0-debian-12-r0"),
    ("docker.io", "bitnami/postgres-exporter", "0.17.1-debian-12-r16"),
    ("docker.io", "bitnami/mongodb-exporter", "0.47.0-debian-12-r2"),
    ("docker.io", "bitnami/kubectl", "1.33.4-debian-12-r0"),
    ("docker.io", "library/busybox", "1.37.0"),
    ("quay.io", "prometheus/node-exporter", "v1.9.1"),
    ("quay.io", "jetstack/cert-manager-controller", "v1.18.2"),
    ("ghcr.io", "dexidp/dex", "v2.43.1"),
    ("registry.k8s.io", "ingress-nginx/controller", "v1.13.1"),
    ("public.ecr.aws", "eks/aws-load-balancer-controller", "v2.13.4"),
    ("registry.example.internal", "team/tooling", "2024.11.3"),
)
# String-shaped images (``image: <ref>``).
STRING_IMAGES = (
    "busybox:1.36",
    "alpine:3.20",
    "nginx:1.27-alpine",
    "quay.io/prometheus/prometheus:v3.5.0",
    "quay.io/oauth2-proxy/oauth2-proxy:v7.12.0",
    "ghcr.io/fluxcd/source-controller:v1.6.2",
    "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.16.0",
    "docker.io/grafana/grafana:12.1.1",
    "curlimages/curl:8.15.0",
    "public.ecr.aws/docker/library/redis:7.4",
    "gcr.io/distroless/static:nonroot",
)
SUBCHARTS = ("postgresql", "redis", "mongodb", "mariadb", "memcached", "rabbitmq", "kafka")
WORDS = (
    "enable",
    "disable",
    "the",
    "deployment",
    "service",
    "account",
    "replica",
    "count",
    "annotations",
    "labels",
    "to",
    "add",
    "all",
    "objects",
    "pods",
    "containers",
    "security",
    "context",
    "persistence",
    "volume",
    "claim",
    "storage",
    "class",
    "size",
    "timeout",
    "seconds",
    "probe",
    "liveness",
    "readiness",
    "startup",
    "resources",
    "limits",
    "requests",
    "network",
    "policy",
    "ingress",
    "egress",
    "metrics",
    "exporter",
    "scrape",
    "interval",
)
PARAMS = (
    ("replicaCount", "1"),
    ("updateStrategy", None),
    ("podAnnotations", "{}"),
    ("podLabels", "{}"),
    ("priorityClassName", '""'),
    ("schedulerName", '""'),
    ("terminationGracePeriodSeconds", '""'),
    ("hostAliases", "[]"),
    ("nodeSelector", "{}"),
    ("tolerations", "[]"),
    ("affinity", "{}"),
    ("extraEnvVars", "[]"),
    ("extraEnvVarsCM", '""'),
    ("extraEnvVarsSecret", '""'),
    ("extraVolumes", "[]"),
    ("extraVolumeMounts", "[]"),
    ("lifecycleHooks", "{}"),
    ("topologySpreadConstraints", "[]"),
    ("automountServiceAccountToken", "false"),
    ("runtimeClassName", '""'),
    ("containerPorts", None),
    ("livenessProbe", None),
    ("readinessProbe", None),
    ("resources", None),
    ("podSecurityContext", None),
    ("containerSecurityContext", None),
    ("persistence", None),
    ("service", None),
    ("networkPolicy", None),
    ("pdb", None),
    ("autoscaling", None),
    ("serviceAccount", None),
    ("rbac", None),
    ("configuration", "|"),
)


class Writer:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.lines: list[str] = []
        self.size = 0

    def add(self, line: str = "") -> None:
        self.lines.append(line)
        self.size += len(line) + 1

    def sentence(self, lo: int = 4, hi: int = 14) -> str:
        words = [self.rng.choice(WORDS) for _ in range(self.rng.randint(lo, hi))]
        return " ".join(words).capitalize()


def _digest(rng: random.Random) -> str:
    return "sha256:" + hashlib.sha256(rng.randbytes(16)).hexdigest()


def image_map(w: Writer, indent: str, dotted: str, image: tuple[str, str, str]) -> None:
    """A bitnami image block: comment block, then registry/repository/tag/digest and extras."""
    rng = w.rng
    registry, repository, tag = image
    name = repository.rsplit("/", 1)[-1]
    w.add(f"{indent}## Bitnami {name} image")
    w.add(f"{indent}## ref: https://hub.docker.com/r/{repository}/tags/")
    for key, text in (
        ("registry", "[default: REGISTRY_NAME] image registry"),
        ("repository", "[default: REPOSITORY_NAME] image repository"),
        ("tag", "image tag (immutable tags are recommended)"),
        ("digest", "image digest in the way sha256:aa.... Please note this parameter, if set, will override the tag"),
        ("pullPolicy", "image pull policy"),
        ("pullSecrets", "image pull secrets"),
    ):
        verb = "@skip" if key == "tag" else "@param"
        w.add(f"{indent}## {verb} {dotted}.{key} {name} {text}")
    w.add(f"{indent}##")
    w.add(f"{indent}image:")
    sub = indent + "  "
    style = rng.random()
    if rng.random() < 0.08:  # registry omitted: repository carries the host or defaults to Hub
        w.add(
            f"{sub}repository: {registry}/{repository}" if registry != "docker.io" else f"{sub}repository: {repository}"
        )
    else:
        w.add(f"{sub}registry: {registry}")
        if style < 0.15:
            w.add(f'{sub}repository: "{repository}"')
        elif style < 0.2:
            w.add(f"{sub}repository: '{repository}'")
        else:
            w.add(f"{sub}repository: {repository}")
    if style < 0.15:
        w.add(f'{sub}tag: "{tag}"')
    else:
        w.add(f"{sub}tag: {tag}")
    if rng.random() < 0.12:
        w.add(f"{sub}digest: {_digest(rng)}")
    else:
        w.add(f'{sub}digest: ""')
    w.add(f"{sub}## Specify a imagePullPolicy")
    w.add(f"{sub}## ref: https://kubernetes.io/docs/concepts/containers/images/#pre-pulled-images")
    w.add(f"{sub}##")
    w.add(f"{sub}pullPolicy: IfNotPresent")
    w.add(f"{sub}## Optionally specify an array of imagePullSecrets.")
    w.add(f"{sub}## Secrets must be manually created in the namespace.")
    w.add(f"{sub}## e.g:")
    w.add(f"{sub}## pullSecrets:")
    w.add(f"{sub}##   - myRegistryKeySecretName")
    w.add(f"{sub}##")
    w.add(f"{sub}pullSecrets: []")
    if rng.random() < 0.5:
        w.add(f"{sub}## Enable debug mode")
        w.add(f"{sub}##")
        w.add(f"{sub}debug: false")


def fresh(rng: random.Random, used: set[str], key: str) -> str:
    """``key``, or a made-up key of the same flavour when the mapping already has it."""
    while key in used:
        key = rng.choice(WORDS) + rng.choice(WORDS).capitalize() + rng.choice(WORDS).capitalize()
    used.add(key)
    return key


def param(w: Writer, indent: str, dotted: str, key: str, value: str | None) -> None:
    rng = w.rng
    w.add(f"{indent}## @param {dotted}{key} {w.sentence()}")
    if rng.random() < 0.4:
        w.add(f"{indent}## ref: https://kubernetes.io/docs/concepts/{rng.choice(WORDS)}/{rng.choice(WORDS)}/")
    w.add(f"{indent}##")
    if value == "|":
        w.add(f"{indent}{key}: |-")
        for _ in range(rng.randint(2, 6)):
            w.add(f"{indent}  # {w.sentence(2, 6).lower()}")
            w.add(f"{indent}  {rng.choice(WORDS)} {rng.choice(WORDS)} {rng.randint(0, 999)}")
    elif value is not None:
        w.add(f"{indent}{key}: {value}")
    else:
        w.add(f"{indent}{key}:")
        sub = indent + "  "
        used: set[str] = set()
        for _ in range(rng.randint(2, 5)):
            k = fresh(rng, used, rng.choice(WORDS) + rng.choice(WORDS).capitalize())
            w.add(f"{sub}## @param {dotted}{key}.{k} {w.sentence(3, 9)}")
            v = rng.choice(("true", "false", '""', "{}", "[]", str(rng.randint(1, 600)), "IfNotPresent", '"1Gi"'))
            w.add(f"{sub}{k}: {v}")
    if rng.random() < 0.25:
        w.add("")


def commented_example(w: Writer, indent: str, used: set[str]) -> None:
    """A commented-out sidecar example, as bitnami ships (never an image reference)."""
    w.add(f"{indent}## e.g:")
    w.add(f"{indent}## sidecars:")
    w.add(f"{indent}##   - name: your-image-name")
    w.add(f"{indent}##     image: your-image")
    w.add(f"{indent}##     imagePullPolicy: Always")
    w.add(f"{indent}##     ports:")
    w.add(f"{indent}##       - name: portname")
    w.add(f"{indent}##         containerPort: 1234")
    w.add(f"{indent}##")
    w.add(f"{indent}{fresh(w.rng, used, 'sidecars')}: []")


def sidecars(w: Writer, indent: str, used: set[str]) -> None:
    """A list of containers with string images, quoted or plain."""
    rng = w.rng
    w.add(f"{indent}## @param initContainers Add additional init containers")
    w.add(f"{indent}{fresh(rng, used, 'initContainers')}:")
    for i in range(rng.randint(1, 3)):
        ref = rng.choice(STRING_IMAGES)
        q = rng.choice(("", "", '"', "'"))
        w.add(f"{indent}  - name: init-{i}")
        w.add(f"{indent}    image: {q}{ref}{q}")
        w.add(f"{indent}    imagePullPolicy: IfNotPresent")
        w.add(f"{indent}    command: ['/bin/sh', '-ec', 'echo {rng.choice(WORDS)}']")


def component(w: Writer, indent: str, dotted: str, with_image: bool, budget: int, used: set[str]) -> None:
    """A chart component (primary, metrics, ...): an image, then params until ``budget`` bytes.

    ``used`` holds the keys already in the mapping being written (keys stay unique).
    """
    rng = w.rng
    start = w.size
    if with_image and "image" not in used:
        used.add("image")
        image_map(w, indent, dotted + "image", rng.choice(MAP_IMAGES))
    while w.size - start < budget:
        r = rng.random()
        if r < 0.05:
            commented_example(w, indent, used)
        elif r < 0.08 and with_image:
            sidecars(w, indent, used)
        else:
            key, value = rng.choice(PARAMS)
            param(w, indent, dotted, fresh(rng, used, key), value)


def values_file(seed: int, index: int, avg_bytes: int) -> str:
    rng = random.Random(seed * 1_000_003 + index)
    target = max(
        600, int(rng.lognormvariate(0, 0.6) * avg_bytes / 1.30)
    )  # E[lognorm(0,.6)] = 1.197; components overshoot
    w = Writer(rng)
    w.add("# Copyright Broadcom, Inc. All Rights Reserved.")
    w.add("# SPDX-License-Identifier: APACHE-2.0")
    w.add("")
    w.add("## @section Global parameters")
    w.add("## @param global.imageRegistry Global Docker image registry")
    w.add("## @param global.imagePullSecrets Global Docker registry secret names as an array")
    w.add("##")
    w.add("global:")
    w.add('  imageRegistry: ""')
    w.add("  ## E.g.")
    w.add("  ## imagePullSecrets:")
    w.add("  ##   - myRegistryKeySecretName")
    w.add("  ##")
    w.add("  imagePullSecrets: []")
    w.add('  defaultStorageClass: ""')
    w.add("")
    top = {"global"}
    has_images = rng.random() >= 0.125
    if has_images and rng.random() < 0.2:
        ref = rng.choice(STRING_IMAGES)
        top.add("image")
        w.add("## @param image Container image")
        w.add(f"image: {ref}" if rng.random() < 0.6 else f'image: "{ref}"')
    # Top-level component, then nested ones (metrics, volumePermissions), then subcharts.
    component(w, "", "", has_images, target // 3, top)
    parts = ["metrics", "volumePermissions", "sentinel", "replica", "arbiter", "hidden"]
    rng.shuffle(parts)
    for name in parts[: rng.randint(1, 3)]:
        if w.size >= target * 0.8:
            break
        w.add("")
        w.add(f"## @section {name} parameters")
        w.add("##")
        name = fresh(rng, top, name)
        w.add(f"{name}:")
        w.add(f"  ## @param {name}.enabled Enable {name}")
        w.add(f"  enabled: {rng.choice(('true', 'false'))}")
        component(w, "  ", f"{name}.", has_images and rng.random() < 0.8, target // 8, {"enabled"})
    while w.size < target:
        sub = rng.choice(SUBCHARTS)
        n = 2
        while sub in top:
            sub = f"{rng.choice(SUBCHARTS)}-{n}"
            n += 1
        top.add(sub)
        w.add("")
        w.add(f"## @section {sub} sub-chart parameters")
        w.add("##")
        w.add(f"{sub}:")
        w.add(f"  ## @param {sub}.enabled Deploy the {sub} sub-chart")
        w.add("  enabled: true")
        used = {"enabled"}
        component(w, "  ", f"{sub}.", has_images and rng.random() < 0.7, target // 10, used)
        if has_images and rng.random() < 0.5:
            w.add(f"  {fresh(rng, used, 'primary')}:")
            w.add("    metrics:")
            image_map(w, "      ", f"{sub}.primary.metrics.image", rng.choice(MAP_IMAGES))
    return "\n".join(w.lines) + "\n"


def file_path(seed: int, index: int) -> str:
    rng = random.Random(seed * 7_000_001 + index)
    team = rng.choice(TEAMS)
    env = rng.choice(ENVS)
    return f"apps/{team}/app-{index:05d}/values{env}.yaml"


def generate(out: Path, files: int = 1000, avg_bytes: int = 13_500, seed: int = 1) -> tuple[list[Path], int]:
    """Write the corpus under ``out``; return the files written and their total size."""
    out.mkdir(parents=True, exist_ok=True)
    (out / ".imagemirror.yaml").write_text(CONFIG)
    written: list[Path] = []
    total = 0
    for i in range(files):
        path = out / file_path(seed, i)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = values_file(seed, i, avg_bytes).encode()
        path.write_bytes(data)
        written.append(path)
        total += len(data)
    return written, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="directory to write (created)")
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--avg-bytes", type=int, default=13_500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    files, total = generate(args.out, args.files, args.avg_bytes, args.seed)
    print(f"{len(files)} files, {total / 1e6:.2f} MB in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
