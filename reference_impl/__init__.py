"""Reference implementation of the identity tier, Stratos and ATCR, used as the embedded default
target of the harness. Each service runs alone with ``python -m reference_impl.<service>``."""
