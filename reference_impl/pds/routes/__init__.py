"""Thin XRPC and HTTP adapters over the PDS's services."""
