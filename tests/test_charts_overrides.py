"""Inserting and replacing values byte-exactly: indentation, line endings, flow maps, comments."""

import pytest

from imagemirror.charts.overrides import Assignment as A
from imagemirror.charts.overrides import apply
from imagemirror.errors import FileError

REG = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
C = "# imagemirror: overrides chart default docker.io/bitnami/mariadb:11"


def image(prefix, repository, registry=REG, comment=C):
    return [
        A(prefix + ("registry",), registry, comment, prefix),
        A(prefix + ("repository",), repository, comment, prefix),
    ]


CASES = [
    pytest.param(
        "image:\n  tag: 1\nmariadb:\n  auth:\n    database: wp\n",
        image(("mariadb", "image"), "docker-hub/bitnami/mariadb"),
        "image:\n  tag: 1\nmariadb:\n  auth:\n    database: wp\n"
        f"  {C}\n  image:\n    registry: {REG}\n    repository: docker-hub/bitnami/mariadb\n",
        id="under-existing-subchart-key",
    ),
    pytest.param(
        "image:\r\n    tag: 1\r\n",
        image(("mariadb", "image"), "docker-hub/bitnami/mariadb"),
        f"image:\r\n    tag: 1\r\nmariadb:\r\n    {C}\r\n    image:\r\n        registry: {REG}\r\n"
        "        repository: docker-hub/bitnami/mariadb\r\n",
        id="crlf-and-four-space-indent",
    ),
    pytest.param(
        "\ufeffimage:\n  tag: 1",
        [A(("image", "repository"), f"{REG}/docker-hub/frappe/erpnext", "# c", ("image",))],
        f"\ufeffimage:\n  tag: 1\n  # c\n  repository: {REG}/docker-hub/frappe/erpnext\n",
        id="bom-no-final-newline",
    ),
    pytest.param(
        "# only a comment\n",
        [A(("image",), f"{REG}/docker-hub/alpine/kubectl:1.35.0", "# c", ("image",))],
        f"# only a comment\n# c\nimage: {REG}/docker-hub/alpine/kubectl:1.35.0\n",
        id="empty-document",
    ),
    pytest.param(
        "mongodb:\n  volumePermissions: { enabled: true }\n  x: 1\n",
        image(("mongodb", "volumePermissions", "image"), "docker-hub/bitnamilegacy/os-shell", comment="# c"),
        "mongodb:\n  volumePermissions: { enabled: true, image: {registry: "
        f"{REG}, repository: docker-hub/bitnamilegacy/os-shell}} }}  # c\n  x: 1\n",
        id="flow-mapping-comment-at-end-of-line",
    ),
    pytest.param(
        "image:\n  repository: 'bitnami/wordpress'   # pinned\n  tag: 6.7\n",
        [
            A(("image", "repository"), "docker-hub/bitnami/wordpress", "# c", ("image",)),
            A(("image", "registry"), REG, "# imagemirror: overrides chart default registry: docker.io", ("image",)),
        ],
        "image:\n  repository: 'docker-hub/bitnami/wordpress'   # pinned\n  tag: 6.7\n"
        f"  # imagemirror: overrides chart default registry: docker.io\n  registry: {REG}\n",
        id="replace-in-quote-style-and-insert-sibling",
    ),
    pytest.param(
        "jobs:\n  probe: |\n    exec: x\n\nnext: 1\n",
        [A(("jobs", "init", "image"), "r.example/x:1", "# c", ("jobs", "init", "image"))],
        "jobs:\n  probe: |\n    exec: x\n  init:\n    # c\n    image: r.example/x:1\n\nnext: 1\n",
        id="after-block-scalar-before-blank-line",
    ),
    pytest.param(
        "global:\n  security:\n    allowInsecureImages: false\n",
        [A(("global", "security", "allowInsecureImages"), True, "# c", ())],
        "global:\n  security:\n    allowInsecureImages: true\n",
        id="boolean-replaced",
    ),
]


@pytest.mark.parametrize("text,assignments,expected", CASES)
def test_apply(text, assignments, expected):
    assert apply(text, assignments) == expected
    # Running it again changes nothing: the assignments now hold.
    assert apply(expected, assignments) == expected


@pytest.mark.parametrize(
    "text,keypath,message",
    [
        ("mariadb: ~\n", ("mariadb", "image", "repository"), r":1:10: mariadb is empty \(null\)"),
        ("mariadb: [a]\n", ("mariadb", "image", "repository"), r"mariadb is not a mapping"),
        ("- a\n", ("image",), r"not a mapping"),
        ("a: 1\n---\nb: 2\n", ("image",), r"several YAML documents"),
        ("image: |\n  x\n", ("image",), r"not a plain value"),
        ("a: [\n", ("image",), r"invalid YAML"),
    ],
)
def test_refusals(text, keypath, message):
    with pytest.raises(FileError, match=message):
        apply(text, [A(keypath, "r.example/x", "# c", keypath)], "values.yaml")


def test_unsafe_value_is_refused():
    with pytest.raises(FileError, match="refusing to write"):
        apply("image: a/b\n", [A(("image",), "a b: c")], "values.yaml")
