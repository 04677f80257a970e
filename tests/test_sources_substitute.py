"""Flux post-build variable substitution (``spec.postBuild`` of a Flux ``Kustomization``).

kustomize-controller builds ``spec.path`` and then substitutes ``${var}``, ``${var:=default}``,
``${var:-default}`` in what it built (fluxcd/pkg ``kustomize.SubstituteVariables``: drone's
envsubst over each resource's YAML; ``substituteFrom`` ConfigMaps/Secrets in order, then the
inline ``substitute`` winning; unset is empty; nothing when there are no variables; a resource
annotated or labelled ``kustomize.toolkit.fluxcd.io/substitute: disabled`` is left alone).

``check`` must classify what the reference resolves to (an unmirrored image fails the gate)
and fail closed on a variable the repository does not set (IM011); ``rewrite`` edits the text
where the change falls (a default in the reference, or the inline ``substitute:`` value in the
Flux Kustomization), and real kustomize plus Flux's substitution (applied here from the
documented semantics: fluxcd's envsubst is not available as a binary) then deploys the cache's
form of every image, nothing else changed.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from ruamel.yaml import YAML

from conftest import require_binary
from helpers import REG, cache_form, pod_images, run, without_images


KS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps/prod
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substitute:
      registry: docker.io   # Docker Hub
      tag: "1.2"
    substituteFrom:
      - kind: ConfigMap
        name: cluster-vars
"""

VARS = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
configMapGenerator:
  - name: cluster-vars
    namespace: flux-system
    literals:
      - quay_org=quay.io/acme
      - tag=0.9
generatorOptions:
  disableNameSuffixHash: true
"""

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      initContainers:
        - name: tool
          image: ${quay_org}/tool:${tag}
      containers:
        - name: web
          image: ${registry}/app:${tag}
        - name: side
          image: "${side_image:=nginx}:${side_tag:-1.25}"
---
apiVersion: batch/v1
kind: Job
metadata:
  name: raw
  annotations:
    kustomize.toolkit.fluxcd.io/substitute: disabled
spec:
  template:
    spec:
      containers:
        - name: raw
          image: ${registry}/raw:1
"""


def make_repo(root: Path, deploy: str = DEPLOY, ks: str = KS) -> Path:
    root.mkdir()
    (root / ".git").mkdir()
    (root / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    base = root / "apps" / "base"
    base.mkdir(parents=True)
    (base / "deploy.yaml").write_text(deploy)
    (base / "kustomization.yaml").write_text("resources:\n  - deploy.yaml\n")
    prod = root / "apps" / "prod"
    prod.mkdir()
    (prod / "kustomization.yaml").write_text("resources:\n  - ../base\n")
    (root / "clusters" / "prod" / "vars").mkdir(parents=True)
    (root / "clusters" / "prod" / "vars" / "kustomization.yaml").write_text(VARS)
    (root / "clusters" / "prod" / "apps.yaml").write_text(ks)
    return root


# --------------------------------------------------------------------------- Flux, as documented

_VAR = re.compile(r"\$\{([_A-Za-z][_A-Za-z0-9]*)(?:(:?[-=])([^}]*))?\}")


def flux_envsubst(resource: str, variables: dict[str, str]) -> str:
    """drone/envsubst as kustomize-controller runs it over one resource (no strict mode)."""
    if not variables:
        return resource
    return _VAR.sub(lambda m: variables.get(m.group(1)) or (m.group(3) if m.group(2) else "") or "", resource)


def flux_build(kubectl: str, root: Path) -> list[dict]:
    """What kustomize-controller applies for clusters/prod/apps.yaml: ``kubectl kustomize`` of
    ``spec.path``, then post-build substitution with the variables the repository gives."""
    yaml = YAML(typ="safe", pure=True)
    spec = yaml.load((root / "clusters/prod/apps.yaml").read_text())["spec"]
    variables: dict[str, str] = {}
    gen = yaml.load((root / "clusters/prod/vars/kustomization.yaml").read_text())["configMapGenerator"][0]
    for lit in gen["literals"]:
        key, _, value = lit.partition("=")
        variables[key] = value
    variables.update({k: str(v).replace("\n", "") for k, v in spec["postBuild"]["substitute"].items()})
    out = subprocess.run([kubectl, "kustomize", str(root / spec["path"])], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    objects = []
    for text in re.split(r"^---\n", out.stdout, flags=re.M):
        obj = yaml.load(text)
        meta = obj.get("metadata", {})
        off = "disabled" in (
            (meta.get("annotations") or {}).get("kustomize.toolkit.fluxcd.io/substitute"),
            (meta.get("labels") or {}).get("kustomize.toolkit.fluxcd.io/substitute"),
        )
        objects.append(obj if off else yaml.load(flux_envsubst(text, variables)))
    return objects


# --------------------------------------------------------------------------- check


def test_check_classifies_what_flux_substitutes(tmp_path):
    root = make_repo(tmp_path / "repo")
    done = run("list", "--format", "json", "apps", "clusters", cwd=root)
    assert done.returncode == 0, done.stderr
    rows = [(r["file"], r["line"], r["column"], r["written"], r["status"]) for r in json.loads(done.stdout)]
    assert rows == [
        ("apps/base/deploy.yaml", 10, 18, "${quay_org}/tool:${tag}", "unmirrored"),
        ("apps/base/deploy.yaml", 13, 18, "${registry}/app:${tag}", "unmirrored"),
        ("apps/base/deploy.yaml", 15, 18, "${side_image:=nginx}:${side_tag:-1.25}", "unmirrored"),
        ("apps/base/deploy.yaml", 28, 18, "${registry}/raw:1", "invalid"),  # substitution disabled
        ("clusters/prod/apps.yaml", 15, 17, "docker.io", "unmirrored"),  # where the rewrite edits
    ]
    targets = {r["written"]: r["target"] for r in json.loads(done.stdout)}
    # the inline ``substitute`` wins over the ConfigMap's tag=0.9; defaults where nothing is set
    assert targets["${quay_org}/tool:${tag}"] == f"{REG}/quay/acme/tool:1.2"
    assert targets["${registry}/app:${tag}"] == f"{REG}/docker-hub/library/app:1.2"
    assert targets["${side_image:=nginx}:${side_tag:-1.25}"] == f"{REG}/docker-hub/library/nginx:1.25"
    gate = run("check", "apps", cwd=root)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert (
        f"apps/base/deploy.yaml:13:18: IM001 ${{registry}}/app:${{tag}} is not pulled through the cache; "
        f"use {REG}/docker-hub/library/app:1.2"
    ) in gate.stdout


def test_without_postbuild_nothing_is_substituted(tmp_path):
    """No Flux Kustomization with ``postBuild`` builds the file: ``${...}`` stays as written."""
    root = make_repo(tmp_path / "repo", ks=KS.split("  postBuild:")[0])
    rows = json.loads(run("list", "--format", "json", "apps", cwd=root).stdout)
    assert {r["status"] for r in rows} == {"invalid"}


# --------------------------------------------------------------------------- rewrite


def test_rewrite_edits_the_default_and_the_substitute_value(tmp_path):
    kubectl = require_binary("kubectl")
    root = make_repo(tmp_path / "repo")
    before = flux_build(kubectl, root)
    assert pod_images(before) == ["quay.io/acme/tool:1.2", "docker.io/app:1.2", "nginx:1.25", "${registry}/raw:1"]
    done = run("rewrite", ".", cwd=root)
    assert done.returncode == 0, done.stderr
    deploy = (root / "apps/base/deploy.yaml").read_text()
    assert deploy == DEPLOY.replace("${side_image:=nginx}", f"${{side_image:={REG}/docker-hub/library/nginx}}")
    ks = (root / "clusters/prod/apps.yaml").read_text()
    assert ks == KS.replace("registry: docker.io ", f"registry: {REG}/docker-hub/library ")
    # the ConfigMap's value is not edited: said so, with the value to set
    assert (
        "apps/base/deploy.yaml:10:18: ${quay_org}/tool:${tag} not rewritten: set quay_org to "
        f"'{REG}/quay/acme' in ConfigMap 'cluster-vars' of this repository"
    ) in done.stderr
    assert (root / "clusters/prod/vars/kustomization.yaml").read_text() == VARS
    after = flux_build(kubectl, root)
    assert pod_images(after) == [
        "quay.io/acme/tool:1.2",
        cache_form("docker.io/app:1.2"),
        cache_form("nginx:1.25"),
        "${registry}/raw:1",
    ]
    assert without_images(after) == without_images(before)
    gate = run("check", ".", cwd=root)
    assert gate.returncode == 1 and gate.stdout.count(" IM001 ") == 1 and "${quay_org}" in gate.stdout
    again = run("rewrite", ".", cwd=root)
    assert again.returncode == 0 and "changed 0 of" in again.stderr
    assert (root / "apps/base/deploy.yaml").read_text() == deploy


def test_two_images_needing_two_values_of_one_variable_are_left(tmp_path):
    deploy = DEPLOY.replace("${quay_org}/tool:${tag}", "${registry}/acme/tool:${tag}")
    root = make_repo(tmp_path / "repo", deploy=deploy)
    done = run("rewrite", "clusters", cwd=root)
    assert done.returncode == 0, done.stderr
    assert (root / "clusters/prod/apps.yaml").read_text() == KS
    rows = json.loads(run("list", "--format", "json", "clusters", cwd=root).stdout)
    assert [(r["written"], r["status"]) for r in rows] == [("docker.io", "ambiguous")]
    assert "need different values" in rows[0]["hint"]


# --------------------------------------------------------------------------- fail closed


def test_a_variable_the_repository_does_not_set_fails_check(tmp_path):
    ks = KS + "      - kind: Secret\n        name: cluster-secrets\n"
    deploy = DEPLOY.replace("${quay_org}/tool:${tag}", "${private_registry}/tool:1").replace(
        "${side_image:=nginx}", "${side_image:=nginx}"
    )
    root = make_repo(tmp_path / "repo", deploy=deploy, ks=ks)
    gate = run("check", "apps", cwd=root)
    assert gate.returncode == 1
    lines = [line for line in gate.stdout.splitlines() if " IM011 " in line]
    assert lines[0].startswith("apps/base/deploy.yaml:10:18: IM011 ${private_registry}/tool:1 is substituted from")
    assert "${private_registry} not set in the repository for clusters/prod/apps.yaml: it may come from" in lines[0]
    assert "Secret 'cluster-secrets' (substituteFrom, clusters/prod/apps.yaml:20)" in lines[0]
    # a default does not help when a Secret may set the variable
    assert any(line.startswith("apps/base/deploy.yaml:15:18: IM011") for line in lines), gate.stdout
    listed = run("list", "apps", cwd=root).stdout
    assert "apps/base/deploy.yaml:10:18: unresolved " in listed and "come from Secret 'cluster-secrets'" in listed
    rewrite = run("rewrite", "apps", cwd=root)
    assert rewrite.returncode == 0 and (root / "apps/base/deploy.yaml").read_text() == deploy


def test_a_variable_set_nowhere_or_an_expression_not_understood_fails_check(tmp_path):
    deploy = DEPLOY.replace("${quay_org}/tool:${tag}", "${nowhere}/tool:1").replace(
        "${registry}/app:${tag}", "${registry/docker.io/quay.io}/app:1"
    )
    root = make_repo(tmp_path / "repo", deploy=deploy)
    gate = run("check", "apps", cwd=root)
    assert gate.returncode == 1
    assert "apps/base/deploy.yaml:10:18: IM011 ${nowhere}/tool:1" in gate.stdout
    assert "it is set nowhere, so Flux substitutes an empty string" in gate.stdout
    assert "apps/base/deploy.yaml:13:18: IM011 ${registry/docker.io/quay.io}/app:1" in gate.stdout


# --------------------------------------------------------------------------- units


def test_tokens_and_retemplate():
    from imagemirror.sources import substitute as s

    text = "${reg:=docker.io}/app:${tag}"
    toks = s.tokens(text)
    assert [(t.name, t.default, text[t.start : t.end]) for t in toks] == [
        ("reg", "docker.io", "${reg:=docker.io}"),
        (None, None, "/app:"),
        ("tag", None, "${tag}"),
    ]
    for bad in ("$reg/app", "$${reg}/app", "${reg:=${other}}/app", "${reg", "${1x}"):
        assert s.tokens(bad) is None, bad
    subst = s.Subst("ks.yaml", 1)
    subst.vars["tag"] = s.Origin("1.2", "inline")
    res = s.resolve(text, toks, subst)
    assert res.value == "docker.io/app:1.2" and not res.missing
    new, var, why = s.retemplate(text, toks, res, "r.example/hub/app:1.2", subst)
    assert new == "${reg:=r.example/hub}/app:${tag}" and var is None and why is None
    new, var, why = s.retemplate(text, toks, res, "docker.io/app:1.3", subst)
    assert new is None and var[0] == "tag" and var[2] == "1.3"
    # an empty value takes the default, an unset one with no default is missing
    subst.vars["reg"] = s.Origin("", "inline")
    assert s.resolve(text, toks, subst).value == "docker.io/app:1.2"
    assert s.resolve("${nope}/x", s.tokens("${nope}/x"), subst).missing == ["nope"]


RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: cache
spec:
  chart:
    spec:
      chart: redis
  values:
    image:
      registry: ${chart_registry:=docker.io}
      repository: bitnami/redis
      tag: ${tag}
"""


def test_a_helmrelease_values_map_flux_substitutes(tmp_path):
    """A map (``registry``/``repository``/``tag``) with variables in its parts: each part is
    substituted, the composed image classified, and each part edited where it is written."""
    root = make_repo(tmp_path / "repo")
    (root / "apps/base/release.yaml").write_text(RELEASE)
    (root / "apps/base/kustomization.yaml").write_text("resources:\n  - deploy.yaml\n  - release.yaml\n")
    rows = json.loads(run("list", "--format", "json", "apps/base/release.yaml", cwd=root).stdout)
    assert [(r["line"], r["status"], r["target"]) for r in rows] == [
        (12, "unmirrored", f"{REG}/docker-hub/bitnami/redis:1.2")
    ]
    done = run("rewrite", "apps/base/release.yaml", cwd=root)
    assert done.returncode == 0, done.stderr
    assert (root / "apps/base/release.yaml").read_text() == RELEASE.replace(
        "${chart_registry:=docker.io}", f"${{chart_registry:={REG}}}"
    ).replace("repository: bitnami/redis", "repository: docker-hub/bitnami/redis")
    rows = json.loads(run("list", "--format", "json", "apps/base/release.yaml", cwd=root).stdout)
    assert [r["status"] for r in rows] == ["mirrored"]


def test_retemplate_property():
    """Whatever the template and the target: a new text is only given when it substitutes to
    the target, and the variables and expressions it keeps are the ones written."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from imagemirror.sources import substitute as s

    lit = st.text(alphabet="abc./:-1", min_size=1, max_size=6)
    var = st.builds(
        lambda name, op, d: "${" + name + (op + d if op else "") + "}",
        st.sampled_from(["reg", "tag", "org"]),
        st.sampled_from(["", ":=", ":-", "=", "-"]),
        st.text(alphabet="abc./:1", max_size=5),
    )

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(st.one_of(lit, var), min_size=1, max_size=5), st.text(alphabet="xyzab./:1", min_size=1, max_size=12)
    )
    def prop(pieces, new):
        text = "".join(pieces)
        toks = s.tokens(text)
        assert toks is not None
        subst = s.Subst("ks.yaml", 1)
        subst.vars["tag"] = s.Origin("1.2", "inline", "ks.yaml", object())
        res = s.resolve(text, toks, subst)
        new_text, variable, why = s.retemplate(text, toks, res, new, subst)
        assert [new_text, variable, why].count(None) == 2
        if new_text is not None:
            again = s.tokens(new_text)
            assert again is not None
            assert s.resolve(new_text, again, subst).value == new
            assert [t.name for t in again if t.name] == [t.name for t in toks if t.name]
        if variable is not None:
            name, origin, value = variable
            subst.vars[name] = s.Origin(value, "inline")
            if value:
                assert s.resolve(text, toks, subst).value == new

    prop()


def test_a_kustomization_that_builds_its_own_file(tmp_path):
    """``spec.path: ./``: the Flux Kustomization is among the files it builds (read once)."""
    root = make_repo(tmp_path / "repo", ks=KS.replace("path: ./apps/prod", "path: ./"))
    done = run("check", ".", cwd=root)
    assert done.returncode == 1, done.stderr
    assert "clusters/prod/apps.yaml:15:17: IM001 docker.io is not pulled through the cache" in done.stdout
    assert "apps/base/deploy.yaml:13:18: IM001 ${registry}/app:${tag}" in done.stdout


def test_warm_pulls_a_substituted_image_as_it_is_deployed(tmp_path):
    """A substituted reference already on the cache is warmed as Flux deploys it (the
    resolved reference), not as written (``${registry}/nginx:${tag}`` is no reference)."""
    from imagemirror.config import parse_settings
    from imagemirror.inventory import scan
    from imagemirror.warm import targets_from_refs

    (tmp_path / ".git").mkdir()
    (tmp_path / "clusters").mkdir()
    (tmp_path / "apps" / "prod").mkdir(parents=True)
    (tmp_path / "clusters" / "apps.yaml").write_text(
        KS.replace("docker.io   # Docker Hub", f"{REG}/docker-hub/library").replace(
            "    substituteFrom:\n      - kind: ConfigMap\n        name: cluster-vars\n", ""
        )
    )
    (tmp_path / "apps" / "prod" / "web.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
        "      containers:\n        - name: web\n          image: ${registry}/nginx:${tag}\n"
    )
    found = scan([tmp_path], parse_settings({"registry": REG}))
    (ref,) = [r for r in found.refs if r.path.endswith("image")]
    assert ref.status == "mirrored" and ref.resolved == f"{REG}/docker-hub/library/nginx:1.2"
    targets, problems = targets_from_refs(found.refs)
    assert problems == [] and [str(t.ref) for t in targets] == [f"{REG}/docker-hub/library/nginx:1.2"]


def test_a_variable_no_flux_kustomization_here_substitutes_fails_closed(tmp_path):
    """``${REG}/app:1`` in a manifest no Flux Kustomization of the repository builds (another
    repository's Flux, envsubst in a pipeline fills it): it was IM005, a warning, so whatever
    the variable pulls from passed the gate.  Now IM011, an error; a suppression still works."""
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    manifest = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: o\nspec:\n  template:\n    spec:\n"
        "      containers:\n        - name: o\n          image: ${REG}/app:1\n"
    )
    (tmp_path / "deploy.yaml").write_text(manifest)
    gate = run("check", ".", cwd=tmp_path)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert gate.stdout.startswith("deploy.yaml:10:18: IM011 ${REG}/app:1 is substituted from a variable not set here")
    assert "no Flux Kustomization of this repository builds this file" in gate.stdout
    (tmp_path / "deploy.yaml").write_text(manifest.replace(":1\n", ":1  # imagemirror: ignore\n"))
    assert run("check", ".", cwd=tmp_path).returncode == 0
    assert run("rewrite", ".", cwd=tmp_path).returncode == 0
    assert (tmp_path / "deploy.yaml").read_text() == manifest.replace(":1\n", ":1  # imagemirror: ignore\n")
