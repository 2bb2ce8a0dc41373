"""A conditional write is atomic: of many concurrent "put where absent" on one key,
exactly one succeeds (DynamoDB's guarantee; the tenant claim depends on it)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

moto = pytest.importorskip("moto")

from tenant_moto import ddb_atomic  # noqa: E402

REGION = "us-east-1"


def race(keys: int, writers: int) -> list[int]:
    """How many writers won each key."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName="claims",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    wins = [0] * keys
    count = threading.Lock()
    gate = threading.Barrier(writers)

    def writer(w: int) -> None:
        client = boto3.client("dynamodb", region_name=REGION)
        gate.wait()
        for k in range(keys):
            try:
                client.put_item(
                    TableName="claims",
                    Item={"k": {"S": f"key-{k}"}, "writer": {"N": str(w)}},
                    ConditionExpression="attribute_not_exists(k)",
                )
            except client.exceptions.ConditionalCheckFailedException:
                continue
            with count:
                wins[k] += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wins


def widened(monkeypatch) -> None:
    """moto reads the item, evaluates the condition, then writes: a thread switch in
    between lets two writers both see no item. A pause in the evaluation makes that
    window wide enough to hit every time."""
    from moto.dynamodb.models import table

    parse = table.get_filter_expression

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.02)
        return parse(*args, **kwargs)

    monkeypatch.setattr(table, "get_filter_expression", slow)


def test_one_conditional_put_wins_each_key(monkeypatch):
    widened(monkeypatch)
    with moto.mock_aws():
        ddb_atomic.install()
        wins = race(keys=10, writers=4)
    assert wins == [1] * 10, wins
