"""``run|deploy --http HOST:PORT``: a running flow seen from outside its terminal.

A background thread of the flow's process serves the Prometheus metrics (``/metrics``), a
JSON API (``/api/v1/...``) and one web page (``/``) from the flow's own counters and gauges
(engine/metrics.py); nothing here imports Bytewax. docs/operations.md describes the whole.

- address.py: the ``--http`` address (loopback unless ``--http-public``);
- recent.py: the last dead letters, kept for the API;
- exposition.py: the Prometheus metrics;
- documents.py: the JSON documents (the status is cli/status.py's);
- picture.py: the DAG as SVG, from the same DOT text as ``velocity-flow graph``;
- server.py: the HTTP server; cluster.py: ``deploy -p N``'s one endpoint over its processes.
"""
