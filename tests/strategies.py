"""Hypothesis strategies: Helm values files with image references in every supported shape.

A generated document is a small tree (``Map``/``Seq``/``Scalar``/``Alias``/``Block``) rendered to
YAML text by this module's own renderer, so we know exactly where every image scalar sits and
what ``rewrite`` must put there.  The expected output is computed here, independently of
imagemirror's walker and rewrite: each image scalar is a ``Slot`` holding its original text and
its expected replacement; everything else is fixed text that must come back byte for byte.

Shapes (see issue 2, "Walker"):

* ``bitnami``   ``{registry, repository, tag?, digest?}``            (bitnami, loki, grafana)
* ``repo_host`` ``{repository: host/path, tag?}`` under any key      (minio mcImage, rook csi maps)
* ``string``    ``image: "name:tag"`` under an image-like key       (erpnext, containers lists)
* ``reg_image`` ``{registry, image, tag?, digest?}``                  (ingress-nginx)
* containers lists (``containers: [{name, image}]``), ``images:`` maps, subchart sections.

Around them: comments (with unicode, tabs, image look-alikes), blank lines, trailing spaces,
plain/single/double quotes, ``!!str`` tags, flow and block collections, anchors and aliases,
merge keys, block scalars holding ``image:`` lines, CRLF, a BOM, ``---`` markers, several
documents, no final newline.  References with no rule, templated, ambiguous, invalid or already
mirrored are generated too, and must come back unchanged.

Bitnami namespaces (``bitnami/``, ``bitnamilegacy/``) and ``global`` are left out on purpose: a
rewrite that relocates them adds ``global.security.allowInsecureImages`` (issue 2 point 5), which
the fixture tests cover; here every changed byte must be an image scalar.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass, field

from hypothesis import strategies as st

# --------------------------------------------------------------------------- settings

ECR = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
DEFAULT_RULES = {
    "docker.io": "docker-hub",
    "quay.io": "quay",
    "ghcr.io": "github",
    "registry.k8s.io": "k8s",
    "public.ecr.aws": "ecr-public",
}
CUSTOM_RULES = {"docker.io": "hub/mirror", "quay.io": "q", "ghcr.io": "gh-cr", "registry.k8s.io": "kube"}
ALIASES = {"registry.rocket.chat": "docker.io"}
DOCKER_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")


@dataclass(frozen=True)
class Config:
    """The settings a document is rewritten with (as plain ``.imagemirror.yaml`` data)."""

    registry: str
    rules: dict
    aliases: dict

    def data(self) -> dict:
        return {"registry": self.registry, "rules": dict(self.rules), "aliases": dict(self.aliases)}


configs = st.sampled_from(
    [
        Config(ECR, DEFAULT_RULES, ALIASES),
        Config(ECR, CUSTOM_RULES, ALIASES),
        Config("localhost:5000", DEFAULT_RULES, {}),
        Config("mirror.example.com", DEFAULT_RULES, ALIASES),
    ]
)

# --------------------------------------------------------------------------- references

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_WORDS = [
    "nginx",
    "redis",
    "app",
    "web",
    "controller",
    "node-exporter",
    "my_app",
    "busybox",
    "kube-state-metrics",
    "a",
    "x1",
    "ingress-nginx",
    "rocket.chat",
    "csi__attacher",
    "mc",
    "prom",
    "argocd",
    "0",
    "9lives",
    "pilot",
    "cert-manager-controller",
]
# Cosmetic text (names, tags, comments) comes from a ``random.Random`` seeded by one hypothesis
# draw: hypothesis still drives (and shrinks) the structure, and a document costs a few dozen
# draws instead of hundreds, which is what lets CI afford >= 10,000 examples.
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_TAGS = [
    "1.25.3",
    "v1.2.3",
    "latest",
    "16.2.0-debian-12-r0",
    "RELEASE.2024-12-18T13-15-44Z",
    "v2.10.1-alpine",
    "stable",
    "1",
    "master",
    "3.12",
    "true",
    "null",
    "0x1F",
    "1e3",
    "v20.2.0",
    "_x",
    "8.0.35",
    "1.10",
    "0755",
    "2024-01-02",
    "y",
    "ON",
]


def _component(rnd: random.Random) -> str:
    if rnd.random() < 0.5:
        return rnd.choice(_WORDS)
    out = "".join(rnd.choices(_ALNUM, k=rnd.randint(1, 6)))
    for _ in range(rnd.randint(0, 2)):
        out += rnd.choice([".", "_", "__", "-", "--"]) + "".join(rnd.choices(_ALNUM, k=rnd.randint(1, 5)))
    if out in ("bitnami", "bitnamilegacy", "library"):
        out += "x"
    assert _COMPONENT.match(out), out
    return out


def _tag(rnd: random.Random) -> str:
    if rnd.random() < 0.6:
        return rnd.choice(_TAGS)
    chars = _ALNUM + "ABCXYZ_.-"
    return rnd.choice(_ALNUM + "_") + "".join(rnd.choices(chars, k=rnd.randint(0, 14)))


def _digest(rnd: random.Random) -> str:
    return f"sha256:{rnd.getrandbits(256):064x}"


@dataclass(frozen=True)
class Ref:
    """An image reference as the generator means it (host None: implicit Docker Hub)."""

    host: str | None
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def suffix(self) -> str:
        return (":" + self.tag if self.tag is not None else "") + ("@" + self.digest if self.digest else "")

    def written(self) -> str:
        return (f"{self.host}/" if self.host else "") + self.path + self.suffix


def canonical(host: str | None) -> str:
    return "docker.io" if host is None or host in DOCKER_HUB_NAMES else host


def upstream_of(ref: Ref, cfg: Config) -> tuple[str, str]:
    """(canonical host, full repository path) after aliases -- computed here, not by imagemirror."""
    host = canonical(ref.host)
    host = canonical(cfg.aliases.get(host, host))
    path = ref.path
    if host == "docker.io" and "/" not in path:
        path = "library/" + path
    return host, path


def upstream_text(ref: Ref, cfg: Config) -> str:
    host, path = upstream_of(ref, cfg)
    if ref.tag is None and not ref.digest:
        return f"{host}/{path}:latest"
    return f"{host}/{path}{ref.suffix}"


# Host kinds: (host written, expected kind).  ``None`` is implicit Docker Hub.
RULE_HOSTS = [
    None,
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "quay.io",
    "ghcr.io",
    "registry.k8s.io",
    "public.ecr.aws",
    "registry.rocket.chat",
]
NO_RULE_HOSTS = [
    "gcr.io",
    "nvcr.io",
    "us-docker.pkg.dev",
    "docker.io.evil.com",
    "localhost:5001",
    "registry.gitlab.com",
    "my-registry.local:8443",
]


def kind_of(ref: Ref, cfg: Config) -> str:
    host, _ = upstream_of(ref, cfg)
    if ref.host == cfg.registry:
        return "mirrored"
    return "unmirrored" if host in cfg.rules else "no-rule"


@st.composite
def refs(draw, cfg: Config, kind: str, rnd: random.Random, with_tag: bool | None = None) -> Ref:
    """A valid reference of ``kind``: unmirrored (a rule applies), no-rule, or mirrored."""
    ncomp = draw(st.integers(1, 3))
    comps = [_component(rnd) for _ in range(ncomp)]
    if kind == "unmirrored":
        hosts = [h for h in RULE_HOSTS if canonical(cfg.aliases.get(canonical(h), canonical(h))) in cfg.rules]
        host = draw(st.sampled_from(hosts))
        if host is None and ncomp == 1 and draw(st.booleans()):
            comps = ["library"] + comps  # ``library/nginx`` written out
    elif kind == "no-rule":
        host = draw(st.sampled_from(NO_RULE_HOSTS))
    else:  # mirrored: already on the cache registry, under a rule's prefix
        host = cfg.registry
        prefix = draw(st.sampled_from(sorted(cfg.rules.values())))
        comps = prefix.split("/") + (["library"] if prefix == cfg.rules.get("docker.io") and ncomp == 1 else []) + comps
    if host is None and (comps[0] == "localhost" or "." in comps[0]):
        # docker's rule: with no host written, such a first component *is* the host.  (Behind
        # an explicit host or ``registry:`` key it is a path component, and stays.)
        comps[0] = comps[0].replace(".", "-").replace("localhost", "lh")
    path = "/".join(comps)
    if with_tag is None:
        with_tag = draw(st.booleans())
    tag = _tag(rnd) if with_tag else None
    digest = _digest(rnd) if draw(st.integers(0, 4)) == 4 else None
    return Ref(host, path, tag, digest)


def target_for(ref: Ref, cfg: Config) -> tuple[str, str]:
    """(cache host, cache repository path) a rewrite must produce for an unmirrored ref."""
    host, path = upstream_of(ref, cfg)
    return cfg.registry, f"{cfg.rules[host]}/{path}"


# --------------------------------------------------------------------------- document tree


@dataclass(eq=False)
class Slot:
    """An image scalar's text: what the file has, and what ``rewrite`` must leave there."""

    original: str  # the value
    expected: str  # the value rewrite must leave
    quote: str = ""  # the quote character around it in the text ("" for plain)
    expected_quote: str = ""  # the same after the rewrite (see ``Renderer.scalar``)
    may_change: bool = False  # a rewrite or a revert may change it (it names a mirrorable image)
    raw: str | None = None  # the text between the quotes when it is escaped (``"ngin\x78"``)

    @property
    def original_text(self) -> str:
        return self.quote + (self.original if self.raw is None else self.raw) + self.quote

    @property
    def expected_text(self) -> str:
        if self.expected == self.original and self.expected_quote == self.quote:
            return self.original_text
        return self.expected_quote + self.expected + self.expected_quote


@dataclass(eq=False)
class Scalar:
    value: str  # the text inside the quotes (or the plain text)
    style: str = "plain"  # plain | single | double
    slot: Slot | None = None
    anchor: str | None = None
    tag: str | None = None  # e.g. "!!str"


@dataclass(eq=False)
class Alias:
    name: str


@dataclass(eq=False)
class Block:
    """A literal block scalar (``|``); never an image, whatever it holds."""

    lines: list[str]


@dataclass(eq=False)
class Map:
    entries: list  # list[Entry]
    flow: bool = False
    anchor: str | None = None


@dataclass(eq=False)
class Seq:
    items: list
    flow: bool = False
    anchor: str | None = None


Node = Scalar | Alias | Block | Map | Seq


@dataclass(eq=False)
class Entry:
    key: str  # rendered key text (plain, or quoted with its quotes)
    value: Node
    before: list[str] = field(default_factory=list)  # full lines (comments/blank) before the entry
    trailing: str = ""  # text after the value on its line: spaces and/or "# comment"


@dataclass(eq=False)
class Site:
    """One image reference placed in the document."""

    shape: str
    ref: Ref
    kind: str  # unmirrored | no-rule | mirrored | ambiguous | templated | invalid
    node: Node
    value_slot: Slot | None  # the scalar carrying the name (line/column of the reference)
    path: str | None = None  # dotted path, filled in by ``locate``
    doc: int = 0
    offset: int | None = None  # offset of the value scalar (its quote, if quoted) in the text


# --------------------------------------------------------------------------- text pieces

_COMMENT_POOL = [chr(c) for c in range(0x20, 0x7F)] + [
    "\t",
    "é",
    "ß",
    "名",
    "🙂",
    "\u00a0",
    "ё",
    "ğ",
    "\u200b",
    "\U0001f600",
    "\ue000",
]
_COMMENTS = [
    "image: nginx:1.25",
    "repository: quay.io/x/y",
    "tag: 1.0  # old",
    "registry: docker.io",
    "- image: busybox",
    "@schema type:string",
    "TODO ünïcödé",
    "",
]


def _comment(rnd: random.Random) -> str:
    if rnd.random() < 0.4:
        return rnd.choice(_COMMENTS)
    return "".join(rnd.choices(_COMMENT_POOL, k=rnd.randint(0, 20)))


NOISE_KEYS = [
    "replicaCount",
    "service",
    "port",
    "resources",
    "limits",
    "cpu",
    "memory",
    "podAnnotations",
    "mariadb",
    "mongodb",
    "metrics",
    "sidecars",
    "primary",
    "auth",
    "persistence",
    "enabled",
    "ключ",
    "名前",
    "café",
    "x-emoji-🙂",
    "extraEnv",
    "annotations",
    "labels",
    "config",
    "a_b",
    "nodeSelector",
    "serviceAccount",
    "dex",
    "redis-cache",
    "app-template",
    "controller",
]
IMAGE_KEYS = ["image", "mcImage", "cephImage", "initImage", "sidecarImage"]
SITE_CONTAINER_KEYS = [
    "registrar",
    "provisioner",
    "exporter",
    "redis",
    "airflow",
    "pgbouncer",
    "statsd",
    "toolbox",
    "busybox",
    "kubectl",
]
_NOISE = [
    "1",
    "true",
    "false",
    "null",
    "~",
    "0.5",
    "''",
    '""',
    "IfNotPresent",
    "10Gi",
    "'image: nginx:1.25'",
    '"# not a comment"',
    "'{{ .Values.x }}'",
    "https://x.y/z",
    '"quay.io/prom/prometheus:v2"',
    "'它'",
    "'a # b'",
    "nginx:1.25",
    "ghcr.io/a/b",
]


def _noise_value(rnd: random.Random) -> str:
    if rnd.random() < 0.7:
        return rnd.choice(_NOISE)
    return rnd.choice("abcdefghij") + "".join(rnd.choices(_ALNUM + "-", k=rnd.randint(0, 10)))


def _blank_or_comment(rnd: random.Random, indent: int) -> str:
    kind = rnd.randint(0, 3)
    if kind == 0:
        return ""
    if kind == 1:
        return " " * rnd.randint(0, 3)  # whitespace-only line
    col = rnd.choice([0, indent, max(indent - 2, 0), indent + 2])
    return " " * col + "#" + rnd.choice(["", " "]) + _comment(rnd)


def _trailing(rnd: random.Random) -> str:
    k = rnd.randint(0, 5)
    if k == 4:
        return " " * rnd.randint(1, 3)
    if k == 5:
        return " " * rnd.randint(1, 3) + "#" + _comment(rnd)
    return ""


# --------------------------------------------------------------------------- sites


def _scalar(draw, value: str, slot: Slot | None = None, *, flow: bool = False, allow_plain: bool = True) -> Scalar:
    styles = (["plain"] * 2 if allow_plain and plain_ok(value, flow) else []) + ["single", "double"]
    style = draw(st.sampled_from(styles))
    if slot is not None and style == "plain" and not plain_ok(slot.expected, flow):
        style = "double"  # the target must be plain-safe too, or the expected bytes are moot
    tag = "!!str" if draw(st.integers(0, 15)) == 15 else None
    return Scalar(value, style, slot, tag=tag)


_PLAIN_SAFE = re.compile(r"[A-Za-z0-9_./@:-]+\Z")
_NOT_STR = re.compile(
    r"(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N"
    r"|[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?|0x[0-9a-fA-F_]+|0o[0-7]+|0b[01_]+"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*|=|<<)\Z"
)


def plain_ok(value: str, flow: bool) -> bool:
    """Whether ``value`` written plain loads back as this exact string, under any YAML version."""
    if not value or not _PLAIN_SAFE.match(value) or _NOT_STR.match(value):
        return False
    # ``:`` inside a plain scalar in a flow collection is valid YAML 1.2 (ruamel's pure parser
    # reads it; libyaml does not): kept on purpose, it drives imagemirror's parser fallback.
    return value[0] not in "-?:@`" and not value.endswith(":")


@st.composite
def sites(
    draw, cfg: Config, rnd: random.Random, *, flow_ok: bool = True, in_container: bool = False
) -> tuple[str, Site]:
    """(key, site) for one image reference in one of the supported shapes."""
    kind = draw(st.sampled_from(["unmirrored"] * 6 + ["no-rule", "mirrored", "ambiguous", "templated", "invalid"]))
    shape = draw(st.sampled_from(["bitnami", "repo_host", "string", "string", "reg_image"]))
    if kind in ("templated", "invalid"):
        shape = "string"
    if kind == "ambiguous":
        shape = "repo_only"
    flow = flow_ok and shape != "string" and draw(st.integers(0, 3)) == 3
    key = draw(
        st.sampled_from(
            IMAGE_KEYS if shape in ("bitnami", "string", "reg_image", "repo_only") else IMAGE_KEYS + SITE_CONTAINER_KEYS
        )
    )
    if draw(st.integers(0, 9)) == 9:
        key = draw(st.sampled_from(['"{}"', "'{}'"])).format(key)  # a quoted key is the same key

    if kind == "templated":
        text = draw(
            st.sampled_from(["{{ .Values.image }}", "{{ .Values.global.reg }}/nginx:1.25", "{{ tpl .Values.x . }}"])
        )
        s = Slot(text, text)
        node = Scalar(text, draw(st.sampled_from(["single", "double"])), s)
        return key, Site(shape, Ref(None, "x"), kind, node, s)
    if kind == "invalid":
        text = draw(
            st.sampled_from(["Nginx:1.25", "quay.io/Org/App:v1", "nginx:", "nginx@sha256:abc", "a//b:1", "-bad:1"])
        )
        s = Slot(text, text)
        node = Scalar(text, draw(st.sampled_from(["single", "double"])), s)
        return key, Site(shape, Ref(None, "x"), kind, node, s)

    ref_kind = "unmirrored" if kind == "ambiguous" else kind
    ref = draw(refs(cfg, ref_kind, rnd))
    change = kind == "unmirrored"

    def slot(orig: str, new: str) -> Slot:
        return Slot(orig, new if change else orig, may_change=kind in ("unmirrored", "mirrored"))

    if shape == "string":
        if not in_container and not re.search(r"[/:@]", ref.written()):
            # a lone word outside a container spec may be a name the chart composes with a
            # registry of its own (istio's ``image: pilot``): imagemirror must not guess.
            kind, change = "ambiguous", False
        new = ""
        if change:
            reg, path = target_for(ref, cfg)
            new = f"{reg}/{path}{ref.suffix}"
        s = slot(ref.written(), new)
        node = _scalar(draw, ref.written(), s)
        return key, Site(shape, ref, kind, node, s)

    entries: list[Entry] = []
    value_slot: Slot
    if shape == "repo_only":
        first, _, rest = (ref.path if "/" in ref.path else "ns/" + ref.path).partition("/")
        path = first.replace(".", "-").replace("localhost", "lh") + "/" + rest  # no host in it
        ref = Ref(None, path, ref.tag or "1.0", None)
        value_slot = Slot(ref.path, ref.path)
        entries.append(Entry("repository", _scalar(draw, ref.path, value_slot, flow=flow)))
    elif shape == "repo_host":
        if ref.host is None:
            ref = Ref("docker.io", ref.path, ref.tag, ref.digest)
        name = f"{ref.host}/{ref.path}"
        new = "/".join(target_for(ref, cfg)) if change else name
        value_slot = slot(name, new)
        entries.append(Entry("repository", _scalar(draw, name, value_slot, flow=flow)))
    else:  # bitnami / reg_image: registry + repository-or-image
        if ref.host is None:
            ref = Ref(draw(st.sampled_from(DOCKER_HUB_NAMES)), ref.path, ref.tag, ref.digest)
        reg_new, path_new = target_for(ref, cfg) if change else (ref.host, ref.path)
        reg_slot = slot(ref.host, reg_new)
        value_slot = slot(ref.path, path_new)
        entries.append(Entry("registry", _scalar(draw, ref.host, reg_slot, flow=flow)))
        entries.append(
            Entry("repository" if shape == "bitnami" else "image", _scalar(draw, ref.path, value_slot, flow=flow))
        )
    if ref.tag is None and shape == "repo_host" and _key_name(key) not in IMAGE_KEYS and not ref.digest:
        # under a key that is not image-like, a map is an image only with a tag/digest beside
        # ``repository`` (rook's csi maps): without one it is just data.
        ref = Ref(ref.host, ref.path, _tag(rnd), ref.digest)
    digest_in_tag = ref.tag is not None and ref.digest is not None and draw(st.integers(0, 2)) == 2
    if digest_in_tag:
        # ``tag: "v1@sha256:..."``: charts that take the pin through the tag
        entries.append(Entry("tag", _scalar(draw, f"{ref.tag}@{ref.digest}", flow=flow)))
    elif ref.tag is not None:
        entries.append(Entry("tag", _scalar(draw, ref.tag, flow=flow)))
    if shape in ("bitnami", "reg_image", "repo_host") and not digest_in_tag:
        if ref.digest:
            if draw(st.integers(0, 2)) == 2:
                # kube-prometheus-stack & grafana: ``sha:`` with the bare hex
                entries.append(Entry("sha", _scalar(draw, ref.digest.removeprefix("sha256:"), flow=flow)))
            else:
                entries.append(Entry("digest", _scalar(draw, ref.digest, flow=flow)))
        elif draw(st.booleans()):
            # bitnami writes ``digest: ""`` for "none"
            entries.append(Entry("digest", Scalar("", draw(st.sampled_from(["single", "double"])))))
    for extra in draw(st.lists(st.sampled_from(["pullPolicy", "pullSecrets", "debug"]), unique=True, max_size=2)):
        value = {"pullPolicy": Scalar("IfNotPresent"), "pullSecrets": Seq([], flow=True), "debug": Scalar("false")}[
            extra
        ]
        entries.append(Entry(extra, value))
    entries = draw(st.permutations(entries))
    node = Map(list(entries), flow=flow)
    return key, Site(shape, ref, kind, node, value_slot)


# --------------------------------------------------------------------------- documents


@dataclass
class Document:
    """A generated values file: its text, the text ``rewrite`` must produce, and the sites."""

    cfg: Config
    parts: list  # str | Slot
    sites: list[Site]
    alias_paths: dict  # site index -> list of extra paths where the same node is aliased/merged
    crlf: bool
    bom: bool
    ndocs: int

    def _join(self, expected: bool) -> str:
        nl = "\r\n" if self.crlf else "\n"
        out = []
        for p in self.parts:
            if isinstance(p, Slot):
                out.append(p.expected_text if expected else p.original_text)
            else:
                out.append(p.replace("\n", nl) if self.crlf else p)
        return ("\ufeff" if self.bom else "") + "".join(out)

    @property
    def text(self) -> str:
        return self._join(False)

    @property
    def expected(self) -> str:
        return self._join(True)

    def position(self, site: Site, expected: bool = False) -> tuple[int, int]:
        """1-based (line, column) of a site's value scalar in the text (or the expected text).

        A BOM is not a column: editors and imagemirror count from after it.
        """
        text = ""
        for p in self.parts:
            if p is site.value_slot:
                break
            if isinstance(p, Slot):
                text += p.expected_text if expected else p.original_text
            else:
                text += p
        return line_col(text, len(text))

    @property
    def changes(self) -> int:
        return sum(1 for p in self.parts if isinstance(p, Slot) and p.original_text != p.expected_text)


class _Gen:
    """Builds one document tree with a shared anchor counter and site list."""

    def __init__(self, draw, cfg: Config, rnd: random.Random):
        self.draw = draw
        self.rnd = rnd
        self.cfg = cfg
        self.sites: list[Site] = []
        self.anchors: list[tuple[str, Node, Site | None]] = []
        self.counter = itertools.count(1)
        self.budget = draw(st.integers(1, 6))  # image sites in this document

    def anchor(self, node: Node, site: Site | None) -> None:
        name = self.draw(st.sampled_from(["img", "a", "base", "x", "défaut"])) + str(next(self.counter))
        node.anchor = name
        self.anchors.append((name, node, site))

    def value(self, depth: int, flow: bool) -> tuple[str, Node]:
        draw = self.draw
        choice = draw(st.integers(0, 9))
        if choice <= 2 and self.budget > 0:
            self.budget -= 1
            key, site = draw(sites(self.cfg, self.rnd, flow_ok=not flow))
            if flow and isinstance(site.node, Map):
                site.node.flow = True
            self.sites.append(site)
            if draw(st.integers(0, 2)) == 2:
                self.anchor(site.node, site)
            return key, site.node
        if choice == 3 and self.anchors and not flow:
            name, node, site = draw(st.sampled_from(self.anchors))
            if isinstance(node, Map) and draw(st.booleans()):
                # merge key: ``image: {<<: *img, tag: ...}`` style, in block form
                entries = [Entry("<<", Alias(name))]
                if site is not None and site.ref.tag is not None and draw(st.booleans()):
                    entries.append(Entry("pullPolicy", Scalar("Always")))
                return draw(st.sampled_from(IMAGE_KEYS)) if site else draw(st.sampled_from(NOISE_KEYS)), Map(entries)
            key = draw(st.sampled_from(IMAGE_KEYS)) if site else draw(st.sampled_from(NOISE_KEYS))
            return key, Alias(name)
        key = draw(st.sampled_from(NOISE_KEYS))
        if choice in (4, 5) and depth < 4:
            return key, self.mapping(depth + 1, flow or draw(st.integers(0, 5)) == 5)
        if choice == 6 and depth < 4:
            return draw(
                st.sampled_from(["containers", "initContainers", "sidecars", "extraContainers"])
            ), self.containers(depth, flow)
        if choice == 7 and depth < 3 and not flow:
            inner = self.mapping(depth + 1, False, min_size=1)
            return "images", inner
        if choice == 8 and not flow:
            lines = draw(
                st.lists(
                    st.sampled_from(
                        [
                            "image: nginx:1.25",
                            "  repository: quay.io/a/b",
                            "plain text",
                            "# not a comment",
                            "{{ .Values.image }}",
                            "",
                            "ünïcode",
                        ]
                    ),
                    min_size=1,
                    max_size=3,
                )
            )
            if not lines[0].strip() or lines[0].startswith(" "):
                lines[0] = "first"
            return key, Block(lines)
        text = _noise_value(self.rnd)
        if text[0] in "'\"":
            node = Scalar(text[1:-1], "single" if text[0] == "'" else "double")
        elif plain_ok(text, flow) or text in ("1", "true", "false", "null", "~", "0.5"):
            node = Scalar(text)
        else:
            node = Scalar(text, "double")
        if draw(st.integers(0, 12)) == 12 and not flow:
            self.anchor(node, None)
        return key, node

    def containers(self, depth: int, flow: bool) -> Seq:
        items = []
        for i in range(self.draw(st.integers(1, 3))):
            entries = [Entry("name", Scalar(f"c{i}"))]
            if self.budget > 0:
                self.budget -= 1
                site_key, site = self.draw(sites(self.cfg, self.rnd, flow_ok=False, in_container=True))
                if isinstance(site.node, Map):
                    site.node.flow = flow
                self.sites.append(site)
                entries.append(Entry("image", site.node))
            if self.draw(st.booleans()):
                entries.append(Entry("imagePullPolicy", Scalar("Always")))
            entries = self.draw(st.permutations(entries))
            items.append(Map(list(entries), flow=flow))
        return Seq(items, flow=flow)

    def mapping(self, depth: int, flow: bool, min_size: int = 1) -> Map:
        n = self.draw(st.integers(min_size, 5 if depth < 2 else 3))
        entries: list[Entry] = []
        used: set[str] = set()
        for _ in range(n):
            marks = len(self.sites), len(self.anchors)
            key, node = self.value(depth, flow)
            if _key_name(key) in used:  # duplicate keys are an error: drop the entry and what it made
                del self.sites[marks[0] :]
                del self.anchors[marks[1] :]
                continue
            used.add(_key_name(key))
            entries.append(Entry(key, node))
        if not entries:
            key, node = "enabled", Scalar("true")
            entries.append(Entry(key, node))
        return Map(entries, flow=flow)


@st.composite
def documents(draw, cfg: Config | None = None) -> Document:
    """A whole values file (text, expected rewrite, sites)."""
    if cfg is None:
        cfg = draw(configs)
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    gen = _Gen(draw, cfg, rnd)
    ndocs = 2 if draw(st.integers(0, 7)) == 7 else 1
    roots = []
    for _ in range(ndocs):
        gen.anchors = []  # anchors do not cross documents
        roots.append(gen.mapping(0, False))
    r = _Renderer(draw, rnd)
    leading = draw(st.sampled_from(["", "", "---\n", "--- # values\n", "# top comment\n---\n"]))
    if ndocs > 1 and not leading:
        leading = "---\n"
    r.parts.append(leading)
    for i, root in enumerate(roots):
        if i:
            r.parts.append(draw(st.sampled_from(["---\n", "--- # next\n", "...\n---\n"])))
        r.block_map(root, 0, first_prefix=None)
    if draw(st.integers(0, 5)) == 5:
        r.parts.append(draw(st.sampled_from(["# trailing comment\n", "\n\n", "...\n"])))
    parts = _merge(r.parts)
    if draw(st.integers(0, 4)) == 4 and isinstance(parts[-1], str) and parts[-1].endswith("\n"):
        parts[-1] = parts[-1][:-1]  # no final newline
        if not parts[-1]:
            parts.pop()
    doc = Document(
        cfg, parts, gen.sites, {}, crlf=draw(st.integers(0, 3)) == 3, bom=draw(st.integers(0, 7)) == 7, ndocs=ndocs
    )
    locate(doc, roots)
    return doc


def _merge(parts: list) -> list:
    out: list = []
    for p in parts:
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] += p
        elif p != "":
            out.append(p)
    return out


class _Renderer:
    def __init__(self, draw, rnd: random.Random):
        self.draw = draw
        self.rnd = rnd
        self.parts: list = []
        self.step = draw(st.sampled_from([2, 2, 4, 3]))
        self.seq_indented = draw(st.booleans())

    def emit(self, *ps) -> None:
        self.parts.extend(ps)

    def scalar(self, s: Scalar, in_flow: bool) -> None:
        if s.anchor:
            self.emit(f"&{s.anchor} ")
        if s.tag:
            self.emit(f"{s.tag} ")
        q = {"plain": "", "single": "'", "double": '"'}[s.style]
        if s.slot is not None:
            s.slot.quote = s.slot.expected_quote = q
            if q == '"' and self.rnd.random() < 0.1:
                # an escape in the original: the whole scalar is replaced, never a substring
                i = self.rnd.randrange(len(s.slot.original))
                s.slot.raw = s.slot.original[:i] + f"\\x{ord(s.slot.original[i]):02x}" + s.slot.original[i + 1 :]
            if in_flow and not q and ":" in s.slot.expected and s.slot.expected != s.slot.original:
                # ``{image: host:5000/x}`` parses with YAML 1.2 parsers but not with libyaml
                # (nor Helm's): a rewritten plain scalar with a ':' in a flow collection is
                # written double-quoted (imagemirror.rewrite.render).
                s.slot.expected_quote = '"'
            self.emit(s.slot)
        else:
            self.emit(q + s.value + q)

    def flow(self, node: Node, in_flow: bool = True) -> None:
        if isinstance(node, Scalar):
            self.scalar(node, in_flow)
        elif isinstance(node, Alias):
            self.emit(f"*{node.name}")
        elif isinstance(node, Map):
            if node.anchor:
                self.emit(f"&{node.anchor} ")
            pad = self.rnd.choice(["", " "])
            self.emit("{" + pad)
            for i, e in enumerate(node.entries):
                if i:
                    self.emit(", ")
                self.emit(f"{e.key}: ")
                self.flow(e.value)
            self.emit(pad + "}")
        elif isinstance(node, Seq):
            if node.anchor:
                self.emit(f"&{node.anchor} ")
            self.emit("[")
            for i, item in enumerate(node.items):
                if i:
                    self.emit(", ")
                self.flow(item)
            self.emit("]")
        else:  # Block in flow: cannot be; render a quoted scalar instead
            self.emit('"' + " ".join(node.lines).replace('"', "") + '"')

    def block_map(self, m: Map, indent: int, first_prefix: str | None) -> None:
        for i, e in enumerate(m.entries):
            if not (i == 0 and first_prefix is not None):
                for _ in range(self.rnd.randint(1, 2) if self.rnd.random() < 0.25 else 0):
                    self.emit(_blank_or_comment(self.rnd, indent) + "\n")
                self.emit(" " * indent)
            else:
                self.emit(first_prefix)
            self.emit(f"{e.key}:")
            v = e.value
            if isinstance(v, Scalar) and v.slot is not None and self.rnd.random() < 0.08:
                # the value on the next line, indented: still that key's plain/quoted scalar
                self.emit("\n" + " " * (indent + self.step))
                self.flow(v, in_flow=False)
                self.emit(_trailing(self.rnd) + "\n")
                continue
            if isinstance(v, (Map, Seq)) and not v.flow and (v.entries if isinstance(v, Map) else v.items):
                if v.anchor:
                    self.emit(f" &{v.anchor}")
                self.emit(_trailing(self.rnd) + "\n")
                if isinstance(v, Map):
                    self.block_map(v, indent + self.step, None)
                else:
                    self.block_seq(v, indent + (self.step if self.seq_indented else 0))
            elif isinstance(v, Block):
                self.emit(" |" + "\n")
                for line in v.lines:
                    self.emit((" " * (indent + self.step) + line if line else "") + "\n")
            else:
                self.emit(" " * (1 if self.rnd.random() < 0.85 else self.rnd.randint(2, 4)))
                self.flow(v, in_flow=isinstance(v, (Map, Seq)))
                self.emit(_trailing(self.rnd) + "\n")

    def block_seq(self, s: Seq, indent: int) -> None:
        for item in s.items:
            self.emit(" " * indent + "-")
            if isinstance(item, Map) and not item.flow and item.entries:
                if item.anchor:
                    self.emit(f" &{item.anchor}\n")
                    self.block_map(item, indent + 2, None)
                else:
                    self.block_map(item, indent + 2, first_prefix=" ")
            else:
                self.emit(" ")
                self.flow(item, in_flow=isinstance(item, (Map, Seq)))
                self.emit("\n")


# --------------------------------------------------------------------------- locating sites


def _key_name(key: str) -> str:
    return key[1:-1] if key[:1] in "'\"" else key


def locate(doc: Document, roots: list[Map]) -> None:
    """Fill in each site's dotted path, its aliases' paths and the value scalar's offset."""
    by_node = {id(s.node): i for i, s in enumerate(doc.sites)}
    anchors: dict[str, Node] = {}

    def walk(node: Node, path: str, d: int, via_alias: bool) -> None:
        if isinstance(node, Alias):
            target = anchors[node.name]
            walk(target, path, d, True)
            return
        if getattr(node, "anchor", None):
            anchors[node.anchor] = node
        idx = by_node.get(id(node))
        if idx is not None:
            site = doc.sites[idx]
            if via_alias:
                doc.alias_paths.setdefault(idx, []).append(path)
            elif site.path is None:
                site.path, site.doc = path, d
        if isinstance(node, Map):
            for e in node.entries:
                if e.key == "<<":
                    target = anchors[e.value.name]
                    for idx2, s in enumerate(doc.sites):
                        if s.node is target:
                            doc.alias_paths.setdefault(idx2, []).append(path)
                    continue
                walk(e.value, f"{path}.{_key_name(e.key)}" if path else _key_name(e.key), d, via_alias)
        elif isinstance(node, Seq):
            for i, item in enumerate(node.items):
                walk(item, f"{path}[{i}]", d, via_alias)

    for d, root in enumerate(roots):
        walk(root, "", d, False)
    # offsets of value slots in the original text
    offset = 1 if doc.bom else 0
    nl_extra = 1 if doc.crlf else 0
    slot_offsets: dict[int, int] = {}
    for p in doc.parts:
        if isinstance(p, Slot):
            slot_offsets[id(p)] = offset
            offset += len(p.original_text)
        else:
            offset += len(p) + nl_extra * p.count("\n")
    for s in doc.sites:
        if s.value_slot is not None:
            s.offset = slot_offsets[id(s.value_slot)]


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset (lines end at ``\\n``)."""
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col
