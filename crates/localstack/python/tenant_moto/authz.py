"""Per-request IAM enforcement for credentials that moto's STS issued for an assumed role.

Every other access key (the local admin, e.g. "test") is not checked at all. For an
assumed-role key, the role's inline and attached managed policies must allow the
request, no policy may deny it, and the role's permissions boundary (and the session
policy, if any) must allow it too. Conditions are evaluated against a request context.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.utils import get_service_model, utcnow
from moto.iam.models import iam_backends
from moto.s3.exceptions import (
    BucketAccessDeniedError,
    BucketInvalidTokenError,
    S3AccessDeniedError,
    S3InvalidTokenError,
)
from moto.secretsmanager.models import secretsmanager_backends
from moto.sts.models import AssumedRole, sts_backends
from moto.utilities.utils import get_partition

from . import policy
from .errors import JsonAccessDenied, QueryAccessDenied

# Operations that AWS serves without IAM authorization.
UNCHECKED_OPERATIONS = set(ActionAuthenticatorMixin.PUBLIC_OPERATIONS) | {
    "AWSCognitoIdentityService.GetCredentialsForIdentity",
    "AWSCognitoIdentityService.GetOpenIdToken",
}
UNCHECKED_ACTIONS = {"sts:GetCallerIdentity"}
# Secrets Manager operations that are not about one secret.
SECRETSMANAGER_GLOBAL = {"ListSecrets", "GetRandomPassword", "BatchGetSecretValue"}
S3_LIST_ACTIONS = {"ListBucket", "ListBucketVersions", "ListBucketMultipartUploads"}


def _request_credentials(response: Any) -> tuple[str, str | None, str, str] | None:
    """(access key id, session token, region, signing service) of a SigV4 request."""
    authorization = response.headers.get("Authorization") or ""
    if "Credential=" in authorization:
        scope = authorization.partition("Credential=")[2].partition(",")[0].strip()
        token = response.headers.get("X-Amz-Security-Token")
    else:
        query = parse_qs(urlparse(response.uri).query)
        scope = (query.get("X-Amz-Credential") or [""])[0]
        token = (query.get("X-Amz-Security-Token") or [None])[0]
    parts = scope.split("/")
    if len(parts) < 5:
        return None
    return parts[0], token, parts[2], parts[3]


def find_session(account_id: str, partition: str, access_key_id: str) -> AssumedRole | None:
    try:
        backend = sts_backends[account_id][partition]
    except KeyError:
        return None
    for assumed in list(backend.assumed_roles):
        if assumed.access_key_id == access_key_id:
            return assumed
    return None


def _managed_document(iam: Any, arn: str) -> str | None:
    try:
        managed = iam.get_policy(arn)
    except Exception:
        return None
    for version in managed.versions:
        if version.is_default:
            return version.document
    return None


def _combine(documents: list[Any], action: str, resource: str, ctx: policy.Context) -> str:
    allowed = False
    for document in documents:
        try:
            decision = policy.evaluate(document, action, resource, ctx)
        except (ValueError, TypeError, AttributeError):
            continue  # an unparsable policy grants nothing
        if decision == policy.DENY:
            return policy.DENY
        if decision == policy.ALLOW:
            allowed = True
    return policy.ALLOW if allowed else policy.NEUTRAL


def authorize(
    account_id: str,
    region: str,
    session: AssumedRole,
    action: str,
    resource: str,
    extra_context: dict[str, Any] | None = None,
) -> str | None:
    """None if allowed, else the reason suffix of AWS's AccessDenied message."""
    partition = get_partition(region)
    iam = iam_backends[account_id][partition]
    try:
        role = iam.get_role_by_arn(session.role_arn)
    except Exception:
        return f"because no identity-based policy allows the {action} action"

    now = utcnow()
    values: dict[str, Any] = {
        "aws:PrincipalArn": role.arn,
        "aws:PrincipalAccount": account_id,
        "aws:PrincipalType": "AssumedRole",
        "aws:userid": f"{role.id}:{session.session_name}",
        "aws:RequestedRegion": region,
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(time.time())),
        "aws:SecureTransport": "false",
    }
    tags = role.tags or []
    for tag in tags.values() if isinstance(tags, dict) else tags:
        values[f"aws:PrincipalTag/{tag['Key']}"] = tag["Value"]
    values.update(getattr(session, "tenant_moto_context", {}) or {})
    values.update(extra_context or {})
    ctx = policy.Context(values)

    identity_documents: list[Any] = list(role.policies.values())
    for managed in list(role.managed_policies.values()):
        document = _managed_document(iam, managed.arn)
        if document is not None:
            identity_documents.append(document)

    identity = _combine(identity_documents, action, resource, ctx)
    if identity == policy.DENY:
        return "with an explicit deny in an identity-based policy"

    boundary = None
    if role.permissions_boundary_arn:
        document = _managed_document(iam, role.permissions_boundary_arn)
        boundary = _combine([document] if document else [], action, resource, ctx)
        if boundary == policy.DENY:
            return "with an explicit deny in a permissions boundary"

    session_decision = None
    if session.policy:
        session_decision = _combine([session.policy], action, resource, ctx)
        if session_decision == policy.DENY:
            return "with an explicit deny in a session policy"

    if identity != policy.ALLOW:
        return f"because no identity-based policy allows the {action} action"
    if boundary is not None and boundary != policy.ALLOW:
        return f"because no permissions boundary allows the {action} action"
    if session_decision is not None and session_decision != policy.ALLOW:
        return f"because no session policy allows the {action} action"
    return None


def _secret_resource(response: Any, account_id: str, region: str, operation: str) -> tuple[str, dict[str, Any]]:
    if operation in SECRETSMANAGER_GLOBAL:
        return "*", {}
    try:
        body = json.loads(response.body or "{}")
    except (ValueError, TypeError):
        body = {}
    secret_id = body.get("SecretId") if isinstance(body, dict) else None
    if not secret_id and operation == "CreateSecret" and isinstance(body, dict):
        secret_id = body.get("Name")
    if not isinstance(secret_id, str) or not secret_id:
        return "*", {}
    extra: dict[str, Any] = {}
    secret = None
    try:
        secret = secretsmanager_backends[account_id][region].secrets.get(secret_id)
    except Exception:
        secret = None
    if secret is not None:
        arn = secret.arn
        for tag in getattr(secret, "tags", None) or []:
            extra[f"aws:ResourceTag/{tag['Key']}"] = tag["Value"]
            extra[f"secretsmanager:ResourceTag/{tag['Key']}"] = tag["Value"]
    elif secret_id.startswith("arn:"):
        arn = secret_id
    else:
        arn = f"arn:{get_partition(region)}:secretsmanager:{region}:{account_id}:secret:{secret_id}"
    extra["secretsmanager:SecretId"] = arn
    return arn, extra


def _s3_context(response: Any, operation: str) -> dict[str, Any]:
    if operation not in S3_LIST_ACTIONS:
        return {}
    query = parse_qs(urlparse(response.uri).query, keep_blank_values=True)
    extra: dict[str, Any] = {}
    for param, key in (("prefix", "s3:prefix"), ("delimiter", "s3:delimiter"), ("max-keys", "s3:max-keys")):
        if param in query:
            extra[key] = query[param][0]
    return extra


def _deny(response: Any, is_s3: bool, message: str) -> None:
    if is_s3:
        bucket = response.data.get("BucketName") if isinstance(response.data, dict) else None
        if bucket:
            raise BucketAccessDeniedError(bucket=bucket)
        raise S3AccessDeniedError()
    protocol = _protocol(response)
    if protocol in ("json", "rest-json"):
        response.response_headers["Content-Type"] = "application/x-amz-json-1.1"
        response.response_headers["X-Amzn-ErrorType"] = "AccessDeniedException"
        raise JsonAccessDenied(message, status=400 if protocol == "json" else 403)
    response.response_headers["Content-Type"] = "text/xml"
    raise QueryAccessDenied(message)


def _invalid_token(response: Any, is_s3: bool) -> None:
    if is_s3:
        bucket = response.data.get("BucketName") if isinstance(response.data, dict) else None
        if bucket:
            raise BucketInvalidTokenError(bucket=bucket)
        raise S3InvalidTokenError()
    message = "The security token included in the request is invalid."
    if _protocol(response) in ("json", "rest-json"):
        response.response_headers["Content-Type"] = "application/x-amz-json-1.1"
        response.response_headers["X-Amzn-ErrorType"] = "UnrecognizedClientException"
        raise JsonAccessDenied(message, error_type="UnrecognizedClientException", status=400)
    raise QueryAccessDenied(message, error_type="InvalidClientTokenId")


def _expired(response: Any, is_s3: bool) -> None:
    if is_s3:
        _invalid_token(response, True)
    message = "The security token included in the request is expired"
    if _protocol(response) in ("json", "rest-json"):
        response.response_headers["Content-Type"] = "application/x-amz-json-1.1"
        response.response_headers["X-Amzn-ErrorType"] = "ExpiredTokenException"
        raise JsonAccessDenied(message, error_type="ExpiredTokenException", status=400)
    raise QueryAccessDenied(message, error_type="ExpiredToken")


def _protocol(response: Any) -> str:
    try:
        return str(get_service_model(response.boto3_service_name).protocol)
    except Exception:
        return "json" if response.headers.get("X-Amz-Target") else "query"


def _authenticate_and_authorize_action(self: Any, iam_request_cls: type, resource: str = "*") -> None:
    if self.headers.get("X-Amz-Target") in UNCHECKED_OPERATIONS:
        return
    creds = _request_credentials(self)
    if creds is None:
        return
    access_key_id, token, region, service = creds
    account_id = self.current_account
    session = find_session(account_id, get_partition(region), access_key_id)
    if session is None:
        return  # not an assumed-role key: the local admin is never checked

    is_s3 = iam_request_cls.__name__ == "S3IAMRequest"
    if token != session.session_token:
        _invalid_token(self, is_s3)
    if utcnow() > session.expiration:
        _expired(self, is_s3)

    if os.environ.get("TENANT_MOTO_VERIFY_SIGV4") == "1":
        parsed = urlparse(self.uri)
        path = self.raw_path + ("?" + parsed.query if parsed.query else "")
        iam_request_cls(
            account_id=account_id,
            method=self.method,
            path=path,
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action=self._get_action(),
        ).check_signature()

    if is_s3:
        operation = self.data.get("Action") if isinstance(self.data, dict) else None
        if isinstance(operation, list):
            operation = operation[0]
        operation = operation or self._get_action()
    else:
        operation = self._get_action()
    action = f"{service}:{operation}"
    if action in UNCHECKED_ACTIONS:
        return

    extra: dict[str, Any] = {}
    if is_s3:
        extra = _s3_context(self, operation)
    elif service == "secretsmanager":
        resource, extra = _secret_resource(self, account_id, region, operation)

    reason = authorize(account_id, region, session, action, resource, extra)
    if reason is not None:
        message = (
            f"User: {session.arn} is not authorized to perform: {action} "
            f"on resource: {resource} {reason}"
        )
        _deny(self, is_s3, message)


def install() -> None:
    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate_and_authorize_action  # type: ignore[method-assign]
