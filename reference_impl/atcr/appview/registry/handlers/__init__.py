"""One module per OCI resource, as in CNCF Distribution's ``registry/handlers``.

Each handler takes ``(ctx, request, name, arg)``, checks the token first, and raises
``RegistryError`` (or lets a port exception through) for ``errors.py`` to map.
"""
