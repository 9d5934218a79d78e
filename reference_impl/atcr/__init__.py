"""The reference ATCR: a container registry AppView and its Hold (docs/atcr.md)."""
