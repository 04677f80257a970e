"""One big values file (deterministic): ``python3 bench/gen_big_values.py OUT.yaml --mb 20``.

``--shape dense`` (the default): every ~264 bytes an image map (``registry``/``repository``/
``tag``, bitnami style), a ``sidecar`` string, a list of env entries in block and flow style and
a flow mapping -- the densest shape there is, as issue 14 measured it (a single 200 MB values
file).  ``--shape sparse``: the bad-input suite's 50 MB file (tests/test_bad_input.py), sections
of 1,000 quoted unicode keys, an image every 200 sections.  Copy
``examples/gitops/.imagemirror.yaml`` beside it to rewrite it.  Not a test: see RESULTS.md
("One big file").
"""

from __future__ import annotations

import argparse


def big_values(size: int) -> str:
    """Entries ``svc0``, ``svc1``... until the text is at least ``size`` characters."""
    out = []
    total = 0
    i = 0
    while total < size:
        block = f"""svc{i}:
  image:
    registry: docker.io
    repository: bitnami/nginx{i % 50}
    tag: 1.25.{i % 9}
  replicas: {i % 5}
  sidecar: quay.io/prometheus/node-exporter:v1.{i % 7}.0
  env:
    - name: A{i}
      value: "x{i}"
    - {{name: B, value: y}}
  labels: {{app: a{i}, tier: web}}
"""
        out.append(block)
        total += len(block)
        i += 1
    return "".join(out)


def sparse_values(size: int) -> str:
    """test_bad_input.py's 50 MB file, cut at ``size`` characters' worth of sections."""
    chunk = "".join(f"  key{i:05d}: 'some value with ünïcode and # not a comment {i}'\n" for i in range(1000))
    parts = ["# a 50 MB values file\n", "image:\n  registry: docker.io\n  repository: library/nginx\n  tag: '1.25'\n"]
    total = sum(map(len, parts))
    i = 0
    while total < size:
        block = f"section{i}:\n  image: quay.io/prometheus/node-exporter:v1.{i}\n" if i % 200 == 0 else f"section{i}:\n"
        block += chunk
        parts.append(block)
        total += len(block)
        i += 1
    return "".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--mb", type=float, default=20.0, help="size in MB (10**6 characters)")
    ap.add_argument("--shape", choices=("dense", "sparse"), default="dense")
    args = ap.parse_args()
    make = big_values if args.shape == "dense" else sparse_values
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(make(int(args.mb * 1_000_000)))


if __name__ == "__main__":
    main()
