"""imagemirror: move a GitOps repository's images onto an ECR pull-through cache."""

__version__ = "0.1.0"
