"""The reference ATCR Hold: the blob store of the container registry (docs/atcr.md)."""
