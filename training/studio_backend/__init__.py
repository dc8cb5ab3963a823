"""The Label Studio ML backend: the served model (serving), the ASGI app (app), learning while annotators work."""
