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

from . import policy, ratelimit, resources
from .errors import JsonAccessDenied, QueryAccessDenied

# Operations that AWS serves without IAM authorization.
UNCHECKED_OPERATIONS = set(ActionAuthenticatorMixin.PUBLIC_OPERATIONS) | {
    "AWSCognitoIdentityService.GetCredentialsForIdentity",
    "AWSCognitoIdentityService.GetOpenIdToken",
    # Public in Cognito as SignUp is; moto does not implement it (signup.py does).
    "AWSCognitoIdentityProviderService.ResendConfirmationCode",
}
UNCHECKED_ACTIONS = {"sts:GetCallerIdentity"}
# STS calls AWS serves unsigned: the web identity or SAML token is the credential.
UNSIGNED_STS = {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}
S3_LIST_ACTIONS = {"ListBucket", "ListBucketVersions", "ListBucketMultipartUploads"}


def _request_credentials(response: Any) -> tuple[str, str | None, str, str] | None:
    """(access key id, session token, region, service) of a signed request, whichever way
    it is signed: SigV4 in the Authorization header or in the query string (presigned
    URLs), SigV2 in the Authorization header (`AWS key:signature`) or in the query string
    or form (`AWSAccessKeyId`). None when the request carries no credentials."""
    authorization = (response.headers.get("Authorization") or "").strip()
    query = parse_qs(urlparse(response.uri).query)
    header_token = response.headers.get("X-Amz-Security-Token")

    form = getattr(response, "querystring", None) or {}
    # Query parameter names are matched case-insensitively: SigV2 presigned URLs carry
    # x-amz-security-token in lower case.
    params = {k.lower(): v for k, v in (form.items() if isinstance(form, dict) else [])}
    params.update({k.lower(): v for k, v in query.items()})

    def first(name: str) -> str | None:
        values = params.get(name.lower())
        return values[0] if values else None

    if "Credential=" in authorization:
        scope = authorization.partition("Credential=")[2].partition(",")[0].strip()
        token = header_token
    elif first("X-Amz-Credential"):
        scope = first("X-Amz-Credential") or ""
        token = first("X-Amz-Security-Token") or header_token
    elif authorization.startswith("AWS ") and ":" in authorization:
        key = authorization[4:].partition(":")[0].strip()
        return key, header_token, _sigv2_region(response), _sigv2_service(response)
    elif first("AWSAccessKeyId"):
        token = first("X-Amz-Security-Token") or first("SecurityToken") or header_token
        return first("AWSAccessKeyId") or "", token, _sigv2_region(response), _sigv2_service(response)
    else:
        return None
    parts = scope.split("/")
    if len(parts) < 5:
        return None
    return parts[0], token, parts[2], parts[3]


def _sigv2_region(response: Any) -> str:
    # SigV2 carries no scope; moto knows the region from the host (us-east-1 by default).
    return str(getattr(response, "region", None) or "us-east-1")


def _sigv2_service(response: Any) -> str:
    try:
        return str(response.service_name or "s3")
    except Exception:
        return "s3"


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


def _throttle(response: Any, message: str) -> None:
    """Cognito's throttling error (both pools' APIs are JSON): TooManyRequestsException."""
    response.response_headers["Content-Type"] = "application/x-amz-json-1.1"
    response.response_headers["X-Amzn-ErrorType"] = "TooManyRequestsException"
    raise JsonAccessDenied(message, error_type="TooManyRequestsException", status=400)


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
    is_s3 = iam_request_cls.__name__ == "S3IAMRequest"
    if creds is None and _action_name(self) in UNSIGNED_STS:
        return
    if creds is None:
        # Never served as the admin: a request the extension cannot attribute is refused.
        _deny(self, is_s3, "The local stack refuses requests it cannot attribute to credentials (no signature).")
        return
    access_key_id, token, region, service = creds
    account_id = self.current_account
    if ratelimit.enabled():
        # Before authorization: AWS throttles whoever calls, the admin included.
        reason = ratelimit.LIMITER.admit(account_id, region, service, _action_name(self) or "", time.monotonic())
        if reason is not None:
            _throttle(self, reason)
    session = find_session(account_id, get_partition(region), access_key_id)
    if session is None:
        return  # not an assumed-role key: the local admin is never checked

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

    partition = get_partition(region)
    extra: dict[str, Any] = {}
    if is_s3:
        extra = _s3_context(self, operation)
    else:
        resource, extra = resources.primary(service, operation, _param_reader(self), region, account_id, partition)
    checks = [] if resource == resources.MISSING else [resources.Check(action, resource, extra)]
    if is_s3 and operation == "DeleteObject" and self.method == "POST":
        # DeleteObjects (POST ?delete) is authorized as s3:DeleteObject on each key; moto
        # answers a refusal with a per-key AccessDenied, as S3 does.
        checks = resources.delete_objects_checks(resource, self.raw_body or self.body)
    checks.extend(resources.secondary(service, operation, _param_reader(self), self.headers, region, account_id, partition))
    for check in checks:
        reason = authorize(account_id, region, session, check.action, check.resource, check.context)
        if reason is not None:
            message = (
                f"User: {session.arn} is not authorized to perform: {check.action} "
                f"on resource: {check.resource} {reason}"
            )
            _deny(self, is_s3, message)


def _action_name(response: Any) -> str | None:
    try:
        return str(response._get_action())
    except Exception:
        return None


def _param_reader(response: Any) -> Any:
    """Request parameters by name, from a JSON body or a query/form request."""
    try:
        body = json.loads(response.body or "{}") if response.body else {}
    except (ValueError, TypeError):
        body = {}
    if not isinstance(body, dict):
        body = {}

    def get(name: str) -> Any:
        if name in body:
            return body[name]
        try:
            return response._get_param(name)
        except Exception:
            return None

    return get


def install() -> None:
    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate_and_authorize_action  # type: ignore[method-assign]
