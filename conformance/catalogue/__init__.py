"""The requirement catalogue (``requirements.toml``) and its loader."""

from conformance.catalogue.catalogue import (
    LEVELS,
    PROFILES,
    Catalogue,
    CatalogueError,
    Requirement,
    load_catalogue,
)

__all__ = ["LEVELS", "PROFILES", "Catalogue", "CatalogueError", "Requirement", "load_catalogue"]
