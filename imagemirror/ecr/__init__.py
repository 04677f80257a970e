"""The ECR side: settings (``ecr:``), the one boto3 wrapper, plan (pure) and apply.

Imported only by ``imagemirror ecr ...`` commands; ``client`` is the only module that imports
boto3, and it does so inside its functions.
"""
