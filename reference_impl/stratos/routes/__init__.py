"""Thin ASGI adapters for the Stratos XRPC methods, grouped by resource."""
