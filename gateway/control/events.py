"""Problems as Kubernetes Events on the offending Ingress (issue #4 §6).

After each swap the recorder looks at the snapshot's problems on Ingresses and creates an Event
for each one not reported recently (a Warning with the problem's code as reason, e.g.
`InvalidAnnotation`, `ConflictingPath`, `MissingService`). A problem still present is reported
again after `REPEAT_AFTER`, so `kubectl describe ingress` keeps showing it without flooding the
API server. Failures to write an Event are logged and never affect serving.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, cast

from kubernetes_asyncio import client

from gateway.control.kube import ApiClient, call_json, instance_name
from routing.problems import Problem

logger = logging.getLogger(__name__)

REPEAT_AFTER = 600.0
"""Seconds before a problem that is still present is reported again."""
COMPONENT = "ingress-gateway"


class EventRecorder:
    """Creates Events for problems on Ingresses, at most one per problem per REPEAT_AFTER."""

    def __init__(
        self,
        api: ApiClient,
        uid_of: Callable[[tuple[str, str, str]], str],
        on_sent: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self._core = client.CoreV1Api(api)
        self._uid_of = uid_of
        self._on_sent = on_sent
        self._sent: dict[Problem, float] = {}
        self._instance = instance_name()
        self._tasks: set[asyncio.Task[None]] = set()

    def problems_changed(self, problems: Iterable[Problem]) -> None:
        """Report what is new (or due again) among the live snapshot's problems."""
        now = time.monotonic()
        current = {p for p in problems if p.kind == "Ingress"}
        self._sent = {p: t for p, t in self._sent.items() if p in current}
        for problem in sorted(current):
            if now - self._sent.get(problem, -REPEAT_AFTER) >= REPEAT_AFTER:
                self._sent[problem] = now
                task = asyncio.get_running_loop().create_task(self._create(problem))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _create(self, problem: Problem) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "metadata": {"generateName": f"{problem.name}.", "namespace": problem.namespace},
            "involvedObject": {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "namespace": problem.namespace,
                "name": problem.name,
                "uid": self._uid_of(("Ingress", problem.namespace, problem.name)),
            },
            "reason": problem.code,
            "message": f"{problem.field}: {problem.reason}"[:1024],
            "type": "Warning",
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            # The client's stubs expect a model; a plain dict is serialised as it is.
            status, reply = await call_json(
                self._core.create_namespaced_event, problem.namespace, cast(Any, body)
            )
            if status >= 300:
                raise RuntimeError(f"HTTP {status}: {reply.get('message', '')}")
        except Exception as err:
            logger.warning(
                "could not record event %s on %s: %s", problem.code, problem.object_ref, err
            )
            return
        self._on_sent(problem.code)
