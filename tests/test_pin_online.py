"""The network edges of pinning, with registry clients faked in-process: ``pin`` confirming
against the upstream, ``check --online`` drift (IM008, IM009), offline ``check`` opening no
socket, ``warm --pin``'s choice of digests, and ``renovate-config --pin-digests``."""

from __future__ import annotations

import io
import json
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from imagemirror.cli import main
from imagemirror.commands.check import check_paths
from imagemirror.commands.pin import Resolver, pin_paths
from imagemirror.commands.renovate import renovate_doc
from imagemirror.commands.warm import pinnable_digests
from imagemirror.drift import drift_findings
from imagemirror.errors import Exit
from imagemirror.registry.client import RegistryError
from imagemirror.warm import ImageResult

REG = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


@dataclass
class _Manifest:
    digest: str


class FakeRegistry:
    """``get_manifest`` over ``{(host, repo, tag or digest): digest}``; a missing one is a 404."""

    def __init__(self, entries: dict, fail: set | None = None):
        self.entries = entries
        self.fail = fail or set()
        self.calls: list[tuple] = []

    def get_manifest(self, host, repo, reference):
        self.calls.append((host, repo, reference))
        if (host, repo) in self.fail:
            raise RegistryError(f"{host}/{repo}: connection failed: refused", retryable=True)
        if reference.startswith("sha256:"):
            if reference in {d for (h, r, _), d in self.entries.items() if (h, r) == (host, repo)}:
                return _Manifest(reference)
        elif (host, repo, reference) in self.entries:
            return _Manifest(self.entries[(host, repo, reference)])
        raise RegistryError(f"{host}/{repo}:{reference}: HTTP 404 MANIFEST_UNKNOWN", status=404)


def repo(tmp_path: Path, text: str) -> Path:
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    values = tmp_path / "values.yaml"
    values.write_text(text)
    return values


def test_pin_confirms_upstream_and_refuses_when_cache_and_upstream_disagree(tmp_path, capsys):
    values = repo(tmp_path, f"a:\n  image: {REG}/docker-hub/library/nginx:1.25\nb:\n  image: {REG}/quay/team/app:v1\n")
    cache = FakeRegistry({(REG, "docker-hub/library/nginx", "1.25"): A, (REG, "quay/team/app", "v1"): A})
    upstream = FakeRegistry({("registry-1.docker.io", "library/nginx", "1.25"): A, ("quay.io", "team/app", "v1"): B})
    resolver = Resolver(cache, {"docker-hub": "docker.io", "quay": "quay.io"}, upstream)
    out = io.StringIO()
    code = pin_paths([values], resolver=resolver, stdout=out)
    err = capsys.readouterr().err
    assert code == Exit.FINDINGS
    assert f"the cache serves {A}, but the upstream tag now resolves to {B}" in err
    assert values.read_text() == (
        f"a:\n  image: {REG}/docker-hub/library/nginx:1.25@{A}  # imagemirror: pinned\n"
        f"b:\n  image: {REG}/quay/team/app:v1\n"
    )
    assert ("registry-1.docker.io", "library/nginx", "1.25") in upstream.calls  # Docker Hub's API host


def test_pin_notes_an_unreachable_upstream_and_still_pins(tmp_path, capsys):
    values = repo(tmp_path, f"image: {REG}/quay/team/app:v1\n")
    cache = FakeRegistry({(REG, "quay/team/app", "v1"): A})
    upstream = FakeRegistry({}, fail={("quay.io", "team/app")})
    code = pin_paths([values], resolver=Resolver(cache, {"quay": "quay.io"}, upstream), stdout=io.StringIO())
    assert code == Exit.OK
    assert "not confirmed upstream" in capsys.readouterr().err
    assert A in values.read_text()


def test_pin_fails_an_unresolvable_tag_and_pins_the_rest(tmp_path, capsys):
    values = repo(tmp_path, f"a: {{image: {REG}/quay/team/app:v1}}\nb: {{image: {REG}/quay/team/gone:v9}}\n")
    cache = FakeRegistry({(REG, "quay/team/app", "v1"): A})
    code = pin_paths([values], resolver=Resolver(cache), stdout=io.StringIO())
    assert code == Exit.FINDINGS
    assert "cannot resolve the tag" in capsys.readouterr().err
    assert values.read_text().count("@sha256:") == 1


class FakeResolver:
    def __init__(self, tags: dict, held: set, errors: dict | None = None):
        self.tags, self.held, self.errors = tags, held, errors or {}

    def cache_digest(self, lookup):
        if lookup in self.errors:
            raise self.errors[lookup]
        if lookup not in self.tags:
            raise RegistryError("HTTP 404", status=404)
        return self.tags[lookup]

    def holds(self, name, digest):
        return (name, digest) in self.held


@dataclass
class Ref:
    written: str
    status: str = "mirrored"
    file: str = "env/values.yaml"
    line: int = 3
    column: int = 10
    path: str = "a.image"
    lines: tuple = (3,)
    suppressed: bool = False


def test_drift_findings_each_case():
    name = f"{REG}/quay/team/app"
    refs = [
        Ref(f"{name}:v1@{A}"),  # in sync
        Ref(f"{name}:v2@{A}", line=5),  # tag moved, old image still cached
        Ref(f"{name}:v3@{C}", line=7),  # the tag names it, the cache lacks it: warm fixes it
        Ref(f"{name}:v1", line=9),  # not pinned: not asked
        Ref(f"docker.io/library/nginx:1@{A}", status="unmirrored", line=11),
    ]  # upstream: not asked
    resolver = FakeResolver({f"{name}:v1": A, f"{name}:v2": B, f"{name}:v3": C}, {(name, A)})
    found, errors = drift_findings(refs, resolver)
    assert errors == []
    got = {(f.line, f.code): f for _, f in found}
    assert set(got) == {(5, "IM008"), (7, "IM009")}
    assert A in got[(5, "IM008")].message and B in got[(5, "IM008")].message
    assert got[(5, "IM008")].fix == f"{name}:v2@{B}"
    assert "run `imagemirror warm env/values.yaml`" in got[(7, "IM009")].message


def test_drift_registry_failure_is_reported_not_a_finding():
    name = f"{REG}/quay/team/app"
    resolver = FakeResolver({}, {(name, A)}, {f"{name}:v1": RegistryError("quay: connection failed")})
    found, errors = drift_findings([Ref(f"{name}:v1@{A}")], resolver)
    assert found == [] and errors == [f"{name}:v1: quay: connection failed"]


def test_check_online_findings_suppression_and_exit_codes(tmp_path, capsys):
    name = f"{REG}/quay/team/app"
    values = repo(tmp_path, f"a:\n  image: {name}:v2@{A}\nb:\n  image: {name}:v3@{A}  # imagemirror: ignore[IM008]\n")
    resolver = FakeResolver({f"{name}:v2": B, f"{name}:v3": B}, {(name, A)})
    code = check_paths([values], fmt="json", resolver=resolver, env={})
    doc = json.loads(capsys.readouterr().out)
    assert code == Exit.FINDINGS
    assert [(f["code"], f["line"]) for f in doc["findings"]] == [("IM008", 2)]
    assert doc["suppressed"] == 1
    failing = FakeResolver({}, set(), {f"{name}:v2": RegistryError("refused"), f"{name}:v3": RegistryError("refused")})
    assert check_paths([values], fmt="json", resolver=failing, env={}) == Exit.SERVICE_ERROR


def test_offline_check_opens_no_socket(tmp_path, monkeypatch, capsys):
    values = repo(tmp_path, f"a:\n  image: {REG}/quay/team/app:v2@{A}\nb:\n  image: nginx:1.25\n")

    def refuse(*args, **kwargs):
        raise AssertionError("offline check opened a socket")

    monkeypatch.setattr(socket.socket, "__init__", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert check_paths([values], fmt="json", env={}) == Exit.FINDINGS  # IM001 for nginx, nothing online
    codes = [f["code"] for f in json.loads(capsys.readouterr().out)["findings"]]
    assert codes == ["IM001"]
    result = CliRunner().invoke(main, ["check", str(values), "--format", "json"])
    assert result.exit_code == 1 and "IM008" not in result.output


def test_warm_pin_digests_prefer_the_tag_and_skip_failures():
    results = [
        ImageResult(f"{REG}/quay/x:1", "ok", digest=A),
        ImageResult(f"{REG}/quay/x:1@{C}", "ok", digest=C),  # its tag moved; the cache still has C
        ImageResult(f"{REG}/quay/y:2@{C}", "ok", digest=C),
        ImageResult(f"{REG}/quay/z:3", "failed", digest=B),
        ImageResult(f"{REG}/quay/w@{A}", "ok", digest=A),
    ]
    assert pinnable_digests(results) == {f"{REG}/quay/x:1": A, f"{REG}/quay/y:2": C}


def test_warm_pin_needs_the_registry_engine(tmp_path):
    values = repo(tmp_path, f"image: {REG}/quay/x:1\n")
    result = CliRunner().invoke(main, ["warm", "--pin", "--engine", "docker", str(values)])
    assert result.exit_code == 2 and "--pin needs --engine registry" in result.output


def test_renovate_pin_digests():
    plain = renovate_doc(REG, {"docker.io": "docker-hub"})
    assert plain == {"registryAliases": {f"{REG}/docker-hub": "docker.io"}}
    pinned = renovate_doc(REG, {"docker.io": "docker-hub"}, pin_digests=True)
    (rule,) = pinned["packageRules"]
    assert rule["pinDigests"] is True and "helm-values" in rule["matchManagers"]
    assert rule["matchDatasources"] == ["docker"]
    result = CliRunner().invoke(main, ["renovate-config", "--registry", REG, "--pin-digests", "."])
    assert result.exit_code == 0 and json.loads(result.output)["packageRules"][0]["pinDigests"] is True


@pytest.mark.parametrize("args", [["pin", "--revert"], ["pin", "--dry-run", "--revert"]])
def test_pin_revert_cli_touches_only_marked_lines(tmp_path, args):
    text = f"a:\n  image: {REG}/quay/x:1@{A}  # imagemirror: pinned\nb:\n  image: {REG}/quay/y:1@{B}\n"
    values = repo(tmp_path, text)
    result = CliRunner().invoke(main, [*args, str(values)])
    assert result.exit_code == 0, result.output
    want = text if "--dry-run" in args else text.replace(f"@{A}  # imagemirror: pinned", "")
    assert values.read_text() == want


def test_pin_exits_4_when_the_cache_cannot_be_reached(tmp_path, capsys):
    values = repo(tmp_path, f"image: {REG}/quay/team/app:v1\n")
    text = values.read_text()
    cache = FakeRegistry({}, fail={(REG, "quay/team/app")})
    assert pin_paths([values], resolver=Resolver(cache), stdout=io.StringIO()) == Exit.SERVICE_ERROR
    assert "connection failed" in capsys.readouterr().err
    assert values.read_text() == text


CILIUM = Path(__file__).parent / "fixtures" / "pin" / "cilium-bumped.yaml"


def test_cilium_tags_bumped_digests_stale(tmp_path, capsys):
    """The Cilium case as a fixture: check --online names both digests of each bumped image,
    pin re-pins them in their own digest keys (the tag for `useDigest: false`), revert is exact."""
    text = CILIUM.read_text()
    values = repo(tmp_path, text)
    new = {"cilium": A, "hubble-relay": B, "cilium-envoy": C}
    cache = FakeRegistry(
        {
            **{
                (REG, f"quay/cilium/{name}", tag): new[name]
                for name, tag in [
                    ("cilium", "v1.18.4"),
                    ("hubble-relay", "v1.18.4"),
                    ("cilium-envoy", "v1.34.10-1762597008-ff7ae7d623be00078865cff1b0672cc5d9bfc6d5"),
                ]
            },
            (REG, "quay/cilium/certgen", "v0.2.4"): "sha256:" + "4" * 64,
            (REG, "quay/cilium/hubble-ui", "v0.13.3"): "sha256:" + "5" * 64,
            # the old images are still in the cache (held), under their old tags
            (REG, "quay/cilium/cilium", "v1.17.0"): "sha256:" + "1" * 64,
            (REG, "quay/cilium/hubble-relay", "v1.17.0"): "sha256:" + "2" * 64,
        }
    )
    assert check_paths([values], fmt="json", resolver=Resolver(cache), env={}) == Exit.FINDINGS
    findings = json.loads(capsys.readouterr().out)["findings"]
    by_line = {(f["line"], f["code"]): f["message"] for f in findings}
    assert set(by_line) == {(5, "IM008"), (15, "IM008"), (33, "IM009"), (33, "IM008")}
    assert "sha256:" + "1" * 64 in by_line[(5, "IM008")] and A in by_line[(5, "IM008")]
    assert "sha256:" + "2" * 64 in by_line[(15, "IM008")] and B in by_line[(15, "IM008")]
    assert "imagemirror pin" in by_line[(33, "IM009")]  # the tag moved: warm cannot fetch the old one

    assert pin_paths([values], resolver=Resolver(cache), stdout=io.StringIO()) == Exit.OK
    pinned = values.read_text()
    assert f'digest: "{A}"  # imagemirror: pinned (was: "sha256:{"1" * 64}")' in pinned
    assert f'tag: "v0.13.3@sha256:{"5" * 64}"  # imagemirror: pinned' in pinned  # useDigest: false
    assert 'digest: ""\n        useDigest: false' in pinned
    assert f'digest: "sha256:{"4" * 64}"\n' in pinned  # certgen was right: untouched
    assert check_paths([values], fmt="json", resolver=Resolver(cache), env={}) == Exit.OK  # in sync now
    capsys.readouterr()
    assert pin_paths([values], revert=True, stdout=io.StringIO()) == Exit.OK
    assert values.read_text() == text
