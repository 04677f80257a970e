"""The warm-up's orchestration with an in-memory registry handed in (the client is an
injected adapter; the real one is exercised against real servers in tests/integration):
order of requests, bounded concurrency, shared blobs, platforms, pinned digests, settling."""

from __future__ import annotations

import hashlib
import json
import threading
import time

from imagemirror.registry.client import OCI_INDEX, OCI_MANIFEST, BlobResult, Manifest, RegistryError
from imagemirror.warm import PINNED_NOT_CACHED, targets_from_strings, warm_images

HOST = "cache.example.com"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class MemoryRegistry:
    """Serves manifests and blobs from dicts; records calls; tracks concurrent blob fetches."""

    def __init__(self, stored_after: int = 0):
        self.manifests: dict[tuple[str, str], Manifest] = {}
        self.blobs: dict[str, bytes] = {}
        self.calls: list[tuple] = []
        self.lock = threading.Lock()
        self.inflight = 0
        self.max_inflight = 0
        self.stored_after = stored_after  # blob_stored says False this many times per blob
        self.stored_asks: dict[str, int] = {}

    def image(self, repo: str, tag: str | None, layers: list[bytes], arch: str = "amd64") -> Manifest:
        config = json.dumps({"architecture": arch, "os": "linux"}).encode()
        self.blobs[digest(config)] = config
        for layer in layers:
            self.blobs[digest(layer)] = layer
        doc = {
            "mediaType": OCI_MANIFEST,
            "config": {"digest": digest(config), "size": len(config)},
            "layers": [{"digest": digest(b), "size": len(b)} for b in layers],
        }
        body = json.dumps(doc).encode()
        manifest = Manifest(digest(body), OCI_MANIFEST, body)
        self.manifests[(repo, manifest.digest)] = manifest
        if tag:
            self.manifests[(repo, tag)] = manifest
        return manifest

    def index(self, repo: str, tag: str, children: list[tuple[Manifest, str]]) -> Manifest:
        doc = {
            "mediaType": OCI_INDEX,
            "manifests": [
                {"digest": m.digest, "platform": {"os": "linux", "architecture": arch}} for m, arch in children
            ],
        }
        body = json.dumps(doc).encode()
        manifest = Manifest(digest(body), OCI_INDEX, body)
        self.manifests[(repo, tag)] = self.manifests[(repo, manifest.digest)] = manifest
        return manifest

    def get_manifest(self, host, repo, reference):
        self.calls.append(("manifest", repo, reference))
        try:
            return self.manifests[(repo, reference)]
        except KeyError:
            raise RegistryError(
                f"{host}/{repo}:{reference}: HTTP 404 manifest unknown", status=404, code="MANIFEST_UNKNOWN"
            ) from None

    def manifest_served(self, host, repo, dgst):
        self.calls.append(("served", repo, dgst))
        return (repo, dgst) in self.manifests

    def fetch_blob(self, host, repo, dgst, size=None, progress=None):
        with self.lock:
            self.calls.append(("blob", repo, dgst))
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            time.sleep(0.005)  # let fetches overlap
            data = self.blobs[dgst]
            if progress:
                progress(len(data))
            return BlobResult(dgst, len(data), 1, cached=False)
        finally:
            with self.lock:
                self.inflight -= 1

    def blob_stored(self, host, repo, dgst):
        with self.lock:
            asked = self.stored_asks[dgst] = self.stored_asks.get(dgst, 0) + 1
        return asked > self.stored_after


def refs(*texts):
    return targets_from_strings(f"{HOST}/{t}" for t in texts)


def test_manifest_by_tag_first_then_blobs():
    reg = MemoryRegistry()
    m = reg.image("docker-hub/library/nginx", "1.25", [b"layer-1", b"layer-2"])
    [result] = warm_images(refs(f"docker-hub/library/nginx:1.25@{m.digest}"), reg, jobs=2, settle=0)
    assert result.ok, result.error
    assert reg.calls[0] == ("manifest", "docker-hub/library/nginx", "1.25")
    assert reg.calls[-1] == ("served", "docker-hub/library/nginx", m.digest)
    assert result.blobs == 3 and result.fetched_blobs == 3 and result.cache == "fetched"


def test_concurrency_is_bounded_across_images_and_blobs():
    reg = MemoryRegistry()
    for i in range(12):
        reg.image(f"p/app{i}", "1", [f"{i}-{j}".encode() for j in range(5)])
    results = warm_images(refs(*(f"p/app{i}:1" for i in range(12))), reg, jobs=3, settle=0)
    assert all(r.ok for r in results)
    assert 1 < reg.max_inflight <= 3


def test_a_blob_shared_by_two_images_of_one_repository_is_fetched_once():
    reg = MemoryRegistry()
    reg.image("p/app", "1", [b"base", b"one"])
    reg.image("p/app", "2", [b"base", b"two"])
    results = warm_images(refs("p/app:1", "p/app:2"), reg, jobs=4, settle=0)
    assert all(r.ok for r in results)
    blob_calls = [c for c in reg.calls if c[0] == "blob"]
    assert len(blob_calls) == len({c[2] for c in blob_calls}) == 4  # one shared config, base, one, two
    assert results[0].bytes == results[1].bytes - len(b"two") + len(b"one")


def test_index_platform_selection():
    reg = MemoryRegistry()
    amd = reg.image("p/multi", None, [b"amd-layer"], "amd64")
    arm = reg.image("p/multi", None, [b"arm-layer"], "arm64")
    reg.index("p/multi", "3", [(amd, "amd64"), (arm, "arm64")])
    [everything] = warm_images(refs("p/multi:3"), reg, settle=0)
    assert everything.platforms == ["linux/amd64", "linux/arm64"]
    reg.calls.clear()
    [one] = warm_images(refs("p/multi:3"), reg, platform="linux/arm64", settle=0)
    assert one.platforms == ["linux/arm64"]
    assert {c[2] for c in reg.calls if c[0] == "blob"} == {
        digest(b"arm-layer"),
        *(d["digest"] for d in [json.loads(arm.body)["config"]]),
    }
    [none] = warm_images(refs("p/multi:3"), reg, platform="windows/amd64", settle=0)
    assert none.status == "failed" and "no manifest for platform windows/amd64" in none.error


def test_pinned_digest_moved_and_not_cached():
    reg = MemoryRegistry()
    reg.image("p/app", "1", [b"new"])
    [result] = warm_images(refs(f"p/app:1@sha256:{'0' * 64}"), reg, settle=0)
    assert result.status == "failed" and PINNED_NOT_CACHED in result.error


def test_pinned_digest_moved_but_still_cached_warms_the_pinned_image():
    reg = MemoryRegistry()
    old = reg.image("p/app", None, [b"old"])
    reg.image("p/app", "1", [b"new"])
    [result] = warm_images(refs(f"p/app:1@{old.digest}"), reg, settle=0)
    assert result.ok and result.digest == old.digest
    assert ("blob", "p/app", digest(b"old")) in reg.calls


def test_digest_only_reference_is_pulled_by_digest():
    reg = MemoryRegistry()
    m = reg.image("p/app", None, [b"x"])
    [result] = warm_images(refs(f"p/app@{m.digest}"), reg, settle=0)
    assert result.ok
    assert reg.calls[0] == ("manifest", "p/app", m.digest)


def test_untagged_reference_means_latest():
    reg = MemoryRegistry()
    reg.image("p/app", "latest", [b"x"])
    [result] = warm_images(refs("p/app"), reg, settle=0)
    assert result.ok and result.image == f"{HOST}/p/app:latest"


def test_waits_for_the_cache_to_confirm_streamed_blobs():
    reg = MemoryRegistry(stored_after=2)
    reg.image("p/app", "1", [b"a", b"b"])
    sleeps = []
    [result] = warm_images(refs("p/app:1"), reg, settle=30, sleep=sleeps.append)
    assert result.ok and result.unconfirmed_blobs == 0
    assert sleeps == [0.05, 0.1]  # backing off between HEADs


def test_unconfirmed_blobs_are_counted_when_settle_runs_out():
    reg = MemoryRegistry(stored_after=1000)
    reg.image("p/app", "1", [b"a"])
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    [result] = warm_images(refs("p/app:1"), reg, settle=2, sleep=sleep, clock=lambda: now[0])
    assert result.ok and result.unconfirmed_blobs == 2
    assert now[0] <= 2


def test_a_host_that_never_confirms_is_waited_for_once():
    reg = MemoryRegistry(stored_after=1000)
    for i in range(4):
        reg.image(f"p/app{i}", "1", [f"layer{i}".encode()])
    now = [0.0]
    lock = threading.Lock()

    def sleep(seconds):
        with lock:
            now[0] += seconds

    results = warm_images(
        refs(*(f"p/app{i}:1" for i in range(4))), reg, jobs=1, settle=2, sleep=sleep, clock=lambda: now[0]
    )
    assert all(r.ok for r in results)
    assert [r.unconfirmed_blobs for r in results] == [2, 2, 2, 2]
    assert now[0] <= 2  # only the first image waited


def test_a_silent_host_is_waited_for_once_when_settles_run_concurrently():
    asked: set[str] = set()

    class Registry(MemoryRegistry):
        def blob_stored(self, host, repo, dgst):
            with self.lock:
                asked.add(repo)
            time.sleep(0.02)  # let settles overlap (whatever the timing, only one may ask)
            return super().blob_stored(host, repo, dgst)

    reg = Registry(stored_after=1000)
    for i in range(6):
        reg.image(f"p/app{i}", "1", [f"layer{i}".encode()])
    now = [0.0]
    lock = threading.Lock()

    def sleep(seconds):
        with lock:
            now[0] += seconds

    results = warm_images(
        refs(*(f"p/app{i}:1" for i in range(6))), reg, jobs=4, settle=2, sleep=sleep, clock=lambda: now[0]
    )
    assert all(r.ok for r in results)
    assert [r.unconfirmed_blobs for r in results] == [2] * 6
    assert len(asked) == 1  # the first settle on the host probed; the others took its answer
    assert now[0] <= 2


def test_next_image_is_fetched_while_the_previous_one_settles():
    """Confirming that the cache stored an image's blobs runs beside the fetches: with one job,
    the second image's manifest is requested while the first image still waits to settle."""
    second_manifest = threading.Event()

    class Registry(MemoryRegistry):
        def get_manifest(self, host, repo, reference):
            if repo == "p/app1":
                second_manifest.set()
            return super().get_manifest(host, repo, reference)

        def blob_stored(self, host, repo, dgst):
            if repo == "p/app0":
                # a deadlock guard, not a timing assertion: the answer is recorded below
                self.overlapped = second_manifest.wait(10)
            return True

    reg = Registry()
    reg.overlapped = None
    reg.image("p/app0", "1", [b"a"])
    reg.image("p/app1", "1", [b"b"])
    results = warm_images(refs("p/app0:1", "p/app1:1"), reg, jobs=1, settle=30)
    assert all(r.ok and r.unconfirmed_blobs == 0 for r in results)
    assert reg.overlapped is True


def test_progress_events():
    reg = MemoryRegistry()
    reg.image("p/app", "1", [b"12345"])
    events = []

    class Recorder:
        def start(self, target):
            events.append(("start", target.name))

        def advance(self, target, n):
            events.append(("bytes", n))

        def finish(self, result):
            events.append(("finish", result.status))

    warm_images(refs("p/app:1", "p/missing:1"), reg, jobs=1, progress=Recorder(), settle=0)
    assert events[0] == ("start", f"{HOST}/p/app:1")
    assert ("bytes", 5) in events
    assert events.count(("finish", "ok")) == 1 and events.count(("finish", "failed")) == 1


class MemoryEngine:
    """Stands in for registry.engine.DockerEngine: knows some images, fails pinned digests."""

    def __init__(self, known):
        self.known = known
        self.pulled = []

    def pull(self, host, repository, tag, digest, platform=None, progress=None):
        from imagemirror.registry.engine import EngineError, PullResult

        self.pulled.append((repository, tag, digest, platform))
        if (repository, tag) not in self.known:
            raise EngineError(f"{host}/{repository}:{tag}: manifest unknown: manifest unknown")
        if digest and digest != self.known[(repository, tag)]:
            raise EngineError(f"{host}/{repository}@{digest}: manifest unknown", pinned=True)
        return PullResult("sha256:" + "e" * 64, 1234, 0.0)


def test_engine_results_hints_and_deadline():
    from imagemirror.warm import warm_with_engine

    good = "sha256:" + "1" * 64
    engine = MemoryEngine({("docker-hub/library/nginx", "1"): good, ("docker-hub/team/app", "2"): good})
    targets = refs("docker-hub/library/nginx:1", "docker-hub/nginx:1", f"docker-hub/team/app:2@sha256:{'2' * 64}")
    ok, wrong, moved = warm_with_engine(targets, engine, jobs=1, platform="linux/arm64")
    assert ok.ok and ok.engine == "docker" and ok.bytes == 1234 and ok.platforms == ["linux/arm64"]
    assert engine.pulled[0] == ("docker-hub/library/nginx", "1", None, "linux/arm64")
    assert wrong.status == "failed" and "library/" in wrong.hint
    assert moved.status == "failed" and PINNED_NOT_CACHED in moved.error and "pin the new digest" in moved.hint
    now = [0.0]

    def clock():
        now[0] += 10
        return now[0]

    late = warm_with_engine(refs("docker-hub/library/nginx:1"), engine, deadline=5, clock=clock)
    assert late[0].status == "failed" and "deadline exceeded" in late[0].error
