"""The Hold's HTTP surface: thin adapters from Starlette/XRPC to the modules that do the work."""
