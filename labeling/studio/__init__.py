"""The Label Studio layer: pure builders (config, tasks, export, agreement, snapshots)
plus one thin client (`client.py`) and a local server launcher (`server.py`).

Only `client.py` talks to a Label Studio server; everything else is pure over plain data.
"""
