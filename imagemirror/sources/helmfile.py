"""helmfile: ``releases[].values`` (inline maps; files are values files of their own, see
:mod:`.related`) and ``releases[].set`` (``--set`` style).  (``environments.*.values`` feed
helmfile's own templates, not a chart: not read.)

helmfile files are Go templates; ``{{ ... }}`` is masked before parsing (:mod:`.templates`),
so the parts that are not templates are read and a template standing in for a reference
is reported ``templated``.
"""

from __future__ import annotations

from ..walker import Mapping, Sequence
from . import Context, Found, by_key, values_sites
from . import params as params_mod


def find(doc: Mapping, ctx: Context) -> list[Found]:
    keys = by_key(doc)
    out: list[Found] = []
    releases = keys.get("releases")
    if releases.__class__ is Sequence:
        for i, release in enumerate(releases.items):
            rel = by_key(release)
            values = rel.get("values")
            if values.__class__ is Sequence:
                for j, item in enumerate(values.items):
                    if item.__class__ is Mapping:
                        out.extend(values_sites(item, f"releases[{i}].values[{j}]", "helmfile"))
            tree = params_mod.tree(rel.get("set"))
            if tree is not None:
                out.extend(values_sites(tree, f"releases[{i}].set", "helmfile"))
    return out
