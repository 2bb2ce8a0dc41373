"""DynamoDB: a conditional write is atomic, as in AWS.

moto checks a write's condition and then applies it without a lock, and its server
handles requests on threads: two conditional PutItems on one key ("where no record
exists") could both see no item and both succeed. DynamoDB serialises writes to an item,
so exactly one wins; the product's ownership rule (one conditional write claims a tenant)
depends on it. Every write (and transaction) runs under one lock; reads are not held up."""

from __future__ import annotations

import functools
import threading

_lock = threading.RLock()

WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")


def install() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_tenant_moto_atomic", False):
        return
    for name in WRITES:
        original = getattr(DynamoDBBackend, name, None)
        if original is None:
            continue

        def serialised(self, *args, __original=original, **kwargs):  # type: ignore[no-untyped-def]
            with _lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, functools.wraps(original)(serialised))
    DynamoDBBackend._tenant_moto_atomic = True  # type: ignore[attr-defined]
