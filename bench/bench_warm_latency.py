#!/usr/bin/env python3
"""Benchmark the warm-up's orchestration alone: a registry that answers every request after a
fixed latency and costs no CPU (as a remote cache such as ECR looks from a client), so the time
shows how well manifests, blobs and confirmations overlap.

    python3 bench/bench_warm_latency.py                    # 40 images x 4 blobs, 50 ms, --jobs 8
    python3 bench/bench_warm_latency.py --latency-ms 20 --images 100

``bench/bench_warm.py`` measures the real thing against real servers on loopback, where the
cache's CPU is the bound; this one isolates what the client's pipelining is worth when the
bound is latency.  The registry object is handed to ``warm.warm_images`` like the real client.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from imagemirror.registry.client import OCI_MANIFEST, BlobResult, Manifest  # noqa: E402
from imagemirror.warm import targets_from_strings, warm_images  # noqa: E402

HOST = "cache.example.com"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class LatencyRegistry:
    """Manifests, blobs and "stored?" answers from memory, each after ``latency`` seconds."""

    def __init__(self, latency: float):
        self.latency = latency
        self.manifests: dict[tuple[str, str], Manifest] = {}
        self.sizes: dict[str, int] = {}
        self.requests = 0

    def add(self, repo: str, tag: str, layers: list[bytes]) -> None:
        config = json.dumps({"architecture": "amd64", "os": "linux", "repo": repo}).encode()
        blobs = [config, *layers]
        for blob in blobs:
            self.sizes[_digest(blob)] = len(blob)
        doc = {
            "mediaType": OCI_MANIFEST,
            "config": {"digest": _digest(config), "size": len(config)},
            "layers": [{"digest": _digest(b), "size": len(b)} for b in layers],
        }
        body = json.dumps(doc).encode()
        self.manifests[(repo, tag)] = Manifest(_digest(body), OCI_MANIFEST, body)

    def _wait(self) -> None:
        self.requests += 1
        time.sleep(self.latency)

    def get_manifest(self, host, repo, reference):
        self._wait()
        return self.manifests[(repo, reference)]

    def manifest_served(self, host, repo, digest):
        self._wait()
        return True

    def fetch_blob(self, host, repo, digest, size=None, progress=None):
        self._wait()
        return BlobResult(digest, self.sizes[digest], 1, cached=False)

    def blob_stored(self, host, repo, digest):
        self._wait()
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    times = []
    for _ in range(args.rounds):
        reg = LatencyRegistry(args.latency_ms / 1000)
        for i in range(args.images):
            reg.add(f"bench/app{i}", "1", [f"layer {i}.{k}".encode() for k in range(args.layers)])
        targets = targets_from_strings(f"{HOST}/bench/app{i}:1" for i in range(args.images))
        start = time.perf_counter()
        results = warm_images(targets, reg, jobs=args.jobs, settle=30)
        times.append(time.perf_counter() - start)
        if not all(r.ok for r in results):
            raise SystemExit("warm failed: " + "; ".join(r.error or "" for r in results if not r.ok))
    blobs = args.images * (args.layers + 1)
    # what the request count alone allows: every request needs a worker for one latency
    floor = reg.requests * args.latency_ms / 1000 / (3 * args.jobs)
    serial = reg.requests * args.latency_ms / 1000
    med = statistics.median(times)
    print(
        f"warm orchestration: {args.images} images x {args.layers + 1} blobs, {args.latency_ms:g} ms per request, "
        f"--jobs {args.jobs}, {reg.requests} requests (manifests, blobs, confirmations)"
    )
    print(
        f"  median {med:.2f} s (min {min(times):.2f} s) of {args.rounds}; one request at a time would take "
        f"{serial:.1f} s ({serial / med:.0f}x); blobs alone on {args.jobs} workers "
        f"{blobs * args.latency_ms / 1000 / args.jobs:.2f} s; all three pools busy all the time {floor:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
