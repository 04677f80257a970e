"""The hypothesis properties, extended to manifests and to values embedded in a string.

* Embedded: any generated values file (``tests/strategies.py``; one document, LF, no BOM)
  written as an Argo CD Application's ``helm.values`` literal block (explicit indentation,
  the chomping its final newlines need).  The rewrite must equal the wrapped expected text
  byte for byte, every reference is reported at its line:column of the outer file, and a
  second rewrite changes nothing.
* Manifests: Deployments whose containers name generated references in every quote style;
  the expected text is computed here from ``strategies.target_for``.
"""

from __future__ import annotations

import random

from hypothesis import assume, given, note
from hypothesis import strategies as st

from imagemirror.config import parse_settings
from imagemirror.inventory import scan_text
from imagemirror.rewrite import rewrite_text

from strategies import configs, documents, plain_ok, refs, target_for

HEAD = (
    "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: app\nspec:\n  source:\n"
    "    chart: x\n    helm:\n      values: "
)
INDENT = " " * 8
_cache: dict = {}


def settings_of(cfg):
    if repr(cfg) not in _cache:
        _cache[repr(cfg)] = parse_settings(cfg.data())
    return _cache[repr(cfg)]


def wrap(text: str) -> str:
    """``text`` as the value of a literal block scalar, exactly."""
    if text.endswith("\n\n") or (text.endswith("\n") and not text.strip()):
        chomp = "+"
    elif text.endswith("\n"):
        chomp = ""
    else:
        chomp = "-"
    lines = text.split("\n")
    body = "\n".join(INDENT + line for line in lines[:-1]) + ("\n" if len(lines) > 1 else "")
    if lines[-1]:
        body += INDENT + lines[-1] + "\n"
    return f"{HEAD}|2{chomp}\n{body}"


def embeddable(doc) -> bool:
    text = doc.text
    return (
        not doc.crlf
        and not doc.bom
        and doc.ndocs == 1
        and not any(c in text for c in "\x85\u2028\u2029\r")
        and "{{" not in text
        and text.strip() != ""
        and not text.lstrip().startswith(("---", "%"))
    )


@given(documents())
def test_embedded_values_rewritten_inside_the_block_byte_exactly(doc):
    assume(embeddable(doc))
    outer, expected = wrap(doc.text), wrap(doc.expected)
    note(outer)
    from ruamel.yaml import YAML

    assert YAML(typ="safe", pure=True).load(outer)["spec"]["source"]["helm"]["values"] == doc.text
    settings = settings_of(doc.cfg)
    done = rewrite_text(outer, "app.yaml", settings)
    assert done.text == expected
    again = rewrite_text(done.text, "app.yaml", settings)
    assert again.text == done.text and not again.changed


@given(documents())
def test_embedded_references_reported_where_they_are(doc):
    assume(embeddable(doc))
    settings = settings_of(doc.cfg)
    inner = {(r.line, r.column, r.written, r.status) for r in scan_text(doc.text, "values.yaml", settings).refs}
    head_lines = HEAD.count("\n") + 1
    outer = {
        (r.line - head_lines, r.column - len(INDENT), r.written, r.status)
        for r in scan_text(wrap(doc.text), "app.yaml", settings).refs
    }
    assert outer == inner


@st.composite
def deployments(draw):
    cfg = draw(configs)
    rnd = random.Random(draw(st.integers(0, 2**32)))
    lines = ["apiVersion: apps/v1", "kind: Deployment", "metadata:", "  name: web", "spec:", "  template:", "    spec:"]
    original, expected = list(lines), list(lines)
    for key in draw(
        st.lists(
            st.sampled_from(["containers", "initContainers", "ephemeralContainers"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    ):
        original.append(f"      {key}:")
        expected.append(f"      {key}:")
        for i in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(["unmirrored", "unmirrored", "no-rule", "mirrored"]))
            ref = draw(refs(cfg, kind, rnd))
            written = ref.written()
            if kind == "unmirrored":
                host, path = target_for(ref, cfg)
                new = f"{host}/{path}{ref.suffix}"
            else:
                new = written
            quote = draw(st.sampled_from(["", "'", '"'])) if plain_ok(written, False) else '"'
            new_quote = quote if quote or plain_ok(new, False) else '"'
            comment = draw(st.sampled_from(["", "  # pinned", "   # image: nginx"]))
            original += [f"        - name: c{i}", f"          image: {quote}{written}{quote}{comment}"]
            expected += [f"        - name: c{i}", f"          image: {new_quote}{new}{new_quote}{comment}"]
    return cfg, "\n".join(original) + "\n", "\n".join(expected) + "\n"


@given(deployments())
def test_manifest_images_rewritten_byte_exactly(case):
    cfg, text, expected = case
    note(text)
    settings = settings_of(cfg)
    done = rewrite_text(text, "deploy.yaml", settings)
    assert done.text == expected
    assert all(r.source == "manifest" for r in done.result.refs)
    assert not rewrite_text(done.text, "deploy.yaml", settings).changed
    after = scan_text(done.text, "deploy.yaml", settings).refs
    assert not [r for r in after if r.status == "unmirrored"]
