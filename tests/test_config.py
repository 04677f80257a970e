import textwrap
from pathlib import Path

import pytest

from imagemirror.config import find_config, load_settings, resolve_settings
from imagemirror.errors import ConfigError
from imagemirror.rules import DEFAULT_RULES


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".imagemirror.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_defaults_are_the_five_rules(tmp_path):
    settings = load_settings(write(tmp_path, "registry: 123456789012.dkr.ecr.af-south-1.amazonaws.com\n"))
    assert settings.rules == DEFAULT_RULES
    assert set(DEFAULT_RULES) == {"docker.io", "quay.io", "ghcr.io", "registry.k8s.io", "public.ecr.aws"}


def test_rules_replace_the_defaults_and_aliases_canonicalise(tmp_path):
    settings = load_settings(
        write(
            tmp_path,
            """
            registry: r.example.com
            rules:
              index.docker.io: hub
              quay.io: quay
            aliases:
              registry.rocket.chat: docker.io
            exclude: ["**/charts/**"]
            deny: [docker.io]
            """,
        )
    )
    assert settings.rules == {"docker.io": "hub", "quay.io": "quay"}
    assert settings.aliases == {"registry.rocket.chat": "docker.io"}
    assert settings.exclude == ("**/charts/**",)


@pytest.mark.parametrize(
    "text, where, message",
    [
        ("registy: x.example.com\n", ":1:1", "unknown key 'registy' (did you mean 'registry'?)"),
        ("registry: [a]\n", ":1:1", "is not a registry host name"),
        ("registry: r.example.com\nrules:\n  docker.io: Docker Hub\n", ":3:3", "is not a repository prefix"),
        ("rules: []\n", ":1:1", "non-empty mapping"),
        ("exclude: '**/charts/**'\n", ":1:1", "list of strings"),
        ("rules:\n  docker.io: a\n  quay.io: a\n", ":3:3", "share one prefix"),
        ("- a\n", ":1:1", "must be a mapping"),
        ("a: [\n", ":2:1", "invalid YAML"),
        ("ecr: 3\n", ":1:1", "'ecr' must be a mapping"),
        ("registry: index.docker.io\n", ":1:1", "is an upstream of the rules"),
    ],
)
def test_errors_name_file_line_and_key(tmp_path, text, where, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert str(err.value).startswith(f"{path}{where}:"), str(err.value)
    assert message in str(err.value)


def test_found_by_walking_up_to_the_repository_root(tmp_path):
    (tmp_path / ".git").mkdir()
    write(tmp_path, "registry: r.example.com\n")
    deep = tmp_path / "environments" / "prod" / "app"
    deep.mkdir(parents=True)
    assert find_config(deep) == tmp_path / ".imagemirror.yaml"
    inner = tmp_path / "sub"
    (inner / ".git").mkdir(parents=True)
    assert find_config(inner) is None  # another repository's root stops the walk


def test_registry_option_overrides(tmp_path):
    write(tmp_path, "registry: r.example.com\n")
    assert resolve_settings(tmp_path, registry="other.example.com").registry == "other.example.com"
    with pytest.raises(ConfigError, match="--registry"):
        resolve_settings(tmp_path, registry="bad host")
