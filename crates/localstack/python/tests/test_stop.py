"""A stopped execution is ABORTED, also when the stop aborts a Map's iterations (and a
Catch on that Map does not run), as in AWS."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

moto = pytest.importorskip("moto")

from tenant_moto import stop  # noqa: E402

REGION = "us-east-1"

DEFINITION = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 1,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Slow",
                "States": {"Slow": {"Type": "Wait", "Seconds": 30, "End": True}},
            },
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Fail", "Error": "Caught"},
    },
}


def run(installed: bool) -> str:
    with moto.mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        if installed:
            stop.install()
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(
            name="stoppable", definition=json.dumps(DEFINITION),
            roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"items": [1, 2]}))["executionArn"]
        time.sleep(0.5)
        sfn.stop_execution(executionArn=execution, cause="operator")
        deadline = time.time() + 20
        while (d := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            assert time.time() < deadline, d
            time.sleep(0.05)
        return d["status"]


def test_stopping_an_execution_inside_a_map_aborts_it():
    assert run(installed=True) == "ABORTED"
