"""`imagemirror check`: classification, deny, suppression, formats, exit codes, end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from imagemirror.cli import main
from imagemirror import report, suppress
from imagemirror.commands import check
from imagemirror.errors import ConfigError
from imagemirror.model import FileResult, ImageRef
from imagemirror.report import ERROR, NOTE, WARNING

REPO = Path(__file__).resolve().parent.parent
REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"


def ref(written, status, upstream=None, target=None, line=3, column=10, lines=None, hint=None, file="values.yaml"):
    return ImageRef(
        file=file,
        line=line,
        column=column,
        path="a.image",
        written=written,
        upstream=upstream,
        status=status,
        target=target,
        hint=hint,
        lines=tuple(lines) if lines is not None else (line,),
    )


# --- comments and suppression (pure) --------------------------------------------------------


@pytest.mark.parametrize(
    "line, expected",
    [
        pytest.param("image: nginx:1.25  # imagemirror: ignore", 19, id="plain"),
        pytest.param("# imagemirror: ignore", 0, id="whole-line"),
        pytest.param('image: "nginx # not a comment"', None, id="hash-in-double-quotes"),
        pytest.param("image: 'nginx # not a comment'", None, id="hash-in-single-quotes"),
        pytest.param("image: 'it''s # still quoted' # real", 30, id="escaped-single-quote"),
        pytest.param('image: "a \\" # quoted" # real', 23, id="escaped-double-quote"),
        pytest.param("image: nginx#1", None, id="hash-without-space"),
        pytest.param("note: it's # a comment", 11, id="apostrophe-in-plain-scalar"),
        pytest.param('images: ["a # b", c]  # real', 22, id="flow-sequence"),
        pytest.param('- "x # y"  # real', 11, id="sequence-item"),
        pytest.param('{image: "a#b", tag: x} #c', 23, id="flow-mapping"),
        pytest.param("url: http://x/#frag", None, id="hash-in-url"),
        pytest.param("", None, id="empty"),
    ],
)
def test_comment_start(line, expected):
    assert suppress.comment_start(line) == expected


def test_ignore_directives():
    text = (
        "a:\n"
        "  image: nginx  # imagemirror: ignore\n"
        '  b: "x # imagemirror: ignore"\n'  # inside quotes: not a comment
        "  c: y  # pinned; imagemirror: ignore[IM003, im004]\n"
        "  d: z  # imagemirror: ignored\n"  # another word: not the directive
        "  e: z  #imagemirror:ignore\r\n"
        "  f: q  # imagemirror: ignore[]\n"
    )
    assert suppress.ignore_directives(text) == {
        2: None,
        4: frozenset({"IM003", "IM004"}),
        6: None,
        7: frozenset(),  # ignore[] names no code: it silences nothing
    }


def test_is_ignored_by_key_line_or_codes():
    directives = {4: None, 6: frozenset({"IM003"})}
    assert suppress.is_ignored("IM001", (4, 5), directives)
    assert suppress.is_ignored("IM003", (6,), directives)
    assert not suppress.is_ignored("IM001", (6,), directives)
    assert not suppress.is_ignored("IM001", (5,), directives)


@pytest.mark.parametrize(
    "line, column, written, span",
    [
        pytest.param("  image: nginx:1.25", 10, "nginx:1.25", (10, 20), id="plain"),
        pytest.param("  image: nginx:1.25  # c", 10, "nginx:1.25", (10, 20), id="plain-comment"),
        pytest.param('  image: "nginx:1.25"', 10, "nginx:1.25", (11, 21), id="double-quoted"),
        pytest.param("  image: 'nginx:1.25'", 10, "nginx:1.25", (11, 21), id="single-quoted"),
        pytest.param("  repository: bitnami/x", 15, "docker.io/bitnami/x:1", None, id="composed"),
        pytest.param("  image: nginx:1.25x", 10, "nginx:1.25", None, id="longer-scalar"),
        pytest.param('  image: "nginx:1.25', 10, "nginx:1.25", None, id="unclosed"),
    ],
)
def test_fix_span(line, column, written, span):
    assert suppress.fix_span(line, column, written) == span


# --- classification (pure) ------------------------------------------------------------------

NGINX_TARGET = f"{REG}/docker-hub/library/nginx:1.25"


@pytest.mark.parametrize(
    "r, deny, strict, code, level",
    [
        pytest.param(
            ref("nginx:1.25", "unmirrored", "docker.io/library/nginx:1.25", NGINX_TARGET),
            (),
            False,
            "IM001",
            ERROR,
            id="unmirrored",
        ),
        pytest.param(
            ref(NGINX_TARGET, "mirrored", "docker.io/library/nginx:1.25"), (), False, None, None, id="mirrored"
        ),
        pytest.param(
            ref(NGINX_TARGET, "mirrored", "docker.io/library/nginx:1.25"),
            ("docker.io",),
            True,
            None,
            None,
            id="mirrored-not-denied-by-upstream",
        ),
        pytest.param(ref("gcr.io/a/b:1", "no-rule", "gcr.io/a/b:1"), (), False, "IM003", WARNING, id="no-rule"),
        pytest.param(ref("gcr.io/a/b:1", "no-rule", "gcr.io/a/b:1"), (), True, "IM003", ERROR, id="no-rule-strict"),
        pytest.param(
            ref("gcr.io/a/b:1", "no-rule", "gcr.io/a/b:1"), ("gcr.io",), False, "IM002", ERROR, id="no-rule-denied"
        ),
        pytest.param(
            ref("bitnami/os-shell:12", "ambiguous", hint="registry from chart"),
            (),
            False,
            "IM004",
            WARNING,
            id="ambiguous",
        ),
        pytest.param(ref("bitnami/os-shell:12", "ambiguous"), (), True, "IM004", ERROR, id="ambiguous-strict"),
        pytest.param(
            ref("bitnami/os-shell:12", "ambiguous"),
            ("docker.io",),
            False,
            "IM002",
            ERROR,
            id="ambiguous-denied-fail-closed",
        ),
        pytest.param(
            ref("Nginx:1", "invalid", hint="repository must be lower case"), (), False, "IM005", WARNING, id="invalid"
        ),
        pytest.param(ref("Nginx:1", "invalid"), ("docker.io",), True, "IM005", ERROR, id="invalid-strict"),
        pytest.param(
            ref("{{ .Values.img }}", "templated"), ("docker.io",), True, "IM006", NOTE, id="templated-never-fails"
        ),
        pytest.param(
            ref("nginx:1.25", "unmirrored", "docker.io/library/nginx:1.25", NGINX_TARGET),
            ("docker.io",),
            False,
            "IM002",
            ERROR,
            id="implicit-docker-hub-denied",
        ),
        pytest.param(
            ref("index.docker.io/library/nginx:1", "unmirrored", "docker.io/library/nginx:1", "x"),
            ("docker.io",),
            False,
            "IM002",
            ERROR,
            id="index-docker-io-denied",
        ),
        pytest.param(
            ref("bitnami/redis:7", "unmirrored", "docker.io/bitnami/redis:7", "x"),
            ("docker.io",),
            False,
            "IM002",
            ERROR,
            id="namespaced-docker-hub-denied",
        ),
        pytest.param(
            ref("docker.io.evil.com/library/nginx:1", "no-rule", "docker.io.evil.com/library/nginx:1"),
            ("docker.io",),
            False,
            "IM003",
            WARNING,
            id="look-alike-not-docker-hub",
        ),
        pytest.param(
            ref(
                "registry.rocket.chat/rocketchat/rocket.chat:6", "unmirrored", "docker.io/rocketchat/rocket.chat:6", "x"
            ),
            ("docker.io",),
            False,
            "IM002",
            ERROR,
            id="alias-upstream-denied",
        ),
        pytest.param(
            ref(
                "registry.rocket.chat/rocketchat/rocket.chat:6", "unmirrored", "docker.io/rocketchat/rocket.chat:6", "x"
            ),
            ("registry.rocket.chat",),
            False,
            "IM002",
            ERROR,
            id="alias-host-denied",
        ),
    ],
)
def test_finding_for(r, deny, strict, code, level):
    found = check.finding_for(r, check.canonical_deny(deny), strict)
    if code is None:
        assert found is None
    else:
        assert (found.code, found.level) == (code, level)
        assert (found.file, found.line, found.column, found.reference) == (r.file, r.line, r.column, r.written)


def test_levels_come_from_the_codes_table(monkeypatch):
    """One codes table: a finding's level is its code's level in report.RULES (a warning raised
    by --strict), so the SARIF rule list, the docs and the findings cannot disagree."""
    no_rule = ref("gcr.io/a/b:1", "no-rule", "gcr.io/a/b:1")
    unmirrored = ref("nginx:1.25", "unmirrored", "docker.io/library/nginx:1.25", NGINX_TARGET)
    assert [check.level_of(code) for code in report.RULES] == [rule.level for rule in report.RULES.values()]
    assert check.level_of("IM003", strict=True) == ERROR and check.level_of("IM006", strict=True) == NOTE
    monkeypatch.setattr(report.RULES["IM003"], "level", NOTE)
    monkeypatch.setattr(report.RULES["IM001"], "level", WARNING)
    assert check.finding_for(no_rule).level == NOTE
    assert check.finding_for(no_rule, strict=True).level == NOTE  # --strict raises warnings only
    assert check.finding_for(unmirrored).level == WARNING
    assert check.finding_for(unmirrored, strict=True).level == ERROR


def test_unmirrored_message_names_the_fix():
    f = check.finding_for(ref("nginx:1.25", "unmirrored", "docker.io/library/nginx:1.25", NGINX_TARGET))
    assert f.fix == NGINX_TARGET
    assert f.message == f"nginx:1.25 is not pulled through the cache; use {NGINX_TARGET}"


@pytest.mark.parametrize(
    "given, expected",
    [
        (["docker.io"], {"docker.io"}),
        (["index.docker.io", "registry-1.docker.io", "REGISTRY.HUB.DOCKER.COM"], {"docker.io"}),
        (["quay.io", "localhost:5000"], {"quay.io", "localhost:5000"}),
        (["docker.io.evil.com"], {"docker.io.evil.com"}),
    ],
)
def test_canonical_deny(given, expected):
    assert check.canonical_deny(given) == frozenset(expected)


@pytest.mark.parametrize("bad", ["nginx", "https://docker.io", "docker.io/library", "", "a b"])
def test_canonical_deny_rejects(bad):
    with pytest.raises(ConfigError, match="--deny"):
        check.canonical_deny([bad])


def test_build_report_suppression_and_fix_span():
    text = (
        "a:\n"
        "  image: nginx:1.25  # imagemirror: ignore\n"
        "b:\n"
        "  image: 'nginx:1.25'\n"
        "c:  # imagemirror: ignore[IM003]\n"
        "  image: nginx:1.25\n"
        "d:\n"
        "  image: gcr.io/x:1  # imagemirror: ignore[IM003]\n"
    )
    um = dict(status="unmirrored", upstream="docker.io/library/nginx:1.25", target=NGINX_TARGET)
    result = FileResult(
        "values.yaml",
        refs=[
            ref("nginx:1.25", line=2, **um),
            ref("nginx:1.25", line=4, **um),
            ref("nginx:1.25", line=6, lines=(5, 6), **um),
            ref("gcr.io/x:1", "no-rule", "gcr.io/x:1", line=8),
        ],
    )
    result.refs = suppress.annotate(result.refs, text)  # what the scan does with the text it read
    rep = check.build_report([result])
    got = [(f.line, f.code, f.suppressed, f.fix_span) for f in rep.findings]
    assert got == [
        (2, "IM001", True, (10, 20)),
        (4, "IM001", False, (11, 21)),
        (6, "IM001", False, (10, 20)),  # the key's ignore names another code
        (8, "IM003", True, None),
    ]
    assert rep.suppressed == 2 and rep.references == 4 and rep.files == 1
    assert report.exit_code(rep) == 1


def test_exit_codes():
    ok = check.build_report([FileResult("v.yaml", refs=[ref("gcr.io/x:1", "no-rule", "gcr.io/x:1")])])
    assert report.exit_code(ok) == 0
    from imagemirror.errors import FileError

    broken = check.build_report([FileResult("v.yaml", error=FileError("v.yaml", "invalid YAML: x", 3, 4))])
    assert [(f.code, f.line, f.column) for f in broken.findings] == [("IM100", 3, 4)]
    assert report.exit_code(broken) == 3


# --- end to end through the CLI -------------------------------------------------------------

MIGRATED = f"""\
# prod wordpress
image:
  registry: {REG}
  repository: docker-hub/bitnami/wordpress
  tag: 6.4.2-debian-11-r10
mariadb:
  image:
    registry: {REG}
    repository: docker-hub/bitnami/mariadb
    tag: "11.2"
metrics:
  image: {REG}/quay/prometheus/node-exporter:v1.7.0
global:
  security:
    allowInsecureImages: true
"""


@pytest.fixture
def gitops(tmp_path, monkeypatch):
    """A migrated GitOps repo: every image already on the cache."""
    root = tmp_path / "gitops"
    (root / ".git").mkdir(parents=True)
    (root / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    values = root / "environments" / "prod" / "wordpress" / "values.yaml"
    values.parent.mkdir(parents=True)
    values.write_text(MIGRATED)
    monkeypatch.chdir(root)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return root


VALUES = "environments/prod/wordpress/values.yaml"


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # click < 8.2 mixes stderr in by default
    except TypeError:
        return CliRunner()  # click >= 8.2 keeps them apart


def invoke(*args, env=None):
    return _runner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_migrated_repo_passes(gitops):
    res = invoke("check", "environments")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert res.stdout == ""
    assert "3 image references in 1 file, 0 errors" in res.stderr


def test_new_docker_hub_image_fails_with_line_and_fix(gitops):
    with open(VALUES, "a") as fh:
        fh.write("sidecar:\n  image: nginx:1.25\n")
    res = invoke("check", "environments")
    assert res.exit_code == 1
    assert res.stdout == (
        f"{VALUES}:17:10: IM001 nginx:1.25 is not pulled through the cache; use {REG}/docker-hub/library/nginx:1.25\n"
    )
    assert f"imagemirror rewrite {VALUES}" in res.stderr
    # the rewrite applies exactly that fix, and then the gate passes
    assert invoke("rewrite", VALUES).exit_code == 0
    assert Path(VALUES).read_text().endswith(f"sidecar:\n  image: {REG}/docker-hub/library/nginx:1.25\n")
    assert invoke("check", "environments").exit_code == 0


def test_look_alike_host_is_not_docker_hub(gitops):
    with open(VALUES, "a") as fh:
        fh.write("evil:\n  image: docker.io.evil.com/library/nginx:1.25\n")
    res = invoke("check", "--deny", "docker.io", "environments")
    assert res.exit_code == 0, res.stdout
    assert "IM002" not in res.stdout
    assert (
        res.stdout
        == f"{VALUES}:17:10: IM003 docker.io.evil.com/library/nginx:1.25: no cache rule for docker.io.evil.com\n"
    )
    res = invoke("check", "--deny", "docker.io.evil.com", "environments")
    assert res.exit_code == 1 and " IM002 " in res.stdout
    assert invoke("check", "--strict", "environments").exit_code == 1


def test_deny_from_settings_and_cli(gitops):
    with open(VALUES, "a") as fh:
        fh.write("tool:\n  image: gcr.io/distroless/static:nonroot\n")
    assert invoke("check", "environments").exit_code == 0
    assert invoke("check", "--deny", "gcr.io", "environments").exit_code == 1
    (gitops / ".imagemirror.yaml").write_text(f"registry: {REG}\ndeny: [gcr.io]\n")
    res = invoke("check", "environments")
    assert res.exit_code == 1
    assert "IM002 gcr.io/distroless/static:nonroot is pulled from denied registry gcr.io" in res.stdout


def test_mirrored_references_pass_deny_of_their_upstream(gitops):
    res = invoke("check", "--deny", "docker.io", "--deny", "quay.io", "--strict", "environments")
    assert res.exit_code == 0, res.stdout


def test_suppression_counted(gitops):
    with open(VALUES, "a") as fh:
        fh.write(
            "sidecar:\n  image: nginx:1.25  # imagemirror: ignore\n"
            "proxy:\n  image:  # imagemirror: ignore\n    registry: docker.io\n"
            "    repository: library/haproxy\n    tag: '2.9'\n"
            'other:\n  image: "busybox:1.36 # imagemirror: ignore"\n'
        )
    res = invoke("check", "--strict", "environments")
    assert res.exit_code == 1
    # the '#' inside the quoted scalar is not a comment: that reference is still reported
    assert res.stdout.startswith(f"{VALUES}:24:10: IM005 ")
    (gitops / VALUES).write_text((gitops / VALUES).read_text().rsplit("other:", 1)[0])
    res = invoke("check", "environments")
    assert res.exit_code == 0, res.stdout
    assert res.stdout == ""
    assert "2 suppressed" in res.stderr
    doc = json.loads(invoke("check", "--format", "json", "environments").stdout)
    assert doc["suppressed"] == 2 and doc["findings"] == []
    sarif = json.loads(invoke("check", "--format", "sarif", "environments").stdout)
    results = sarif["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["IM001", "IM001"]
    assert all(r["suppressions"][0]["kind"] == "inSource" for r in results)


def test_github_format_chosen_on_actions(gitops):
    with open(VALUES, "a") as fh:
        fh.write("sidecar:\n  image: nginx:1.25\n")
    res = invoke("check", "environments", env={"GITHUB_ACTIONS": "true"})
    assert res.exit_code == 1
    assert res.stdout == (
        f"::error file={VALUES},line=17,col=10,title=IM001 unmirrored::nginx:1.25 is not pulled through "
        f"the cache; use {REG}/docker-hub/library/nginx:1.25\n"
    )
    res = invoke("check", "--format", "text", "environments", env={"GITHUB_ACTIONS": "true"})
    assert res.stdout.startswith(f"{VALUES}:17:10: IM001")


def test_colour_only_on_a_terminal(gitops, monkeypatch):
    with open(VALUES, "a") as fh:
        fh.write("sidecar:\n  image: nginx:1.25\n")
    from imagemirror.commands.check import check_paths

    from imagemirror import output

    seen = {}
    monkeypatch.setattr(output, "out", lambda text="", end="\n", color=None: seen.setdefault("out", []).append(text))
    monkeypatch.setattr(output, "err", lambda text="", end="\n", color=None: seen.setdefault("err", []).append(text))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    check_paths([Path("environments")], env={})
    assert "\033[" in seen["out"][0]
    seen.clear()
    check_paths([Path("environments")], env={"NO_COLOR": "1"})
    assert "\033[" not in seen["out"][0]
    seen.clear()
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    check_paths([Path("environments")], env={})
    assert "\033[" not in seen["out"][0]


def test_sarif_and_json_end_to_end(gitops):
    with open(VALUES, "a") as fh:
        fh.write('sidecar:\n  image: "nginx:1.25"\n')
    res = invoke("check", "--format", "sarif", "environments")
    assert res.exit_code == 1
    log = json.loads(res.stdout)
    [result] = log["runs"][0]["results"]
    assert result["ruleId"] == "IM001"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == VALUES
    assert loc["region"]["startLine"] == 17
    replacement = result["fixes"][0]["artifactChanges"][0]["replacements"][0]
    line = Path(VALUES).read_text().splitlines()[16]
    region = replacement["deletedRegion"]
    assert line[region["startColumn"] - 1 : region["endColumn"] - 1] == "nginx:1.25"
    assert replacement["insertedContent"]["text"] == f"{REG}/docker-hub/library/nginx:1.25"
    doc = json.loads(invoke("check", "--format", "json", "environments").stdout)
    assert doc["findings"][0]["fix"] == f"{REG}/docker-hub/library/nginx:1.25"
    assert res.stderr == ""


def test_file_error_exit_3_others_still_checked(gitops):
    bad = gitops / "environments" / "staging" / "values.yaml"
    bad.parent.mkdir()
    bad.write_text("a: [1, 2\nb: c\n")
    with open(VALUES, "a") as fh:
        fh.write("sidecar:\n  image: nginx:1.25\n")
    res = invoke("check", "environments")
    assert res.exit_code == 3
    assert re.search(r"^environments/staging/values\.yaml:\d+:\d+: IM100 ", res.stdout, re.M)
    assert f"{VALUES}:17:10: IM001" in res.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(["--deny", "https://docker.io"], "--deny", id="bad-deny"),
        pytest.param(["--registry", "not a host"], "--registry", id="bad-registry"),
        pytest.param(["--format", "xml"], "xml", id="bad-format"),
    ],
)
def test_usage_errors_exit_2(gitops, args, message):
    res = invoke("check", *args, "environments")
    assert res.exit_code == 2
    assert message in res.stderr


def test_bad_settings_exit_2(gitops):
    (gitops / ".imagemirror.yaml").write_text(f"registry: {REG}\ndeny: docker.io\n")
    res = invoke("check", "environments")
    assert res.exit_code == 2
    assert ".imagemirror.yaml:2:" in res.stderr


def test_subprocess_entry_point(gitops):
    with open(VALUES, "a") as fh:
        fh.write("sidecar:\n  image: nginx:1.25\n")
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "NO_COLOR")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "imagemirror", "check", "environments"],
        capture_output=True,
        text=True,
        env=env,
        cwd=gitops,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == (
        f"{VALUES}:17:10: IM001 nginx:1.25 is not pulled through the cache; use {REG}/docker-hub/library/nginx:1.25\n"
    )
    assert "\033[" not in proc.stdout


def test_startup_imports_stay_light():
    """`check` must not pull heavy modules in at start-up (timing lives in bench/)."""
    code = (
        "import sys, imagemirror.cli, imagemirror.commands.check, imagemirror.report;"
        "heavy = [m for m in ('boto3', 'botocore', 'docker', 'urllib3', 'requests', 'http.client', 'rich',"
        " 'jsonschema') if m in sys.modules]; print(heavy)"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


# --- renovate-config ----------------------------------------------------------------------


def renovate_lookup(image: str, aliases: dict[str, str]) -> str:
    """What Renovate looks up for an image (its ``getDep``: the first alias key followed by
    ``/`` that prefixes the image is replaced by the alias value)."""
    for key, value in aliases.items():
        if image.startswith(key + "/"):
            return value + "/" + image[len(key) + 1 :]
    return image


def test_renovate_config_default_rules(gitops):
    res = invoke("renovate-config")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert list(doc) == ["registryAliases"]
    assert doc["registryAliases"] == {
        f"{REG}/docker-hub": "docker.io",
        f"{REG}/ecr-public": "public.ecr.aws",
        f"{REG}/github": "ghcr.io",
        f"{REG}/quay": "quay.io",
        f"{REG}/k8s": "registry.k8s.io",
    }


@pytest.mark.parametrize(
    "upstream",
    [
        "docker.io/library/nginx:1.25",
        "docker.io/bitnami/wordpress:6",
        "quay.io/prometheus/node-exporter:v1.7.0",
        "ghcr.io/dexidp/dex:v2.38.0",
        "registry.k8s.io/ingress-nginx/controller:v1.9.5",
        "public.ecr.aws/docker/library/nginx:1.25",
        "public.ecr.aws/ecr-public-nested/x:1",
    ],
)
def test_renovate_aliases_look_rewritten_images_up_upstream(gitops, upstream):
    from imagemirror.reference import parse
    from imagemirror.rules import Rules

    (gitops / ".imagemirror.yaml").write_text(
        f"registry: {REG}\nrules:\n  docker.io: docker-hub\n  quay.io: quay\n  ghcr.io: github\n"
        "  registry.k8s.io: k8s\n  public.ecr.aws: ecr\n"
    )
    aliases = json.loads(invoke("renovate-config").stdout)["registryAliases"]
    rules = Rules(
        REG,
        {
            "docker.io": "docker-hub",
            "quay.io": "quay",
            "ghcr.io": "github",
            "registry.k8s.io": "k8s",
            "public.ecr.aws": "ecr",
        },
    )
    status, up, target = rules.classify(parse(upstream))
    assert status == "unmirrored"
    assert renovate_lookup(str(target), aliases) == str(up)


def test_renovate_longer_prefix_first():
    from imagemirror.commands.renovate import registry_aliases

    aliases = registry_aliases("r.example.com", {"docker.io": "hub", "public.ecr.aws": "hub-x/ecr"})
    assert list(aliases) == ["r.example.com/hub-x/ecr", "r.example.com/hub"]
    assert renovate_lookup("r.example.com/hub-x/ecr/a/b:1", aliases) == "public.ecr.aws/a/b:1"


def test_renovate_config_needs_a_registry(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    res = invoke("renovate-config")
    assert res.exit_code == 2
    assert "no cache registry configured" in res.stderr
    res = invoke("renovate-config", "--registry", "r.example.com")
    assert res.exit_code == 0
    assert json.loads(res.stdout)["registryAliases"]["r.example.com/docker-hub"] == "docker.io"


# --- the pre-commit hook manifest ------------------------------------------------------------


def test_hook_files_regex_matches_scanned_names():
    """The hooks are given every file a folder's scan could read (values files by name, other
    YAML by content: ``--by-content`` then picks as the scan does)."""
    from ruamel.yaml import YAML

    from imagemirror.files import VALUES_NAME
    from imagemirror.sources.detect import YAML_NAME

    hooks = YAML(typ="safe").load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == ["imagemirror-check", "imagemirror-rewrite"]
    assert hooks[0]["entry"] == "imagemirror check --by-content"
    assert hooks[1]["entry"] == "imagemirror rewrite --by-content --exit-nonzero-on-change"
    names = [
        "values.yaml",
        "values.yml",
        "values-prod.yaml",
        "values-prod.yml",
        "prod-values.yaml",
        "prod.values.yaml",
        "values.json",
        "myvalues.yaml",
        "values.yaml.bak",
        "values-.yaml",
        "Chart.yaml",
        "values",
        "x-values.yml",
        "a.values.yml",
        "values_prod.yaml",
        "values.prod.yaml",
        "values.staging.yml",
        "values.yaml.gotmpl",
        "deployment.yaml",
        "helmfile.yaml.gotmpl",
        "kustomization.yml",
        "Kustomization",
        "notes.txt",
    ]
    for hook in hooks:
        assert hook["language"] == "python"
        pattern = re.compile(hook["files"])
        for name in names:
            for path in (name, f"environments/prod/{name}"):
                scanned = bool(YAML_NAME.match(name)) or bool(VALUES_NAME.match(name))
                assert bool(pattern.search(path)) == scanned, (hook["id"], path)


# --- the README's CI, pre-commit and Renovate sections ----------------------------------------


def _readme_blocks() -> list[tuple[str, str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## CI gate")
    end = text.index("\n## ", text.index("\n## Renovate") + 1)
    return re.findall(r"```(\w+)\n(.*?)```", text[start:end], re.S)


def _imagemirror_commands(blocks) -> list[list[str]]:
    import shlex

    out = []
    for lang, body in blocks:
        for line in body.splitlines():
            if lang == "console":  # only the prompt lines are commands
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            line = re.sub(r"^\s*(?:- )?(?:run: )?", "", line)
            if line.startswith("imagemirror "):
                words = shlex.split(line, comments=True)
                cut = [i for i, w in enumerate(words) if w in (">", "||", "&&", "|")]
                out.append(words[1 : cut[0] if cut else None])
    return out


def test_readme_snippets_parse_and_name_real_hooks_and_options():
    from ruamel.yaml import YAML

    blocks = _readme_blocks()
    yaml_blocks = [YAML(typ="safe").load(body) for lang, body in blocks if lang == "yaml"]
    assert len(yaml_blocks) == 4  # two GitHub workflows, the GitLab include, the pre-commit config
    hook_ids = {h["id"] for h in YAML(typ="safe").load((REPO / ".pre-commit-hooks.yaml").read_text())}
    [precommit] = [b for b in yaml_blocks if "repos" in b]
    assert {h["id"] for h in precommit["repos"][0]["hooks"]} == hook_ids
    for hook in precommit["repos"][0]["hooks"]:
        if "args" in hook:
            _parse(["check", *hook["args"], "x"])
    commands = _imagemirror_commands(blocks)
    assert {c[0] for c in commands} == {"check", "renovate-config", "warm"}  # warm: the Renovate loop
    assert len(commands) >= 3  # the CI snippets use the action/template (tests/integration/test_adoption_ci.py)
    for args in commands:
        _parse(args)


def _parse(args: list[str]) -> None:
    """Parse a command line as the CLI would (raises on an unknown option or choice)."""
    import click

    command = main.get_command(click.Context(main), args[0])
    assert command is not None, args
    command.make_context(args[0], list(args[1:]))


def test_readme_parse_check_is_not_vacuous():
    import click

    with pytest.raises(click.UsageError):
        _parse(["check", "--formt", "sarif", "x"])
    with pytest.raises(click.BadParameter):
        _parse(["check", "--format", "xml", "x"])


def test_crlf_and_bom_positions_suppression_and_fix(gitops):
    path = gitops / "environments" / "prod" / "crlf" / "values.yaml"
    path.parent.mkdir()
    path.write_bytes(
        "\ufeffa:\r\n  image: 'nginx:1.25'\r\nb:\r\n  image: redis:7  # imagemirror: ignore\r\n".encode("utf-8")
    )
    before = path.read_bytes()
    res = invoke("check", "--format", "sarif", "environments/prod/crlf")
    assert res.exit_code == 1
    results = json.loads(res.stdout)["runs"][0]["results"]
    assert [(r["locations"][0]["physicalLocation"]["region"]["startLine"], "suppressions" in r) for r in results] == [
        (2, False),
        (4, True),
    ]
    region = results[0]["fixes"][0]["artifactChanges"][0]["replacements"][0]["deletedRegion"]
    assert (region["startColumn"], region["endColumn"]) == (11, 21)
    assert path.read_bytes() == before  # check never writes


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_suppression_lines_follow_the_parser(tmp_path, monkeypatch, eol):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    text = eol.join(["# head", "a:", "  image: nginx:1.25  # imagemirror: ignore", "b:", "  image: redis:7", ""])
    (tmp_path / "values.yaml").write_bytes(text.encode())
    monkeypatch.chdir(tmp_path)
    doc = json.loads(invoke("check", "--format", "json", "values.yaml").stdout)
    assert doc["suppressed"] == 1
    assert [(f["line"], f["column"], f["reference"]) for f in doc["findings"]] == [(5, 10, "redis:7")]


# --- the exit funnel: a crash is exit 5, never 1 ("findings") ----------------------------


@pytest.mark.parametrize("debug", [None, "1"])
def test_internal_error_exits_5_in_one_line(gitops, monkeypatch, debug):
    with open(VALUES, "a") as fh:
        fh.write("sidecar:\n  image: nginx:1.25\n")  # a finding: exit 1 if the crash leaked as findings

    def boom(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(check, "build_report", boom)
    env = {"IMAGEMIRROR_DEBUG": debug} if debug else {}
    monkeypatch.delenv("IMAGEMIRROR_DEBUG", raising=False)
    res = invoke("check", "environments", env=env)
    assert res.exit_code == 5
    last = res.stderr.splitlines()[-1]
    assert last == (
        "imagemirror: internal error: RuntimeError: boom second line "
        "(please report; IMAGEMIRROR_DEBUG=1 shows the traceback)"
    )
    if debug:
        assert "Traceback (most recent call last)" in res.stderr and "in boom" in res.stderr
    else:
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert res.stdout == ""


def test_internal_error_exits_5_as_a_process(gitops):
    # the whole entry point, as CI runs it: a command module that raises
    code = (
        "import sys, imagemirror.commands.check as c\n"
        "def boom(*a, **k): raise KeyError('x')\n"
        "c.check_paths = boom\n"
        "from imagemirror.cli import main\n"
        "sys.argv = ['imagemirror', 'check', 'environments']\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "IMAGEMIRROR_DEBUG"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**env, "PYTHONPATH": str(REPO)}
    )
    assert out.returncode == 5, out.stderr
    assert out.stderr == (
        "imagemirror: internal error: KeyError: 'x' (please report; IMAGEMIRROR_DEBUG=1 shows the traceback)\n"
    )


def test_the_fix_hint_is_a_command_that_runs(gitops):
    """The hint names the files (up to five), else the paths checked -- never a list cut
    with ``...`` that a shell would pass on as a file name."""
    for i in range(7):
        app = Path("environments", "dev", f"app{i}")
        app.mkdir(parents=True)
        (app / "values.yaml").write_text(f"image: nginx:1.{i}\n")
    res = invoke("check", "environments")
    assert res.exit_code == 1
    assert res.stderr.splitlines()[-1] == "imagemirror check: to apply the fixes: imagemirror rewrite environments"
    res = invoke("check", "environments/dev/app1", "environments/dev/app2")
    assert res.stderr.splitlines()[-1] == (
        "imagemirror check: to apply the fixes: imagemirror rewrite "
        "environments/dev/app1/values.yaml environments/dev/app2/values.yaml"
    )
    done = invoke("rewrite", "environments")
    assert done.exit_code == 0 and invoke("check", "environments").exit_code == 0


def test_check_without_a_cache_registry_is_a_settings_error(tmp_path, monkeypatch):
    """With no ``registry:`` (the settings file missing, or deleted in a pull request) nothing
    can be judged mirrored: every image was a warning and the gate passed (exit 0).  Exit 2."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "values.yaml").write_text("image: docker.io/library/nginx:1.25\n")
    monkeypatch.chdir(tmp_path)
    res = invoke("check", ".")
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.strip() == (
        "imagemirror: error: no cache registry configured: set `registry:` in .imagemirror.yaml or pass --registry"
    )
    assert invoke("check", ".", "--registry", REG).exit_code == 1


def test_values_dot_environment_files_are_scanned(gitops):
    """``values.prod.yaml`` (a common name for an environment's values) was skipped by the
    folder scan and the pre-commit hooks: its images passed the gate unseen."""
    Path("environments", "prod", "wordpress", "values.prod.yaml").write_text("image: nginx:1.25\n")
    res = invoke("check", "environments")
    assert res.exit_code == 1 and "values.prod.yaml:1:8: IM001 nginx:1.25" in res.stdout


def test_by_content_reads_a_named_file_only_when_a_folder_scan_would(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {REG}\nexclude: ['vendor/**']\n")
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx:1}]\n"
    files = {
        "apps/pod.yaml": pod,  # a manifest: read
        "apps/values-prod.yaml": "image: redis:7\n",  # a values file by name: read
        "docker-compose.yml": "services:\n  web:\n    image: nginx:1\n",  # no images by content
        "vendor/pod.yaml": pod,  # excluded
        "chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n",
        "chart/templates/pod.yaml": pod,  # a chart's template: Helm's
        "chart/values.yaml": "image: busybox:1\n",  # the chart's values: read
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    res = invoke("check", "--by-content", "--format", "json", *files)
    assert res.exit_code == 1, res.stderr
    assert sorted({f["file"] for f in json.loads(res.stdout)["findings"]}) == [
        "apps/pod.yaml",
        "apps/values-prod.yaml",
        "chart/values.yaml",
    ]
    assert invoke("rewrite", "--by-content", *files).exit_code == 0
    assert (tmp_path / "docker-compose.yml").read_text() == files["docker-compose.yml"]
    assert (tmp_path / "vendor/pod.yaml").read_text() == pod
    assert (tmp_path / "chart/templates/pod.yaml").read_text() == pod
    assert invoke("check", "--by-content", *files).exit_code == 0
