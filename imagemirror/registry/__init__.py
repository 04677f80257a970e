"""The one HTTP, auth and credentials layer: the distribution API client and a plain bounded
GET for chart repositories (``client``), where credentials come from (``auth``) and a Docker
Engine wrapper (``engine``).

Imported only by the commands that talk to registries (``warm``, chart fetching); nothing here
is imported at CLI start-up, and urllib3 / docker are imported inside the functions that use
them.  AWS (the ECR token) comes in through an injected token source, never boto3 here.
"""
