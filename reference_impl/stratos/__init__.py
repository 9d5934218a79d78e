"""The reference Stratos service: private, boundary-scoped ATProto repositories.

Design and wire contract: ``docs/stratos.md``. Entry point: ``python -m reference_impl.stratos``.
"""
