"""The parsed-definition cache: executions of one definition share one parse and still
each follow their own input (in-process moto, Step Functions executing)."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

moto = pytest.importorskip("moto")

from tenant_moto import asl_cache  # noqa: E402

REGION = "us-east-1"

# A Choice on the input, a Wait, Pass states that build the output from the input and
# the context object: anything shared between executions would show in the outputs.
DEFINITION = {
    "StartAt": "Pick",
    "States": {
        "Pick": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericGreaterThanEquals": 8, "Next": "Big"}],
            "Default": "Small",
        },
        "Big": {"Type": "Pass", "Parameters": {"size": "big", "n.$": "$.n"}, "Next": "Pause"},
        "Small": {"Type": "Pass", "Parameters": {"size": "small", "n.$": "$.n"}, "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 0, "Next": "Done"},
        "Done": {
            "Type": "Pass",
            "Parameters": {"size.$": "$.size", "n.$": "$.n", "execution.$": "$$.Execution.Name"},
            "End": True,
        },
    },
}


def test_concurrent_executions_share_one_parse_and_stay_separate():
    with moto.mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        asl_cache.install()
        asl_cache.clear()
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(
            name="cached", definition=json.dumps(DEFINITION),
            roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]
        runs = 16
        started: dict[int, str] = {}

        def start(n: int) -> None:
            started[n] = sfn.start_execution(
                stateMachineArn=arn, name=f"run-{n}", input=json.dumps({"n": n}))["executionArn"]

        threads = [threading.Thread(target=start, args=(n,)) for n in range(runs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        deadline = time.time() + 60
        outputs = {}
        while len(outputs) < runs and time.time() < deadline:
            for n, execution in started.items():
                if n in outputs:
                    continue
                d = sfn.describe_execution(executionArn=execution)
                if d["status"] != "RUNNING":
                    assert d["status"] == "SUCCEEDED", d
                    outputs[n] = json.loads(d["output"])
            time.sleep(0.05)
        assert len(outputs) == runs
        for n, out in outputs.items():
            assert out == {"size": "big" if n >= 8 else "small", "n": n, "execution": f"run-{n}"}
        # Concurrent first executions wait for the one parse.
        assert asl_cache.stats["parsed"] == 1, asl_cache.stats
        assert asl_cache.stats["parsed"] + asl_cache.stats["hits"] == runs

        # A changed definition is a different key: parsed anew, not served stale.
        changed = json.loads(json.dumps(DEFINITION))
        changed["States"]["Big"]["Parameters"]["size"] = "huge"
        sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(changed))
        execution = sfn.start_execution(stateMachineArn=arn, name="after", input=json.dumps({"n": 9}))["executionArn"]
        while (d := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            time.sleep(0.05)
        assert json.loads(d["output"])["size"] == "huge"


def test_the_cache_is_bounded_and_keyed_by_content():
    asl_cache.clear()
    calls = []

    def parse(definition):
        calls.append(definition)
        return (object(), None)

    first = asl_cache.program_for("a", parse)
    assert asl_cache.program_for("a", parse) is first
    assert calls == ["a"]
    for i in range(asl_cache.MAX_ENTRIES):
        asl_cache.program_for(f"d{i}", parse)
    # "a" was the least recently used and is gone; parsing it again gives a new tree.
    assert asl_cache.program_for("a", parse) is not first
    assert calls.count("a") == 2
    asl_cache.clear()
