"""`--workers N`: a supervisor process and N worker processes that share the listening ports.

`supervisor` (the supervisor's side: sockets, processes, shipping), `worker` (a worker process),
`channel` and `messages` (what passes between them), `reports` (merged metrics).
"""
