"""The Step Functions interpreter's Lambda client is built once per region and endpoint
and shared by every Task (and thread), not built per Task."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytest.importorskip("moto")

from tenant_moto import lambda_clients  # noqa: E402


def test_tasks_share_one_client_per_region():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    lambda_clients.install()
    lambda_clients.clear()
    got: list[object] = []

    def task() -> None:
        got.append(lambda_eval_utils.boto_client_for(region="us-east-1", service="lambda"))

    threads = [threading.Thread(target=task) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in got}) == 1
    assert lambda_clients.stats == {"built": 1, "hits": 7}
    other = lambda_eval_utils.boto_client_for(region="eu-west-1", service="lambda")
    assert other is not got[0]
    assert other.meta.region_name == "eu-west-1"
    assert lambda_clients.stats["built"] == 2
    lambda_clients.clear()
