"""The reference ATCR AppView: an OCI registry whose manifests and tags are ATProto records in
their owners' PDS repositories and whose blobs live in a hold (docs/atcr.md).

``registry/`` is the OCI layer, ``atproto/`` implements its ports against PDSes and holds,
``production.py`` wires both into the process ``python -m reference_impl.atcr.appview`` runs.
"""
