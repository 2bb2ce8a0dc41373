"""Step Functions: one Lambda client per endpoint, not one per Task.

moto's interpreter builds a new boto3 client for every Lambda Task it runs (loading the
service model, a new connection pool): several milliseconds per Task, most of the
emulator's overhead on an onboarding once the definition's parse is cached. A botocore
client is safe to share between threads, and the one it builds differs only by region and
endpoint (its credentials are fixed), so it is built once per (region, service, endpoint)."""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[tuple[Any, ...], Any] = {}
# Clients built and calls served from the cache, for tests and diagnostics.
stats = {"built": 0, "hits": 0}


def clear() -> None:
    with _lock:
        _clients.clear()
        stats.update(built=0, hits=0)


def install() -> None:
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.utils import boto_client

    if getattr(lambda_eval_utils, "_tenant_moto_clients", False):
        return
    build = boto_client.boto_client_for

    def shared(region: str, service: str, state_credentials: Any = None):  # type: ignore[no-untyped-def]
        # What the built client depends on: in-process (stubbed) or the server's port.
        key = (region, service, botocore_stubber.enabled, moto_server_port())
        with _lock:
            client = _clients.get(key)
            if client is not None:
                stats["hits"] += 1
                return client
            client = build(region=region, service=service, state_credentials=state_credentials)
            _clients[key] = client
            stats["built"] += 1
            return client

    lambda_eval_utils.boto_client_for = shared  # type: ignore[attr-defined]
    lambda_eval_utils._tenant_moto_clients = True  # type: ignore[attr-defined]
