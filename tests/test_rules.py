from imagemirror.reference import parse
from imagemirror.rules import Rules

REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
RULES = Rules(REG, aliases={"registry.rocket.chat": "docker.io"})


def test_targets_follow_the_cache_path_shape():
    cases = {
        "docker.io/bitnami/wordpress:6": f"{REG}/docker-hub/bitnami/wordpress:6",
        "nginx": f"{REG}/docker-hub/library/nginx",
        "quay.io/prometheus/node-exporter": f"{REG}/quay/prometheus/node-exporter",
        "ghcr.io/x/y:v1": f"{REG}/github/x/y:v1",
        "registry.k8s.io/ingress-nginx/controller": f"{REG}/k8s/ingress-nginx/controller",
        "public.ecr.aws/karpenter/controller": f"{REG}/ecr-public/karpenter/controller",
        "registry.rocket.chat/rocketchat/rocket.chat:7": f"{REG}/docker-hub/rocketchat/rocket.chat:7",
    }
    for written, target in cases.items():
        status, _, got = RULES.classify(parse(written))
        assert status == "unmirrored"
        assert str(got) == target


def test_statuses():
    assert RULES.classify(parse(f"{REG}/docker-hub/library/nginx"))[0] == "mirrored"
    status, upstream, target = RULES.classify(parse(f"{REG}/quay/a/b:1"))
    assert (status, str(upstream), target) == ("mirrored", "quay.io/a/b:1", None)
    assert RULES.classify(parse("gcr.io/a/b"))[0] == "no-rule"
    assert RULES.classify(parse("nvcr.io/nvidia/x"))[0] == "no-rule"
    assert RULES.classify(parse("docker.io.evil.com/x"))[0] == "no-rule"
    assert RULES.classify(parse(f"{REG}/custom-apps/api:1"))[0] == "mirrored"
    assert Rules(None).classify(parse("nginx"))[0] == "no-rule"


UP = "210987654321.dkr.ecr.us-east-1.amazonaws.com"


def test_an_upstream_repository_prefix_maps_only_under_it():
    """``host/scope: prefix`` (ECR's upstreamRepositoryPrefix): ``host/scope/x`` <-> ``<prefix>/x``;
    the longest scope wins, a whole-host rule takes the rest, and outside every scope there is no rule."""
    rules = Rules(REG, {f"{UP}/team-b": "team-a", f"{UP}/team-b/deep": "deep", "quay.io": "quay"})
    cases = {
        f"{UP}/team-b/app:1": ("unmirrored", f"{REG}/team-a/app:1"),
        f"{UP}/team-b/deep/app:1": ("unmirrored", f"{REG}/deep/app:1"),
        f"{UP}/team-bb/app:1": ("no-rule", None),  # a scope is a whole path segment
        f"{UP}/team-b:1": ("no-rule", None),  # the scope itself is not a repository under it
        "quay.io/x/y:2": ("unmirrored", f"{REG}/quay/x/y:2"),
    }
    for written, (status, target) in cases.items():
        got = rules.classify(parse(written))
        assert (got[0], str(got[2]) if got[2] else None) == (status, target), written
    assert str(rules.mirrored_upstream(parse(f"{REG}/team-a/app:1"))) == f"{UP}/team-b/app:1"
    assert str(rules.mirrored_upstream(parse(f"{REG}/deep/app:1"))) == f"{UP}/team-b/deep/app:1"
    with_host = Rules(REG, {UP: "central", f"{UP}/team-b": "team-a"})
    assert str(with_host.classify(parse(f"{UP}/other/app"))[2]) == f"{REG}/central/other/app"
    assert str(with_host.classify(parse(f"{UP}/team-b/app"))[2]) == f"{REG}/team-a/app"


def test_a_shared_registry_key_is_not_split_by_an_upstream_prefix(tmp_path):
    """A global registry scalar serves images this file does not name: a rule for part of the
    host cannot be written into it, so the image is left as ambiguous."""
    from imagemirror.config import Settings
    from imagemirror.inventory import scan_text

    settings = Settings(registry=REG, rules={f"{UP}/team-b": "team-a"})
    text = f"global:\n  imageRegistry: {UP}\nimage:\n  repository: team-b/app\n  tag: '1'\n"
    [ref] = scan_text(text, "values.yaml", settings).refs
    assert (ref.status, ref.target) == ("ambiguous", None) and ref.hint.startswith("cannot express")
    own = f"image:\n  registry: {UP}\n  repository: team-b/app\n  tag: '1'\n"  # the image's own key moves
    [ref] = scan_text(own, "values.yaml", settings).refs
    assert (ref.status, ref.target) == ("unmirrored", f"{REG}/team-a/app:1")
