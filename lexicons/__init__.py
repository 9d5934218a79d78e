"""Lexicons for Stratos, ATCR and the com.atproto subset they use, plus their validator.

This is the one package both the harness (`conformance`) and the reference services
(`reference_impl`) import: shared schemas, independent code everywhere else.
"""

from __future__ import annotations

from lexicons.catalog import Catalog, MethodSchema, RecordSchema, load_catalog
from lexicons.errors import LexiconSchemaError, LexiconValidationError
from lexicons.schema import LexiconDoc, parse_lexicon

__all__ = [
    "Catalog",
    "LexiconDoc",
    "LexiconSchemaError",
    "LexiconValidationError",
    "MethodSchema",
    "RecordSchema",
    "load_catalog",
    "parse_lexicon",
]
