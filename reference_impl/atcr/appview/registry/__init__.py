"""The OCI registry layer of the ATCR AppView (OCI Distribution Spec v1.1).

Pure OCI: repository names, token auth, upload sessions, manifest validation and one handler
module per resource, after CNCF Distribution's organisation. It reaches the ATProto world only
through the ports of ``appview/ports.py``; ``create_registry_app`` is the wiring entry point.
"""

from __future__ import annotations

from .app import VERSION, BackgroundTask, RegistrySettings, create_registry_app

__all__ = ["VERSION", "BackgroundTask", "RegistrySettings", "create_registry_app"]
