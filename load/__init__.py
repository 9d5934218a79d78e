"""Locust load profiles for Stratos and ATCR (see docs/architecture.md)."""
