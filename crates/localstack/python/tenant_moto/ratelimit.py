"""Request-rate quotas of the calls onboarding makes, enforced as AWS does: a request over
the rate is refused with the service's throttling error, so onboarding must ride it out.

Cognito counts a user pool category's quota per account and Region across all pools (its
quotas page, "Quotas in Amazon Cognito"), so the bucket key is (account, region, category).
Rates are those the project's issue 13 names (the Rust side's `RATE_QUOTAS` holds the
same table; a contract test compares them). `TENANT_MOTO_RATE_LIMITS=on` enforces them,
anything else turns them off; the local stack sets it `on` unless started with
`--no-rate-limits` (Options.rate_limits). Pure apart from the clock: the
limiter takes `now` so tests drive it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

# (service signing name, operation) -> (quota category, requests per second).
QUOTAS: dict[tuple[str, str], tuple[str, float]] = {
    ("cognito-idp", "CreateGroup"): ("UserGroupCreation", 5.0),
    ("cognito-idp", "AdminAddUserToGroup"): ("UserGroupUpdate", 25.0),
    ("cognito-identity", "GetId"): ("GetId", 25.0),
}

ENV_SWITCH = "TENANT_MOTO_RATE_LIMITS"


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "off").strip().lower() == "on"


@dataclass
class _Bucket:
    tokens: float
    at: float


class Limiter:
    """A token bucket per key: `rate` tokens a second, holding at most `rate` (one second's
    burst, as AWS's per-second quotas allow)."""

    def __init__(self, quotas: dict[tuple[str, str], tuple[str, float]] | None = None):
        self._quotas = QUOTAS if quotas is None else quotas
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def quota(self, service: str, operation: str) -> tuple[str, float] | None:
        return self._quotas.get((service, operation))

    def admit(self, account: str, region: str, service: str, operation: str, now: float) -> str | None:
        """None if the request may proceed; otherwise why it was throttled."""
        quota = self.quota(service, operation)
        if quota is None:
            return None
        category, rate = quota
        key = (account, region, category)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(tokens=rate, at=now)
            bucket.tokens = min(rate, bucket.tokens + (now - bucket.at) * rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
        return f"Rate exceeded: {operation} is limited to {rate:g} requests per second ({category}, account {account}, {region})"


LIMITER = Limiter()
