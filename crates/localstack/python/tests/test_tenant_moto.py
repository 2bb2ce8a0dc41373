"""End-to-end tests of the tenant_moto extension: a real server in a subprocess, boto3 clients."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

PYTHON_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PYTHON_DIR))

from tenant_moto import policy  # noqa: E402  (pure module, does not import moto)

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "tenant-data"
TENANTS = ("acme", "acme-labs")
PASSWORD = "Passw0rd!Passw0rd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def ports():
    return _free_port(), _free_port()


@pytest.fixture(scope="session")
def mailbox(tmp_path_factory):
    return tmp_path_factory.mktemp("mail") / "mailbox.jsonl"


@pytest.fixture(scope="session")
def server(tmp_path_factory, ports, mailbox):
    port, lambda_port = ports
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR), TENANT_MOTO_MAILBOX=str(mailbox))
    env.pop("MOTO_PORT", None)
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    log = open(log_path, "w")  # noqa: SIM115 - kept open for the server's lifetime
    print(f"tenant_moto server log: {log_path}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenant_moto", "--host", "127.0.0.1", "--port", str(port),
         "--lambda-port", str(lambda_port)],
        stdout=subprocess.PIPE, stderr=log, env=env, text=True,
    )
    first_line = proc.stdout.readline()
    assert first_line == "ready\n", f"unexpected first stdout line: {first_line!r}"
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    yield f"http://127.0.0.1:{port}"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert proc.stdout.read() == "", "nothing but 'ready' may be printed on stdout"
    log.close()


def _client(endpoint, service, key="test", secret="test", token=None, validate=True):
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id=key,
        aws_secret_access_key=secret, aws_session_token=token,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                      parameter_validation=validate),
    )


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _trust(identity_pool_id: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": "cognito-identity.amazonaws.com"},
            "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
            "Condition": {
                "StringEquals": {"cognito-identity.amazonaws.com:aud": identity_pool_id},
                "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"},
            },
        }],
    })


BOUNDARY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": f"arn:aws:s3:::{BUCKET}/tenants/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"},
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
         "Resource": "arn:aws:secretsmanager:*:*:secret:tenants/*"},
    ],
}


def _tenant_policy(tenant: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
             "Resource": f"arn:aws:s3:::{BUCKET}/tenants/{tenant}/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}",
             "Condition": {"StringLike": {"s3:prefix": [f"tenants/{tenant}/", f"tenants/{tenant}/*"]}}},
            {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
             "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:tenants/{tenant}/*"},
        ],
    })


def _sign_in(idp, pool_id, client_id, username) -> str:
    result = idp.admin_initiate_auth(
        UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
    )
    return result["AuthenticationResult"]["IdToken"]


def _create_user(idp, pool_id, username, groups=()):
    idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS",
                          TemporaryPassword=PASSWORD)
    idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=PASSWORD,
                                Permanent=True)
    for group in groups:
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)


def _credentials(ci, identity_pool_id, provider, id_token) -> dict:
    logins = {provider: id_token}
    identity_id = ci.get_id(IdentityPoolId=identity_pool_id, Logins=logins)["IdentityId"]
    return ci.get_credentials_for_identity(IdentityId=identity_id, Logins=logins)


class Stack:
    """The scenario from the brief, built with the admin ("test") credentials."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        s3, iam, idp = (_client(endpoint, s) for s in ("s3", "iam", "cognito-idp"))
        self.ci = _client(endpoint, "cognito-identity")
        sm = _client(endpoint, "secretsmanager")
        s3.create_bucket(Bucket=BUCKET)
        self.user_pool_id = idp.create_user_pool(PoolName="tenants")["UserPool"]["Id"]
        self.client_id = idp.create_user_pool_client(
            UserPoolId=self.user_pool_id, ClientName="app",
            ExplicitAuthFlows=["ADMIN_USER_PASSWORD_AUTH"],
        )["UserPoolClient"]["ClientId"]
        self.provider = f"cognito-idp.{REGION}.amazonaws.com/{self.user_pool_id}"
        self.identity_pool_id = self.ci.create_identity_pool(
            IdentityPoolName="tenants", AllowUnauthenticatedIdentities=False,
            CognitoIdentityProviders=[{"ProviderName": self.provider, "ClientId": self.client_id}],
        )["IdentityPoolId"]
        self.boundary_arn = iam.create_policy(
            PolicyName="tenant-boundary", PolicyDocument=json.dumps(BOUNDARY)
        )["Policy"]["Arn"]
        self.role_arns, self.secret_arns, self.tokens = {}, {}, {}
        rules = []
        for tenant in TENANTS:
            group = f"tenant:{tenant}:members"
            idp.create_group(UserPoolId=self.user_pool_id, GroupName=group)
            role = iam.create_role(
                RoleName=f"tenant-{tenant}", Path="/tenants/",
                AssumeRolePolicyDocument=_trust(self.identity_pool_id),
                PermissionsBoundary=self.boundary_arn,
                Tags=[{"Key": "tenant", "Value": tenant}],
            )["Role"]
            iam.put_role_policy(RoleName=f"tenant-{tenant}", PolicyName="tenant",
                                PolicyDocument=_tenant_policy(tenant))
            self.role_arns[tenant] = role["Arn"]
            self.secret_arns[tenant] = sm.create_secret(
                Name=f"tenants/{tenant}/app", SecretString=f"secret-of-{tenant}"
            )["ARN"]
            s3.put_object(Bucket=BUCKET, Key=f"tenants/{tenant}/seed.txt", Body=tenant.encode())
            rules.append({"Claim": "cognito:groups", "MatchType": "Contains", "Value": group,
                          "RoleARN": role["Arn"]})
            _create_user(idp, self.user_pool_id, f"user-{tenant}", [group])
            self.tokens[tenant] = _sign_in(idp, self.user_pool_id, self.client_id, f"user-{tenant}")
        _create_user(idp, self.user_pool_id, "nobody")
        self.tokens[None] = _sign_in(idp, self.user_pool_id, self.client_id, "nobody")
        self.mapping_key = f"{self.provider}:{self.client_id}"
        self.ci.set_identity_pool_roles(
            IdentityPoolId=self.identity_pool_id, Roles={},
            RoleMappings={self.mapping_key: {
                "Type": "Rules", "AmbiguousRoleResolution": "Deny",
                "RulesConfiguration": {"Rules": rules},
            }},
        )
        self.idp, self.iam = idp, iam

    def tenant_clients(self, tenant):
        creds = _credentials(self.ci, self.identity_pool_id, self.provider, self.tokens[tenant])
        c = creds["Credentials"]
        return {s: _client(self.endpoint, s, c["AccessKeyId"], c["SecretKey"], c["SessionToken"])
                for s in ("s3", "secretsmanager", "sts")}, creds


@pytest.fixture(scope="session")
def stack(server):
    return Stack(server)


# ------------------------------------------------------------------ the contract


def test_server_prints_ready_and_serves(server):
    # the fixture asserted the 'ready' line; the server answers AWS calls
    assert _client(server, "sts").get_caller_identity()["Account"] == ACCOUNT


def test_state_machines_execute_and_reach_lambda_port(server, ports):
    """execute_state_machine is on and Lambda tasks go to http://localhost:$MOTO_PORT (--lambda-port)."""
    seen = []

    class FakeLambda(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append((self.path, json.loads(body or b"null")))
            payload = json.dumps({"handled": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    fake = http.server.ThreadingHTTPServer(("127.0.0.1", ports[1]), FakeLambda)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    try:
        sfn = _client(server, "stepfunctions")
        definition = {"StartAt": "Call", "States": {"Call": {
            "Type": "Task", "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:echo", "End": True}}}
        arn = sfn.create_state_machine(
            name="smoke", definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn")["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"tenant": "acme"}))
        deadline = time.time() + 20
        while True:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING" or time.time() > deadline:
                break
            time.sleep(0.2)
        assert described["status"] == "SUCCEEDED", described
        assert json.loads(described["output"]) == {"handled": True}
        assert seen and seen[0][1] == {"tenant": "acme"}
        assert "/2015-03-31/functions/" in seen[0][0]
    finally:
        fake.shutdown()


# ------------------------------------------------------- Sign-up codes and the trigger


def _mail_to(mailbox: Path, address: str) -> list[dict]:
    if not mailbox.exists():
        return []
    lines = mailbox.read_text().splitlines()
    return [m for m in map(json.loads, lines) if m["to"] == address]


def test_sign_up_code_goes_to_the_mailbox_and_confirm_calls_the_trigger(server, ports, mailbox):
    seen = []

    class Trigger(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            event = json.loads(body)
            seen.append((self.path, event))
            failing = event["request"]["userAttributes"]["email"].startswith("fail")
            payload = json.dumps(
                {"errorType": "TenantTaken", "errorMessage": "id taken"} if failing else event).encode()
            self.send_response(200)
            if failing:
                self.send_header("X-Amz-Function-Error", "Unhandled")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    fake = http.server.ThreadingHTTPServer(("127.0.0.1", ports[1]), Trigger)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    trigger_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tenant-post-confirmation"
    try:
        idp = _client(server, "cognito-idp")
        pool = idp.create_user_pool(
            PoolName="signup-pool", UsernameAttributes=["email"], AutoVerifiedAttributes=["email"],
            LambdaConfig={"PostConfirmation": trigger_arn},
            Schema=[{"Name": "tenant_id", "AttributeDataType": "String", "Mutable": False}],
        )["UserPool"]["Id"]
        client = idp.create_user_pool_client(UserPoolId=pool, ClientName="page")["UserPoolClient"]["ClientId"]
        email = f"admin-{uuid.uuid4().hex[:8]}@acme.example"
        out = idp.sign_up(ClientId=client, Username=email, Password=PASSWORD,
                          UserAttributes=[{"Name": "email", "Value": email},
                                          {"Name": "custom:tenant_id", "Value": "acme"}])
        assert out["UserConfirmed"] is False
        mail = _mail_to(mailbox, email)
        assert len(mail) == 1 and len(mail[0]["code"]) == 6 and mail[0]["code"] in mail[0]["body"]
        code = mail[0]["code"]
        wrong = "000000" if code != "000000" else "111111"
        with pytest.raises(ClientError) as e:
            idp.confirm_sign_up(ClientId=client, Username=email, ConfirmationCode=wrong)
        assert _code(e) == "CodeMismatchException"
        assert seen == []
        # A new code replaces the old one.
        idp.resend_confirmation_code(ClientId=client, Username=email)
        mail = _mail_to(mailbox, email)
        assert len(mail) == 2
        if mail[1]["code"] != code:
            with pytest.raises(ClientError) as e:
                idp.confirm_sign_up(ClientId=client, Username=email, ConfirmationCode=code)
            assert _code(e) == "CodeMismatchException"
        idp.confirm_sign_up(ClientId=client, Username=email, ConfirmationCode=mail[1]["code"])
        assert len(seen) == 1
        path, event = seen[0]
        assert "tenant-post-confirmation" in urllib.parse.unquote(path)
        assert event["triggerSource"] == "PostConfirmation_ConfirmSignUp"
        assert event["userPoolId"] == pool and event["callerContext"]["clientId"] == client
        attributes = event["request"]["userAttributes"]
        assert attributes["email"] == email and attributes["email_verified"] == "true"
        assert attributes["custom:tenant_id"] == "acme"
        assert attributes["cognito:user_status"] == "CONFIRMED"
        user = idp.admin_get_user(UserPoolId=pool, Username=event["userName"])
        assert user["UserStatus"] == "CONFIRMED"
        with pytest.raises(ClientError) as e:
            idp.confirm_sign_up(ClientId=client, Username=email, ConfirmationCode=mail[1]["code"])
        assert _code(e) == "NotAuthorizedException"
        # The password the person chose signs them in.
        auth = idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD})
        assert "IdToken" in auth["AuthenticationResult"]
        # A failing trigger is Cognito's UserLambdaValidationException naming the error.
        failing = f"fail-{uuid.uuid4().hex[:8]}@acme.example"
        idp.sign_up(ClientId=client, Username=failing, Password=PASSWORD,
                    UserAttributes=[{"Name": "email", "Value": failing}])
        with pytest.raises(ClientError) as e:
            idp.confirm_sign_up(ClientId=client, Username=failing,
                                ConfirmationCode=_mail_to(mailbox, failing)[0]["code"])
        assert _code(e) == "UserLambdaValidationException"
        assert "id taken" in e.value.response["Error"]["Message"]
    finally:
        fake.shutdown()
        fake.server_close()


def test_an_expired_code_is_refused_as_cognito_does(tmp_path):
    """A server whose codes last 0 s: the right code, late, is ExpiredCodeException."""
    port = _free_port()
    mailbox = tmp_path / "mailbox.jsonl"
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR), TENANT_MOTO_MAILBOX=str(mailbox),
               TENANT_MOTO_SIGNUP_CODE_SECONDS="0")
    env.pop("MOTO_PORT", None)
    proc = subprocess.Popen([sys.executable, "-m", "tenant_moto", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        idp = _client(f"http://127.0.0.1:{port}", "cognito-idp")
        pool = idp.create_user_pool(PoolName="late", UsernameAttributes=["email"],
                                    AutoVerifiedAttributes=["email"])["UserPool"]["Id"]
        client = idp.create_user_pool_client(UserPoolId=pool, ClientName="page")["UserPoolClient"]["ClientId"]
        email = "late@acme.example"
        idp.sign_up(ClientId=client, Username=email, Password=PASSWORD,
                    UserAttributes=[{"Name": "email", "Value": email}])
        time.sleep(0.05)
        with pytest.raises(ClientError) as e:
            idp.confirm_sign_up(ClientId=client, Username=email,
                                ConfirmationCode=_mail_to(mailbox, email)[0]["code"])
        assert _code(e) == "ExpiredCodeException"
        assert idp.admin_get_user(UserPoolId=pool, Username=email)["UserStatus"] == "UNCONFIRMED"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


# ------------------------------------------------------- Set/GetIdentityPoolRoles


def test_roles_round_trip(stack):
    got = stack.ci.get_identity_pool_roles(IdentityPoolId=stack.identity_pool_id)
    assert got["IdentityPoolId"] == stack.identity_pool_id
    rules = got["RoleMappings"][stack.mapping_key]["RulesConfiguration"]["Rules"]
    assert [r["RoleARN"] for r in rules] == [stack.role_arns[t] for t in TENANTS]
    assert got["RoleMappings"][stack.mapping_key]["AmbiguousRoleResolution"] == "Deny"


def _rule(i=0, **overrides):
    rule = {"Claim": "cognito:groups", "MatchType": "Contains", "Value": f"tenant:t{i}:members",
            "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/tenants/tenant-t{i}"}
    rule.update(overrides)
    return rule


@pytest.mark.parametrize("roles, mappings, needle", [
    ({"admin": f"arn:aws:iam::{ACCOUNT}:role/x-role-name"}, None, "authenticated"),
    ({"authenticated": "arn:aws:iam::1:role"}, None, "20 to 2048"),
    ({"authenticated": "arn:aws:iam::1:role/x-role-name"}, None, "not a valid IAM role ARN"),
    ({}, "BAD_KEY", "cognito-idp.{region}"),
    ({}, {"Type": "Magic", "AmbiguousRoleResolution": "Deny"}, "Token, Rules"),
    ({}, {"Type": "Rules", "RulesConfiguration": {"Rules": [_rule()]}}, "AmbiguousRoleResolution is required"),
    ({}, {"Type": "Token"}, "AmbiguousRoleResolution is required"),
    ({}, {"Type": "Token", "AmbiguousRoleResolution": "Maybe"}, "AuthenticatedRole, Deny"),
    ({}, {"Type": "Rules", "AmbiguousRoleResolution": "Deny"}, "at least one rule"),
    ({}, {"Type": "Rules", "AmbiguousRoleResolution": "Deny",
          "RulesConfiguration": {"Rules": [_rule(i) for i in range(26)]}}, "at most 25 rules"),
    ({}, {"Type": "Rules", "AmbiguousRoleResolution": "Deny",
          "RulesConfiguration": {"Rules": [_rule(Claim="c" * 65)]}}, "Claim"),
    ({}, {"Type": "Rules", "AmbiguousRoleResolution": "Deny",
          "RulesConfiguration": {"Rules": [_rule(MatchType="Regex")]}}, "MatchType"),
    ({}, {"Type": "Rules", "AmbiguousRoleResolution": "Deny",
          "RulesConfiguration": {"Rules": [_rule(Value="v" * 129)]}}, "Value"),
    ({}, {"Type": "Rules", "AmbiguousRoleResolution": "Deny",
          "RulesConfiguration": {"Rules": [_rule(RoleARN="arn:aws:iam::1:r")]}}, "RoleARN"),
])
def test_set_roles_validation(stack, roles, mappings, needle):
    role_mappings = None
    if mappings == "BAD_KEY":
        role_mappings = {"graph.facebook.com": {"Type": "Token", "AmbiguousRoleResolution": "Deny"}}
    elif mappings is not None:
        role_mappings = {stack.mapping_key: mappings}
    kwargs = {"IdentityPoolId": stack.identity_pool_id, "Roles": roles}
    if role_mappings is not None:
        kwargs["RoleMappings"] = role_mappings
    raw = _client(stack.endpoint, "cognito-identity", validate=False)  # let the server validate
    with pytest.raises(ClientError) as exc:
        raw.set_identity_pool_roles(**kwargs)
    assert _code(exc) == "InvalidParameterException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert needle in exc.value.response["Error"]["Message"]
    # a refused update leaves the stored configuration untouched
    got = stack.ci.get_identity_pool_roles(IdentityPoolId=stack.identity_pool_id)
    assert len(got["RoleMappings"][stack.mapping_key]["RulesConfiguration"]["Rules"]) == 2


def test_twenty_five_rules_accepted_and_eleven_providers_refused(stack):
    ci = stack.ci
    pool = ci.create_identity_pool(IdentityPoolName="rules25", AllowUnauthenticatedIdentities=False)
    pid = pool["IdentityPoolId"]
    ci.set_identity_pool_roles(IdentityPoolId=pid, Roles={}, RoleMappings={stack.mapping_key: {
        "Type": "Rules", "AmbiguousRoleResolution": "Deny",
        "RulesConfiguration": {"Rules": [_rule(i) for i in range(25)]}}})
    got = ci.get_identity_pool_roles(IdentityPoolId=pid)
    assert len(got["RoleMappings"][stack.mapping_key]["RulesConfiguration"]["Rules"]) == 25
    eleven = {f"cognito-idp.{REGION}.amazonaws.com/{REGION}_pool{i}:client{i}":
              {"Type": "Token", "AmbiguousRoleResolution": "Deny"} for i in range(11)}
    with pytest.raises(ClientError) as exc:
        ci.set_identity_pool_roles(IdentityPoolId=pid, Roles={}, RoleMappings=eleven)
    assert _code(exc) == "InvalidParameterException"


def test_unknown_pool_and_delete_drops_roles(stack):
    ci = stack.ci
    missing = f"{REGION}:{uuid.uuid4()}"
    for call in (lambda: ci.get_identity_pool_roles(IdentityPoolId=missing),
                 lambda: ci.set_identity_pool_roles(IdentityPoolId=missing, Roles={})):
        with pytest.raises(ClientError) as exc:
            call()
        assert _code(exc) == "ResourceNotFoundException"
    pid = ci.create_identity_pool(IdentityPoolName="doomed",
                                  AllowUnauthenticatedIdentities=False)["IdentityPoolId"]
    auth_role = stack.role_arns["acme"]
    ci.set_identity_pool_roles(IdentityPoolId=pid, Roles={"authenticated": auth_role})
    assert ci.get_identity_pool_roles(IdentityPoolId=pid)["Roles"] == {"authenticated": auth_role}
    ci.delete_identity_pool(IdentityPoolId=pid)
    with pytest.raises(ClientError) as exc:
        ci.get_identity_pool_roles(IdentityPoolId=pid)
    assert _code(exc) == "ResourceNotFoundException"


# -------------------------------------------------------------- tenant isolation


@pytest.mark.parametrize("tenant, other", [("acme", "acme-labs"), ("acme-labs", "acme")])
def test_s3_isolation(stack, tenant, other):
    clients, creds = stack.tenant_clients(tenant)
    s3 = clients["s3"]
    assert creds["IdentityId"].startswith(f"{REGION}:")
    assert creds["Credentials"]["AccessKeyId"].startswith("ASIA")
    arn = clients["sts"].get_caller_identity()["Arn"]
    assert arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/tenant-{tenant}/CognitoIdentityCredentials"

    own = f"tenants/{tenant}/doc.txt"
    s3.put_object(Bucket=BUCKET, Key=own, Body=b"hello")
    assert s3.get_object(Bucket=BUCKET, Key=own)["Body"].read() == b"hello"
    for prefix in (f"tenants/{tenant}/", f"tenants/{tenant}/doc"):
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
        assert own in keys and all(k.startswith(f"tenants/{tenant}/") for k in keys)
    s3.delete_object(Bucket=BUCKET, Key=own)

    denied = [
        lambda: s3.get_object(Bucket=BUCKET, Key=f"tenants/{other}/seed.txt"),
        lambda: s3.put_object(Bucket=BUCKET, Key=f"tenants/{other}/evil.txt", Body=b"x"),
        lambda: s3.delete_object(Bucket=BUCKET, Key=f"tenants/{other}/seed.txt"),
        lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix=f"tenants/{other}/"),
        lambda: s3.list_objects_v2(Bucket=BUCKET),  # no prefix: s3:prefix absent
        lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix="tenants/"),
        lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix=f"tenants/{tenant}"),  # no delimiter
        lambda: s3.put_object(Bucket=BUCKET, Key="outside.txt", Body=b"x"),
        lambda: s3.list_buckets(),
    ]
    for call in denied:
        with pytest.raises(ClientError) as exc:
            call()
        assert _code(exc) == "AccessDenied"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    admin = _client(stack.endpoint, "s3")
    assert admin.get_object(Bucket=BUCKET, Key=f"tenants/{other}/seed.txt")["Body"].read() == other.encode()
    with pytest.raises(ClientError):
        admin.head_object(Bucket=BUCKET, Key=f"tenants/{other}/evil.txt")


@pytest.mark.parametrize("tenant, other", [("acme", "acme-labs"), ("acme-labs", "acme")])
def test_secrets_isolation(stack, tenant, other):
    clients, _ = stack.tenant_clients(tenant)
    sm = clients["secretsmanager"]
    for secret_id in (f"tenants/{tenant}/app", stack.secret_arns[tenant]):
        assert sm.get_secret_value(SecretId=secret_id)["SecretString"] == f"secret-of-{tenant}"
        assert sm.describe_secret(SecretId=secret_id)["ARN"] == stack.secret_arns[tenant]

    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/tenant-{tenant}/CognitoIdentityCredentials"
    for secret_id in (f"tenants/{other}/app", stack.secret_arns[other]):
        for call in (sm.get_secret_value, sm.describe_secret):
            with pytest.raises(ClientError) as exc:
                call(SecretId=secret_id)
            assert _code(exc) == "AccessDeniedException"
            assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            message = exc.value.response["Error"]["Message"]
            assert message.startswith(f"User: {session_arn} is not authorized to perform: secretsmanager:")
            assert f"on resource: {stack.secret_arns[other]} because no identity-based policy allows" in message

    # a denied caller cannot probe existence; an allowed one gets the real error
    with pytest.raises(ClientError) as exc:
        sm.get_secret_value(SecretId=f"tenants/{other}/does-not-exist")
    assert _code(exc) == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:
        sm.get_secret_value(SecretId=f"tenants/{tenant}/does-not-exist")
    assert _code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:  # in the role's policy, outside the boundary's actions
        sm.put_secret_value(SecretId=f"tenants/{tenant}/app", SecretString="x")
    assert _code(exc) == "AccessDeniedException"


def test_same_user_gets_same_identity(stack):
    logins = {stack.provider: stack.tokens["acme"]}
    first = stack.ci.get_id(IdentityPoolId=stack.identity_pool_id, Logins=logins)["IdentityId"]
    second = stack.ci.get_id(IdentityPoolId=stack.identity_pool_id, Logins=logins)["IdentityId"]
    assert first == second
    other = stack.ci.get_id(IdentityPoolId=stack.identity_pool_id,
                            Logins={stack.provider: stack.tokens["acme-labs"]})["IdentityId"]
    with pytest.raises(ClientError) as exc:  # acme's identity with acme-labs' token
        stack.ci.get_credentials_for_identity(IdentityId=first, Logins={stack.provider: stack.tokens["acme-labs"]})
    assert _code(exc) == "NotAuthorizedException"
    assert other != first


# ---------------------------------------------------------- credential failures


def test_user_in_no_group_is_denied(stack):
    with pytest.raises(ClientError) as exc:
        _credentials(stack.ci, stack.identity_pool_id, stack.provider, stack.tokens[None])
    assert _code(exc) == "NotAuthorizedException"
    assert "ambiguous role mapping rules" in exc.value.response["Error"]["Message"]


def test_ambiguous_authenticated_role_fallback(stack):
    ci = stack.ci
    pid = ci.create_identity_pool(
        IdentityPoolName="fallback", AllowUnauthenticatedIdentities=False,
        CognitoIdentityProviders=[{"ProviderName": stack.provider, "ClientId": stack.client_id}],
    )["IdentityPoolId"]
    role = stack.iam.create_role(RoleName="fallback-auth", AssumeRolePolicyDocument=_trust(pid))["Role"]
    ci.set_identity_pool_roles(IdentityPoolId=pid, Roles={"authenticated": role["Arn"]}, RoleMappings={
        stack.mapping_key: {"Type": "Rules", "AmbiguousRoleResolution": "AuthenticatedRole",
                            "RulesConfiguration": {"Rules": [_rule()]}}})
    creds = _credentials(ci, pid, stack.provider, stack.tokens[None])["Credentials"]
    sts = _client(stack.endpoint, "sts", creds["AccessKeyId"], creds["SecretKey"], creds["SessionToken"])
    assert ":assumed-role/fallback-auth/" in sts.get_caller_identity()["Arn"]


def test_trust_naming_another_pool_is_refused(stack):
    ci = stack.ci
    pid = ci.create_identity_pool(
        IdentityPoolName="other", AllowUnauthenticatedIdentities=False,
        CognitoIdentityProviders=[{"ProviderName": stack.provider, "ClientId": stack.client_id}],
    )["IdentityPoolId"]
    # tenant-acme trusts only the main identity pool
    ci.set_identity_pool_roles(IdentityPoolId=pid, Roles={}, RoleMappings={stack.mapping_key: {
        "Type": "Rules", "AmbiguousRoleResolution": "Deny",
        "RulesConfiguration": {"Rules": [{"Claim": "cognito:groups", "MatchType": "Contains",
                                          "Value": "tenant:acme:members",
                                          "RoleARN": stack.role_arns["acme"]}]}}})
    with pytest.raises(ClientError) as exc:
        _credentials(ci, pid, stack.provider, stack.tokens["acme"])
    assert _code(exc) == "InvalidIdentityPoolConfigurationException"
    assert "Check assigned IAM roles" in exc.value.response["Error"]["Message"]


def test_bad_tokens_and_unauthenticated(stack):
    ci = stack.ci
    token = stack.tokens["acme"]
    header, payload, signature = token.split(".")
    claims = _claims(token)
    claims["cognito:groups"] = ["tenant:acme-labs:members"]
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    forged = ".".join([header, forged_payload, signature])
    identity_id = ci.get_id(IdentityPoolId=stack.identity_pool_id,
                            Logins={stack.provider: token})["IdentityId"]
    for logins in ({stack.provider: forged}, {stack.provider: "not-a-jwt"}):
        with pytest.raises(ClientError) as exc:
            ci.get_credentials_for_identity(IdentityId=identity_id, Logins=logins)
        assert _code(exc) == "NotAuthorizedException"
    with pytest.raises(ClientError) as exc:  # no Logins and no unauthenticated access
        ci.get_credentials_for_identity(IdentityId=identity_id)
    assert _code(exc) == "NotAuthorizedException"
    with pytest.raises(ClientError) as exc:  # provider not configured on the pool
        ci.get_id(IdentityPoolId=stack.identity_pool_id,
                  Logins={f"cognito-idp.{REGION}.amazonaws.com/{REGION}_Nope12345": token})
    assert _code(exc) == "NotAuthorizedException"
    with pytest.raises(ClientError) as exc:
        ci.get_credentials_for_identity(IdentityId=f"{REGION}:{uuid.uuid4()}", Logins={stack.provider: token})
    assert _code(exc) == "ResourceNotFoundException"


def test_unauthenticated_role(stack):
    ci = stack.ci
    pid = ci.create_identity_pool(IdentityPoolName="guests", AllowUnauthenticatedIdentities=True)["IdentityPoolId"]
    trust = json.loads(_trust(pid))
    trust["Statement"][0]["Condition"]["ForAnyValue:StringLike"]["cognito-identity.amazonaws.com:amr"] = "unauthenticated"
    role = stack.iam.create_role(RoleName="guest", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    identity_id = ci.get_id(IdentityPoolId=pid)["IdentityId"]
    with pytest.raises(ClientError) as exc:  # no unauthenticated role yet
        ci.get_credentials_for_identity(IdentityId=identity_id)
    assert _code(exc) == "InvalidIdentityPoolConfigurationException"
    ci.set_identity_pool_roles(IdentityPoolId=pid, Roles={"unauthenticated": role["Arn"]})
    creds = ci.get_credentials_for_identity(IdentityId=identity_id)["Credentials"]
    s3 = _client(stack.endpoint, "s3", creds["AccessKeyId"], creds["SecretKey"], creds["SessionToken"])
    with pytest.raises(ClientError) as exc:  # the guest role has no permissions at all
        s3.get_object(Bucket=BUCKET, Key="tenants/acme/seed.txt")
    assert _code(exc) == "AccessDenied"


# ------------------------------------------------------------- Token mapping


def test_token_mapping_and_role_claims(server):
    idp, iam, ci = (_client(server, s) for s in ("cognito-idp", "iam", "cognito-identity"))
    pool_id = idp.create_user_pool(PoolName="token-pool")["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="app",
                                            ExplicitAuthFlows=["ADMIN_USER_PASSWORD_AUTH"])["UserPoolClient"]["ClientId"]
    provider = f"cognito-idp.{REGION}.amazonaws.com/{pool_id}"
    pid = ci.create_identity_pool(
        IdentityPoolName="token", AllowUnauthenticatedIdentities=False,
        CognitoIdentityProviders=[{"ProviderName": provider, "ClientId": client_id}],
    )["IdentityPoolId"]
    arns = {}
    for name, precedence in (("alpha", 1), ("beta", 2), ("gamma", 2)):
        arns[name] = iam.create_role(RoleName=f"token-{name}", Path="/tenants/",
                                     AssumeRolePolicyDocument=_trust(pid))["Role"]["Arn"]
        idp.create_group(UserPoolId=pool_id, GroupName=name, RoleArn=arns[name], Precedence=precedence)
    idp.create_group(UserPoolId=pool_id, GroupName="no-role")
    ci.set_identity_pool_roles(IdentityPoolId=pid, Roles={}, RoleMappings={
        f"{provider}:{client_id}": {"Type": "Token", "AmbiguousRoleResolution": "Deny"}})

    users = {"u-alpha": ["alpha"], "u-beta": ["beta", "no-role"], "u-both": ["alpha", "beta"],
             "u-tie": ["beta", "gamma"], "u-none": ["no-role"]}
    tokens = {}
    for user, groups in users.items():
        _create_user(idp, pool_id, user, groups)
        tokens[user] = _sign_in(idp, pool_id, client_id, user)

    assert _claims(tokens["u-alpha"])["cognito:roles"] == [arns["alpha"]]
    assert _claims(tokens["u-alpha"])["cognito:preferred_role"] == arns["alpha"]
    both = _claims(tokens["u-both"])
    assert set(both["cognito:roles"]) == {arns["alpha"], arns["beta"]}
    assert both["cognito:preferred_role"] == arns["alpha"]  # lowest precedence wins
    tie = _claims(tokens["u-tie"])
    assert set(tie["cognito:roles"]) == {arns["beta"], arns["gamma"]}
    assert "cognito:preferred_role" not in tie
    assert "cognito:roles" not in _claims(tokens["u-none"])
    assert set(_claims(tokens["u-beta"])["cognito:groups"]) == {"beta", "no-role"}

    for user, expected in (("u-alpha", "alpha"), ("u-beta", "beta"), ("u-both", "alpha")):
        creds = _credentials(ci, pid, provider, tokens[user])["Credentials"]
        sts = _client(server, "sts", creds["AccessKeyId"], creds["SecretKey"], creds["SessionToken"])
        assert f":assumed-role/token-{expected}/" in sts.get_caller_identity()["Arn"]
    for user in ("u-tie", "u-none"):
        with pytest.raises(ClientError) as exc:
            _credentials(ci, pid, provider, tokens[user])
        assert _code(exc) == "NotAuthorizedException"
    # CustomRoleArn picks one of the token's roles
    logins = {provider: tokens["u-tie"]}
    identity_id = ci.get_id(IdentityPoolId=pid, Logins=logins)["IdentityId"]
    creds = ci.get_credentials_for_identity(IdentityId=identity_id, Logins=logins,
                                            CustomRoleArn=arns["gamma"])["Credentials"]
    sts = _client(server, "sts", creds["AccessKeyId"], creds["SecretKey"], creds["SessionToken"])
    assert ":assumed-role/token-gamma/" in sts.get_caller_identity()["Arn"]


# ------------------------------------------------- boundary and explicit deny


def test_boundary_and_explicit_deny_with_plain_assume_role(stack):
    iam, s3_admin = stack.iam, _client(stack.endpoint, "s3")
    s3_admin.put_object(Bucket=BUCKET, Key="public/readme.txt", Body=b"r")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName="wide", AssumeRolePolicyDocument=trust, PermissionsBoundary=stack.boundary_arn)
    iam.put_role_policy(RoleName="wide", PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "S3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/tenants/acme-labs/*"},
        ]}))
    denied_managed = iam.create_policy(PolicyName="deny-secrets", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "secretsmanager:*", "Resource": "*"}]}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="wide", PolicyArn=denied_managed)
    creds = _client(stack.endpoint, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/wide", RoleSessionName="ops")["Credentials"]
    s3 = _client(stack.endpoint, "s3", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    sm = _client(stack.endpoint, "secretsmanager", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert s3.get_object(Bucket=BUCKET, Key="tenants/acme/seed.txt")["Body"].read() == b"acme"
    assert "Contents" in s3.list_objects_v2(Bucket=BUCKET)  # boundary allows ListBucket without condition
    for key in ("public/readme.txt", "tenants/acme-labs/seed.txt"):  # boundary / explicit deny
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=BUCKET, Key=key)
        assert _code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        sm.get_secret_value(SecretId="tenants/acme/app")
    assert _code(exc) == "AccessDeniedException"
    assert "explicit deny" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:  # wrong session token
        _client(stack.endpoint, "s3", creds["AccessKeyId"], creds["SecretAccessKey"], "forged").get_object(
            Bucket=BUCKET, Key="tenants/acme/seed.txt")
    assert _code(exc) == "InvalidToken"


# ------------------------------------------------------- policy engine (pure)


def test_policy_conditions():
    ctx = policy.Context({"s3:prefix": "tenants/acme/", "amr": ["authenticated", "cognito-idp.x"],
                          "aws:PrincipalTag/tenant": "acme"})
    holds = policy.condition_holds
    assert holds({"StringLike": {"s3:prefix": "tenants/acme/*"}}, ctx)
    assert not holds({"StringLike": {"s3:prefix": "tenants/acme-labs/*"}}, ctx)
    assert holds({"StringEquals": {"S3:Prefix": ["x", "tenants/acme/"]}}, ctx)  # keys case-insensitive
    assert not holds({"StringEquals": {"s3:prefix": "TENANTS/acme/"}}, ctx)
    assert holds({"StringEqualsIgnoreCase": {"s3:prefix": "TENANTS/acme/"}}, ctx)
    assert holds({"StringNotEquals": {"missing": "x"}}, ctx)  # negated + absent key -> true
    assert not holds({"StringEquals": {"missing": "x"}}, ctx)
    assert holds({"StringEqualsIfExists": {"missing": "x"}}, ctx)
    assert holds({"Null": {"missing": "true", "s3:prefix": "false"}}, ctx)
    assert holds({"ForAnyValue:StringLike": {"amr": "authenticated"}}, ctx)
    assert not holds({"ForAnyValue:StringLike": {"amr": "unauthenticated"}}, ctx)
    assert not holds({"ForAllValues:StringEquals": {"amr": "authenticated"}}, ctx)
    assert holds({"ForAllValues:StringLike": {"amr": ["authenticated", "cognito-idp.*"]}}, ctx)
    assert holds({"ForAllValues:StringEquals": {"missing": "x"}}, ctx)
    assert not holds({"ForAnyValue:StringEquals": {"missing": "x"}}, ctx)
    assert holds({"ForAnyValue:StringNotEquals": {"amr": "authenticated"}}, ctx)
    assert not holds({"StringNotLike": {"amr": "auth*"}}, ctx)
    assert holds({"StringEquals": {"s3:prefix": "tenants/${aws:PrincipalTag/tenant}/"}}, ctx)
    assert holds({"ArnLike": {"arn": "arn:aws:iam::*:role/tenants/*"}},
                 policy.Context({"arn": "arn:aws:iam::123456789012:role/tenants/tenant-acme"}))
    assert not holds({"UnknownOperator": {"s3:prefix": "x"}}, ctx)


def test_policy_matching():
    assert policy.action_match("S3:get*", "s3:GetObject")
    assert not policy.action_match("s3:Get?", "s3:GetObject")
    assert policy.arn_match("arn:aws:s3:::tenant-data/tenants/acme/*", "arn:aws:s3:::tenant-data/tenants/acme/a/b")
    assert not policy.arn_match("arn:aws:s3:::tenant-data/tenants/acme/*", "arn:aws:s3:::tenant-data/tenants/acme-labs/a")
    assert not policy.arn_match("arn:aws:s3:::Tenant-data/*", "arn:aws:s3:::tenant-data/x")
    assert policy.arn_match("arn:aws:secretsmanager:*:*:secret:tenants/*",
                            "arn:aws:secretsmanager:us-east-1:123456789012:secret:tenants/acme/app-AbC123")
    assert policy.arn_match("arn:aws:s3:::b/file-?.txt", "arn:aws:s3:::b/file-1.txt")
    assert not policy.arn_match("arn:aws:s3:::b/file-?.txt", "arn:aws:s3:::b/file-10.txt")
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::secret/*"}]}
    ctx = policy.Context()
    assert policy.evaluate(doc, "s3:GetObject", "arn:aws:s3:::b/k", ctx) == policy.ALLOW
    assert policy.evaluate(doc, "s3:GetObject", "arn:aws:s3:::secret/k", ctx) == policy.NEUTRAL
    assert policy.evaluate(doc, "iam:CreateRole", "*", ctx) == policy.NEUTRAL


def test_denial_shapes_of_other_services(stack):
    clients, _ = stack.tenant_clients("acme")
    c = clients["sts"]._request_signer._credentials
    ddb = _client(stack.endpoint, "dynamodb", c.access_key, c.secret_key, c.token)
    iam = _client(stack.endpoint, "iam", c.access_key, c.secret_key, c.token)
    with pytest.raises(ClientError) as exc:  # JSON protocol
        ddb.list_tables()
    assert _code(exc) == "AccessDeniedException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "dynamodb:ListTables" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:  # query protocol
        iam.list_roles()
    assert _code(exc) == "AccessDenied"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "iam:ListRoles" in exc.value.response["Error"]["Message"]
    # the admin key is never checked
    assert "TableNames" in _client(stack.endpoint, "dynamodb").list_tables()


# ------------------------------------------------------------------ trust of tenant roles


def test_tenant_role_as_unauthenticated_identity_is_refused(stack):
    """A pool that hands a tenant role to guests gets no credentials: the role's trust
    names another pool (aud) and authenticated identities only (amr)."""
    ci = stack.ci
    pid = ci.create_identity_pool(IdentityPoolName="guest-tenant", AllowUnauthenticatedIdentities=True)["IdentityPoolId"]
    ci.set_identity_pool_roles(IdentityPoolId=pid, Roles={"unauthenticated": stack.role_arns["acme"]})
    identity_id = ci.get_id(IdentityPoolId=pid)["IdentityId"]
    with pytest.raises(ClientError) as exc:
        ci.get_credentials_for_identity(IdentityId=identity_id)
    assert _code(exc) == "InvalidIdentityPoolConfigurationException"
    # amr alone: this role trusts the guest pool itself, but only authenticated identities.
    role = stack.iam.create_role(RoleName="members-only", AssumeRolePolicyDocument=_trust(pid))["Role"]
    ci.set_identity_pool_roles(IdentityPoolId=pid, Roles={"unauthenticated": role["Arn"]})
    with pytest.raises(ClientError) as exc:
        ci.get_credentials_for_identity(IdentityId=identity_id)
    assert _code(exc) == "InvalidIdentityPoolConfigurationException"


def _classic_pool(stack, name, unauthenticated=False):
    return stack.ci.create_identity_pool(
        IdentityPoolName=name, AllowUnauthenticatedIdentities=unauthenticated, AllowClassicFlow=True,
        CognitoIdentityProviders=[{"ProviderName": stack.provider, "ClientId": stack.client_id}],
    )["IdentityPoolId"]


def _open_id_token(stack, pid, tenant=None):
    logins = {stack.provider: stack.tokens[tenant]} if tenant else None
    kwargs = {"Logins": logins} if logins else {}
    identity_id = stack.ci.get_id(IdentityPoolId=pid, **kwargs)["IdentityId"]
    return stack.ci.get_open_id_token(IdentityId=identity_id, **kwargs)["Token"]


def test_classic_flow_is_off_unless_the_pool_allows_it(stack):
    assert stack.ci.describe_identity_pool(IdentityPoolId=stack.identity_pool_id)["AllowClassicFlow"] is False
    with pytest.raises(ClientError) as exc:
        _open_id_token(stack, stack.identity_pool_id, "acme")
    assert _code(exc) == "InvalidParameterException"
    assert "classic" in exc.value.response["Error"]["Message"]


def test_classic_flow_token_is_checked_against_the_role_trust(stack):
    sts = _client(stack.endpoint, "sts")
    other = _classic_pool(stack, "classic-other")
    token = _open_id_token(stack, other, "acme")
    claims = _claims(token)
    assert claims["aud"] == other and "authenticated" in claims["amr"]
    # Another pool's token: the tenant role trusts only the deployment's pool.
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(RoleArn=stack.role_arns["acme"], RoleSessionName="probe", WebIdentityToken=token)
    assert _code(exc) == "AccessDenied"
    # A role that trusts that pool's authenticated identities is assumable with it, and
    # the credentials carry the token's keys.
    role = stack.iam.create_role(RoleName="classic-members", AssumeRolePolicyDocument=_trust(other))["Role"]
    out = sts.assume_role_with_web_identity(RoleArn=role["Arn"], RoleSessionName="probe", WebIdentityToken=token)
    assert out["Audience"] == other
    c = out["Credentials"]
    caller = _client(stack.endpoint, "sts", c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    assert ":assumed-role/classic-members/" in caller.get_caller_identity()["Arn"]
    # An unauthenticated identity's token (amr unauthenticated) is refused by the same role.
    guests = _classic_pool(stack, "classic-guests", unauthenticated=True)
    stack.iam.update_assume_role_policy(RoleName="classic-members", PolicyDocument=_trust(guests))
    guest_token = _open_id_token(stack, guests)
    assert _claims(guest_token)["amr"] == ["unauthenticated"]
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(RoleArn=role["Arn"], RoleSessionName="probe", WebIdentityToken=guest_token)
    assert _code(exc) == "AccessDenied"
    # A token whose claims were edited no longer verifies.
    header, payload, signature = token.split(".")
    forged_claims = dict(claims, aud=stack.identity_pool_id)
    forged = ".".join([header, base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).decode().rstrip("="), signature])
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(RoleArn=stack.role_arns["acme"], RoleSessionName="probe", WebIdentityToken=forged)
    assert _code(exc) == "InvalidIdentityToken"


def test_deleted_identities_are_gone(stack):
    logins = {stack.provider: stack.tokens["acme"]}
    identity_id = stack.ci.get_id(IdentityPoolId=stack.identity_pool_id, Logins=logins)["IdentityId"]
    assert stack.ci.delete_identities(IdentityIdsToDelete=[identity_id])["UnprocessedIdentityIds"] == []
    with pytest.raises(ClientError) as exc:
        stack.ci.get_credentials_for_identity(IdentityId=identity_id, Logins=logins)
    assert _code(exc) == "ResourceNotFoundException"
    # The same user gets a new identity.
    assert stack.ci.get_id(IdentityPoolId=stack.identity_pool_id, Logins=logins)["IdentityId"] != identity_id


# ------------------------------------------- every signing form, both resources


def _sigv2_client(endpoint, creds):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretKey"], aws_session_token=creds["SessionToken"],
        config=Config(signature_version="s3", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.mark.parametrize("tenant, other", [("acme", "acme-labs"), ("acme-labs", "acme")])
def test_every_signature_form_is_attributed_to_the_tenant(stack, tenant, other):
    import urllib.error
    import urllib.request

    clients, creds = stack.tenant_clients(tenant)
    c = creds["Credentials"]
    own, theirs = f"tenants/{tenant}/seed.txt", f"tenants/{other}/seed.txt"

    def fetch(url):
        try:
            with urllib.request.urlopen(url) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    # SigV4 query string (presigned URL).
    s3 = clients["s3"]
    assert fetch(s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": own})) == 200
    assert fetch(s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": theirs})) == 403
    # SigV2 header and SigV2 query string.
    v2 = _sigv2_client(stack.endpoint, c)
    assert v2.get_object(Bucket=BUCKET, Key=own)["Body"].read() == tenant.encode()
    for call in (
        lambda: v2.get_object(Bucket=BUCKET, Key=theirs),
        lambda: v2.put_object(Bucket=BUCKET, Key=f"tenants/{other}/v2.txt", Body=b"x"),
        lambda: v2.delete_object(Bucket=BUCKET, Key=theirs),
        lambda: v2.list_objects(Bucket=BUCKET, Prefix=f"tenants/{other}/"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert _code(exc) == "AccessDenied"
    assert fetch(v2.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": own})) == 200
    assert fetch(v2.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": theirs})) == 403
    # A copy reads its source: a copy of the other tenant's object into the own prefix is refused.
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=BUCKET, Key=f"tenants/{tenant}/stolen.txt",
                       CopySource={"Bucket": BUCKET, "Key": theirs})
    assert _code(exc) == "AccessDenied"
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=f"tenants/{tenant}/parts.bin")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=BUCKET, Key=f"tenants/{tenant}/parts.bin", UploadId=upload, PartNumber=1,
                            CopySource={"Bucket": BUCKET, "Key": theirs})
    assert _code(exc) == "AccessDenied"
    _client(stack.endpoint, "s3").abort_multipart_upload(Bucket=BUCKET, Key=f"tenants/{tenant}/parts.bin", UploadId=upload)
    s3.copy_object(Bucket=BUCKET, Key=f"tenants/{tenant}/copy.txt", CopySource={"Bucket": BUCKET, "Key": own})
    s3.delete_object(Bucket=BUCKET, Key=f"tenants/{tenant}/copy.txt")
    admin = _client(stack.endpoint, "s3")
    with pytest.raises(ClientError):
        admin.head_object(Bucket=BUCKET, Key=f"tenants/{tenant}/stolen.txt")
    # DeleteObjects is authorized as s3:DeleteObject on each key it names.
    s3.put_object(Bucket=BUCKET, Key=f"tenants/{tenant}/batch.txt", Body=b"x")
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": f"tenants/{tenant}/batch.txt"}]})
    out = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": theirs}]})
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [(theirs, "AccessDenied")]
    assert admin.get_object(Bucket=BUCKET, Key=theirs)["Body"].read() == other.encode()


def test_unsigned_requests_are_refused_not_served_as_admin(stack):
    import urllib.error
    import urllib.request

    for url in (f"{stack.endpoint}/{BUCKET}/tenants/acme/seed.txt", f"{stack.endpoint}/{BUCKET}?list-type=2"):
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(url)
        assert exc.value.code == 403
    # The same object signed as the admin is served: the refusal is for the missing signature.
    assert _client(stack.endpoint, "s3").get_object(Bucket=BUCKET, Key="tenants/acme/seed.txt")["Body"].read()


def _role_session(stack, name, statements, boundary=None):
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})
    extra = {"PermissionsBoundary": boundary} if boundary else {}
    stack.iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, **extra)
    stack.iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))
    c = _client(stack.endpoint, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", RoleSessionName="fn")["Credentials"]
    return lambda service: _client(stack.endpoint, service, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def test_resources_follow_the_reference(stack):
    """Scoped grants match the request's resource ARN; a grant on an ARN for an action with
    no resource type never matches (as in AWS); DeleteIdentities's condition key is set."""
    ddb = _client(stack.endpoint, "dynamodb")
    for table in ("records", "others"):
        ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
    pool_arn = f"arn:aws:cognito-identity:{REGION}:{ACCOUNT}:identitypool/{stack.identity_pool_id}"
    session = _role_session(stack, "fn-scoped", [
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/records"},
        {"Effect": "Allow", "Action": ["cognito-identity:GetIdentityPoolRoles", "cognito-identity:SetIdentityPoolRoles"],
         "Resource": pool_arn},
        {"Effect": "Allow", "Action": "cognito-identity:DeleteIdentities", "Resource": "*",
         "Condition": {"StringEquals": {"cognito-identity:IdentityPoolArn": pool_arn}}},
    ])
    fn_ddb, fn_ci = session("dynamodb"), session("cognito-identity")
    fn_ddb.get_item(TableName="records", Key={"k": {"S": "x"}})
    with pytest.raises(ClientError) as exc:
        fn_ddb.get_item(TableName="others", Key={"k": {"S": "x"}})
    assert _code(exc) == "AccessDeniedException"
    assert f"table/others" in exc.value.response["Error"]["Message"]
    roles = fn_ci.get_identity_pool_roles(IdentityPoolId=stack.identity_pool_id)
    with pytest.raises(ClientError) as exc:  # no resource type: authorized on "*", the pool grant never matches
        fn_ci.set_identity_pool_roles(IdentityPoolId=stack.identity_pool_id, Roles=roles.get("Roles", {}),
                                      RoleMappings=roles.get("RoleMappings", {}))
    assert _code(exc) == "AccessDeniedException"
    assert "on resource: *" in exc.value.response["Error"]["Message"]
    identity = _credentials(stack.ci, stack.identity_pool_id, stack.provider, stack.tokens["acme"])["IdentityId"]
    fn_ci.delete_identities(IdentityIdsToDelete=[identity])

    # With SetIdentityPoolRoles on "*", each role it passes needs iam:PassRole.
    session = _role_session(stack, "fn-passrole", [
        {"Effect": "Allow", "Action": "cognito-identity:SetIdentityPoolRoles", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": stack.role_arns["acme"]},
    ])
    with pytest.raises(ClientError) as exc:
        session("cognito-identity").set_identity_pool_roles(
            IdentityPoolId=stack.identity_pool_id, Roles={},
            RoleMappings=roles.get("RoleMappings", {}))
    assert "iam:PassRole" in exc.value.response["Error"]["Message"]
    assert stack.role_arns["acme-labs"] in exc.value.response["Error"]["Message"]


def test_the_slice_holds_each_boundary_action_with_its_condition_keys():
    """The reference slice tenant templates are checked against at load."""
    from tenant_moto import reference

    boundary = {"Statement": [{"Action": ["s3:ListBucket"]}, {"Action": "secretsmanager:GetSecretValue"}]}
    got = reference.boundary_slice(reference.load(), boundary)
    assert list(got["actions"]) == ["s3:ListBucket", "secretsmanager:GetSecretValue"]
    assert "s3:prefix" in got["actions"]["s3:ListBucket"]
    assert "s3:prefix" not in got["actions"]["secretsmanager:GetSecretValue"]
    assert "aws:SourceIp" in got["global_keys"]


def test_an_action_the_reference_does_not_know_is_refused():
    from tenant_moto import reference

    with pytest.raises(ValueError, match="s3:GetObjects"):
        reference.boundary_slice(reference.load(), {"Statement": [{"Action": ["s3:GetObjects"]}]})


# ------------------------------------------------- pre-token-generation trigger


def test_pre_token_generation_trigger_overrides_claims(server, ports):
    """The pool's trigger is called through the Lambda port for every token; V1_0 claims go
    to the ID token only, V2_0 claims to the ID and access tokens; a failing trigger fails
    the sign-in."""
    seen = []
    fail = []

    class Trigger(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            event = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            seen.append((self.path, event))
            groups = ",".join(event["request"]["groupConfiguration"]["groupsToOverride"])
            claims = {"tenant_id": f"from:{groups}"}
            if event["version"] == "1":
                event["response"] = {"claimsOverrideDetails": {"claimsToAddOrOverride": claims}}
            else:
                event["response"] = {"claimsAndScopeOverrideDetails": {
                    "idTokenGeneration": {"claimsToAddOrOverride": claims},
                    "accessTokenGeneration": {"claimsToAddOrOverride": claims}}}
            payload = json.dumps({"errorType": "Boom", "errorMessage": "no"} if fail else event).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if fail:
                self.send_header("X-Amz-Function-Error", "Unhandled")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    fake = http.server.ThreadingHTTPServer(("127.0.0.1", ports[1]), Trigger)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    try:
        idp = _client(server, "cognito-idp")
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tenant-pre-token-generation"
        for version in ("V1_0", "V2_0"):
            pool_id = idp.create_user_pool(PoolName=f"pretoken-{version}", LambdaConfig={
                "PreTokenGenerationConfig": {"LambdaArn": arn, "LambdaVersion": version}})["UserPool"]["Id"]
            client_id = idp.create_user_pool_client(
                UserPoolId=pool_id, ClientName="app",
                ExplicitAuthFlows=["ADMIN_USER_PASSWORD_AUTH"])["UserPoolClient"]["ClientId"]
            idp.create_group(UserPoolId=pool_id, GroupName="tenant:acme:members")
            _create_user(idp, pool_id, "alice", ["tenant:acme:members"])
            seen.clear()
            tokens = idp.admin_initiate_auth(
                UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD})["AuthenticationResult"]
            assert seen, "the trigger was not called"
            path, event = seen[0]
            assert path == f"/2015-03-31/functions/{arn}/invocations"
            assert event["version"] == version[1]
            assert event["userPoolId"] == pool_id and event["userName"] == "alice"
            assert _claims(tokens["IdToken"])["tenant_id"] == "from:tenant:acme:members"
            access = _claims(tokens["AccessToken"])
            if version == "V1_0":
                assert "tenant_id" not in access
            else:
                assert access["tenant_id"] == "from:tenant:acme:members"
            fail.append(True)
            with pytest.raises(ClientError) as exc:
                idp.admin_initiate_auth(
                    UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                    AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD})
            assert _code(exc) == "UserLambdaValidationException"
            fail.clear()
    finally:
        fake.shutdown()
        fake.server_close()


# ---------------------------------------------------- principal tags (Abac mode)

TAG = "${aws:PrincipalTag/tenant}"
TAGGED = {"Null": {"aws:PrincipalTag/tenant": "false"}}
ABAC_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": f"arn:aws:s3:::{BUCKET}/tenants/{TAG}/*", "Condition": TAGGED},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}",
         "Condition": {"StringLike": {"s3:prefix": [f"tenants/{TAG}/", f"tenants/{TAG}/*"]}, **TAGGED}},
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
         "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:tenants/{TAG}/*", "Condition": TAGGED},
    ],
}


def test_principal_tags_scope_one_shared_role(stack):
    """One role for every tenant: the identity pool maps a token claim to the session tag
    `tenant`, and the role's policy reaches only tenants/${tag}/; no tag reaches nothing;
    a trust without sts:TagSession refuses tagged sessions."""
    idp, iam, ci = stack.idp, stack.iam, stack.ci
    pool_id = idp.create_user_pool(PoolName="abac", Schema=[
        {"Name": "tenant", "AttributeDataType": "String", "Mutable": True}])["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="app",
        ExplicitAuthFlows=["ADMIN_USER_PASSWORD_AUTH"])["UserPoolClient"]["ClientId"]
    provider = f"cognito-idp.{REGION}.amazonaws.com/{pool_id}"
    pid = ci.create_identity_pool(
        IdentityPoolName="abac", AllowUnauthenticatedIdentities=False,
        CognitoIdentityProviders=[{"ProviderName": provider, "ClientId": client_id}],
    )["IdentityPoolId"]
    role = iam.create_role(RoleName="tenant-abac", Path="/tenants/", AssumeRolePolicyDocument=_trust(pid),
                           PermissionsBoundary=stack.boundary_arn)["Role"]
    iam.put_role_policy(RoleName="tenant-abac", PolicyName="tenant", PolicyDocument=json.dumps(ABAC_POLICY))
    ci.set_identity_pool_roles(IdentityPoolId=pid, Roles={"authenticated": role["Arn"]})

    assert ci.get_principal_tag_attribute_map(IdentityPoolId=pid, IdentityProviderName=provider)[
        "PrincipalTags"] == {}
    answer = ci.set_principal_tag_attribute_map(
        IdentityPoolId=pid, IdentityProviderName=provider, UseDefaults=False,
        PrincipalTags={"tenant": "custom:tenant"})
    assert answer["PrincipalTags"] == {"tenant": "custom:tenant"}
    got = ci.get_principal_tag_attribute_map(IdentityPoolId=pid, IdentityProviderName=provider)
    assert (got["UseDefaults"], got["PrincipalTags"]) == (False, {"tenant": "custom:tenant"})
    with pytest.raises(ClientError) as exc:
        ci.set_principal_tag_attribute_map(IdentityPoolId=pid, IdentityProviderName="accounts.google.com",
                                           PrincipalTags={"tenant": "sub"})
    assert _code(exc) == "InvalidParameterException"

    def session(username, tenant):
        _create_user(idp, pool_id, username)
        if tenant is not None:
            idp.admin_update_user_attributes(UserPoolId=pool_id, Username=username, UserAttributes=[
                {"Name": "custom:tenant", "Value": tenant}])
        token = _sign_in(idp, pool_id, client_id, username)
        c = _credentials(ci, pid, provider, token)["Credentials"]
        return {s: _client(stack.endpoint, s, c["AccessKeyId"], c["SecretKey"], c["SessionToken"])
                for s in ("s3", "secretsmanager")}

    for tenant, other in (("acme", "acme-labs"), ("acme-labs", "acme")):
        c = session(f"abac-{tenant}", tenant)
        s3, sm = c["s3"], c["secretsmanager"]
        assert s3.get_object(Bucket=BUCKET, Key=f"tenants/{tenant}/seed.txt")["Body"].read() == tenant.encode()
        s3.list_objects_v2(Bucket=BUCKET, Prefix=f"tenants/{tenant}/")
        assert sm.get_secret_value(SecretId=f"tenants/{tenant}/app")["SecretString"] == f"secret-of-{tenant}"
        for call in (
            lambda: s3.get_object(Bucket=BUCKET, Key=f"tenants/{other}/seed.txt"),
            lambda: s3.put_object(Bucket=BUCKET, Key=f"tenants/{other}/evil.txt", Body=b"x"),
            lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix=f"tenants/{other}/"),
            lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix=f"tenants/{tenant}"),  # no delimiter
            lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix="tenants/"),
        ):
            with pytest.raises(ClientError) as exc:
                call()
            assert _code(exc) == "AccessDenied"
        with pytest.raises(ClientError) as exc:
            sm.get_secret_value(SecretId=f"tenants/{other}/app")
        assert _code(exc) == "AccessDeniedException"

    # No claim, no tag: the same role reaches nothing (no default value to fall back on).
    c = session("abac-nobody", None)
    for tenant in ("acme", "acme-labs"):
        with pytest.raises(ClientError) as exc:
            c["s3"].get_object(Bucket=BUCKET, Key=f"tenants/{tenant}/seed.txt")
        assert _code(exc) == "AccessDenied"
        with pytest.raises(ClientError) as exc:
            c["secretsmanager"].get_secret_value(SecretId=f"tenants/{tenant}/app")
        assert _code(exc) == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:
        c["s3"].list_objects_v2(Bucket=BUCKET, Prefix="tenants//")
    assert _code(exc) == "AccessDenied"

    # A trust that allows only AssumeRoleWithWebIdentity cannot carry session tags.
    untagged = json.loads(_trust(pid))
    untagged["Statement"][0]["Action"] = "sts:AssumeRoleWithWebIdentity"
    iam.update_assume_role_policy(RoleName="tenant-abac", PolicyDocument=json.dumps(untagged))
    with pytest.raises(ClientError) as exc:
        session("abac-untaggable", "acme")
    assert _code(exc) == "InvalidIdentityPoolConfigurationException"


def test_update_group_resets_what_it_omits_as_cognito_does(stack):
    # The API reference: an attribute not given is set to its default value.
    idp = stack.idp
    idp.create_group(
        UserPoolId=stack.user_pool_id, GroupName="tenant:upd:members", Description="tenant=upd",
        RoleArn="arn:aws:iam::123456789012:role/tenants/tenant-upd", Precedence=0,
    )
    idp.update_group(UserPoolId=stack.user_pool_id, GroupName="tenant:upd:members", Description="tenant=upd")
    group = idp.get_group(UserPoolId=stack.user_pool_id, GroupName="tenant:upd:members")["Group"]
    assert group["Description"] == "tenant=upd"
    assert "RoleArn" not in group and "Precedence" not in group, group
