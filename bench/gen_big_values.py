"""One big dense values file (deterministic): ``python3 bench/gen_big_values.py OUT.yaml --mb 20``.

Every ~264 bytes an image map (``registry``/``repository``/``tag``, bitnami style), an image
string (``sidecar``), a list of env entries in block and flow style and a flow mapping: the
shape issue 14 measured (a single 200 MB values file).  Copy ``examples/gitops/.imagemirror.yaml``
beside it to rewrite it.  Not a test: see RESULTS.md ("One big file").
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--mb", type=float, default=20.0, help="size in MB (10**6 characters)")
    args = ap.parse_args()
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(big_values(int(args.mb * 1_000_000)))


if __name__ == "__main__":
    main()
