"""The emulator's request-rate quotas: the limiter alone (driven clock), and a server with
`TENANT_MOTO_RATE_LIMITS=on` refusing a burst of CreateGroup with Cognito's throttling error."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

PYTHON_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PYTHON_DIR))

from tenant_moto import ratelimit  # noqa: E402  (pure module, does not import moto)


def test_a_burst_over_the_rate_is_refused_and_the_bucket_refills_with_time():
    limiter = ratelimit.Limiter({("cognito-idp", "CreateGroup"): ("UserGroupCreation", 5.0)})
    admitted = [limiter.admit("1", "us-east-1", "cognito-idp", "CreateGroup", 100.0) for _ in range(7)]
    assert admitted[:5] == [None] * 5
    assert "limited to 5 requests per second (UserGroupCreation" in admitted[5]
    assert admitted[6] is not None
    # 0.2 s refills one token at 5/s.
    assert limiter.admit("1", "us-east-1", "cognito-idp", "CreateGroup", 100.2) is None
    assert limiter.admit("1", "us-east-1", "cognito-idp", "CreateGroup", 100.2) is not None
    # Another account or Region has its own quota; an unlisted operation has none.
    assert limiter.admit("2", "us-east-1", "cognito-idp", "CreateGroup", 100.2) is None
    assert limiter.admit("1", "eu-west-1", "cognito-idp", "CreateGroup", 100.2) is None
    assert all(limiter.admit("1", "us-east-1", "cognito-idp", "GetGroup", 100.2) is None for _ in range(50))


def test_the_quotas_cover_the_calls_the_issue_names():
    assert ratelimit.QUOTAS[("cognito-idp", "CreateGroup")][1] == 5.0
    assert ratelimit.QUOTAS[("cognito-idp", "AdminAddUserToGroup")][1] == 25.0
    assert ratelimit.QUOTAS[("cognito-identity", "GetId")][1] == 25.0


def test_the_switch(monkeypatch):
    monkeypatch.delenv(ratelimit.ENV_SWITCH, raising=False)
    assert not ratelimit.enabled()
    monkeypatch.setenv(ratelimit.ENV_SWITCH, "on")
    assert ratelimit.enabled()
    monkeypatch.setenv(ratelimit.ENV_SWITCH, "off")
    assert not ratelimit.enabled()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def limited_server():
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR), TENANT_MOTO_RATE_LIMITS="on")
    env.pop("MOTO_PORT", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenant_moto", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
    )
    assert proc.stdout.readline() == "ready\n"
    yield f"http://127.0.0.1:{port}"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_a_burst_of_create_group_is_throttled_with_too_many_requests(limited_server):
    idp = boto3.client(
        "cognito-idp", endpoint_url=limited_server, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}),
    )
    pool = idp.create_user_pool(PoolName="throttled")["UserPool"]["Id"]
    refused = []
    for i in range(12):
        try:
            idp.create_group(UserPoolId=pool, GroupName=f"g{i}")
        except ClientError as e:
            refused.append(e.response["Error"]["Code"])
    assert refused, "a burst of 12 at 5/s must be throttled"
    assert set(refused) == {"TooManyRequestsException"}, refused
    time.sleep(1.2)
    idp.create_group(UserPoolId=pool, GroupName="after-the-wait")
