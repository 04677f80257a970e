"""Adapters to container registries: the distribution API client (``client``), where
credentials come from (``auth``) and a Docker Engine wrapper (``engine``).

Imported only by the commands that talk to registries (``warm``); nothing here is imported
at CLI start-up, and urllib3 / boto3 / docker are imported inside the functions that use them.
"""
