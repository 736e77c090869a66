"""Routing: cluster objects → an immutable, indexed route table. Pure: no I/O, no event loop.

`convert` builds input views from plain dicts, `admission` accepts or refuses each Ingress
version, `compile` turns the cluster state into a `Snapshot`, and `match` answers which route
serves a request.
"""
