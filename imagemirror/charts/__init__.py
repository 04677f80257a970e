"""Chart-aware migration: which chart renders a values file, what the release really pulls,
and the smallest overrides that move every image of it onto the cache.

Modules, imports pointing downward (nothing here is imported at CLI start-up):

- :mod:`.constraints` -- Helm's version ranges (Masterminds semver v3 rules); pure.
- :mod:`.discover` -- releases from Argo CD, Flux, helmfile, ``Chart.yaml`` and ``charts:``.
- :mod:`.chart` -- a chart (folder or ``.tgz``) in memory: metadata, defaults, subcharts.
- :mod:`.fetch` -- vendored, cached, classic repository or OCI; the one HTTP client.
- :mod:`.values` -- Helm's merge (layers, conditions/tags, aliases, globals, null deletes).
- :mod:`.effective` -- the core's detector on the merged values of each chart of a release.
- :mod:`.overrides` -- byte-exact scalar replacement and block insertion, verified.
- :mod:`.plan` -- ``assignments_for_file`` / ``verify_plan``: the overrides of one values file.
- :mod:`.render` -- real Helm: ``helm template`` or helm-python-sdk (the ``[helm]`` extra, imported
  only when rendering); the image fields of rendered manifests.
- :mod:`.provenance` -- the sentinel render: which values keys compose each rendered image.
- :mod:`.rendered` -- one release rendered (inventory + provenance), its records, the rewrite proof.
- :mod:`.source` -- ``EffectiveSource``: the ``--effective`` source of the core's scan
  (:class:`imagemirror.inventory.Source`) for ``list``, ``check``, ``warm`` and ``rewrite``.

This package imports the core only (never ``imagemirror.commands`` or the CLI).
"""
