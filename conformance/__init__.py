"""atconform: conformance and load testing for Stratos and ATCR deployments.

The harness speaks HTTP and WebSocket to its targets only; it never imports the reference
implementation it ships beside it.
"""

__version__ = "0.1.0"
