"""Drivers for real OCI clients (the ``docker`` and ``skopeo`` command lines), for ATCR-CLIENT-01.

Every step runs as a bounded subprocess; what it ran, its exit code and its output are kept as
evidence with every secret the run's Redactor knows replaced. Credentials go to docker on stdin
(``--password-stdin``) and to skopeo as ``--dest-creds``/``--src-creds`` (redacted in the
evidence); docker's credential store is a throw-away ``DOCKER_CONFIG`` directory, so nothing is
left in the user's own configuration.
"""
