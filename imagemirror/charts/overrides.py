"""Chart overrides: the assignments ``rewrite --effective`` makes in a values file, written by
the core's one YAML edit engine (:func:`imagemirror.yaml_edit.set_values`).

``apply(text, assignments)`` takes :class:`~imagemirror.yaml_edit.Assignment` records (key path,
value, comment, the image's own key path).  A key that exists as a scalar is replaced in its own
quote style; missing keys are inserted as the smallest block under the deepest mapping that
exists, after its last entry, in the file's own indentation and line endings, with a
``# imagemirror: ...`` comment above the first inserted key of each image.  Flow mappings get
``, key: value`` before their ``}``.  The result is parsed again and must equal the old data with
exactly the assignments applied; anything else raises and the text is not used.
"""

from __future__ import annotations

from ..yaml_edit import Assignment, set_values

__all__ = ["COMMENT", "Assignment", "apply"]

COMMENT = "# imagemirror: overrides chart default {upstream}"


def apply(text: str, assignments: list[Assignment], file: str = "<values>") -> str:
    """The text with every assignment made; raises FileError if it cannot."""
    return set_values(text, assignments, file, what="chart overrides")
