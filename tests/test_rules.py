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
