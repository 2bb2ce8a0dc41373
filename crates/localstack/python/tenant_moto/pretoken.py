"""Cognito user pools: the pre-token-generation trigger.

When a pool's LambdaConfig names a pre-token-generation function, every token the pool
issues (InitiateAuth, AdminInitiateAuth, RespondToAuthChallenge, refresh: all go through
create_jwt) first sends the trigger event to that function through the local Lambda
endpoint (port $MOTO_PORT, the one moto's Step Functions interpreter calls) and
applies its claim overrides: V1_0 to the ID token only, V2_0/V3_0 to the ID and access
tokens. A failing trigger fails the sign-in, as in Cognito."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from moto.cognitoidp.models import CognitoIdpUserPool

from . import identity
from .errors import UserLambdaValidationException

# Cognito's event version per LambdaVersion (the legacy PreTokenGeneration key is V1_0).
_EVENT_VERSION = {"V1_0": "1", "V2_0": "2", "V3_0": "3"}
_TIMEOUT_SECONDS = 5.0


def trigger_of(pool: CognitoIdpUserPool) -> tuple[str, str] | None:
    """(function ARN, event version) of the pool's trigger, or None."""
    config = pool.extended_config.get("LambdaConfig") or {}
    v2 = config.get("PreTokenGenerationConfig") or {}
    if v2.get("LambdaArn"):
        return v2["LambdaArn"], _EVENT_VERSION.get(v2.get("LambdaVersion", "V1_0"), "1")
    if config.get("PreTokenGeneration"):
        return config["PreTokenGeneration"], "1"
    return None


def event(pool: CognitoIdpUserPool, client_id: str, username: str, version: str) -> dict[str, Any]:
    user = pool._get_user(username)
    groups = [g.group_name for g in user.groups]
    roles = identity.role_claims(user.groups)
    request: dict[str, Any] = {
        "userAttributes": {**{a["Name"]: a["Value"] for a in user.attributes}, "sub": user.id},
        "groupConfiguration": {
            "groupsToOverride": groups,
            "iamRolesToOverride": roles.get("cognito:roles", []),
            "preferredRole": roles.get("cognito:preferred_role"),
        },
        "clientMetadata": {},
    }
    if version != "1":
        request["scopes"] = ["aws.cognito.signin.user.admin"]
    return {
        "version": version,
        "triggerSource": "TokenGeneration_Authentication",
        "region": pool.region,
        "userPoolId": pool.id,
        "userName": user.username,
        "callerContext": {"awsSdkVersion": "tenant-moto", "clientId": client_id},
        "request": request,
        "response": {},
    }


def invoke(function_arn: str, payload: dict[str, Any]) -> dict[str, Any]:
    port = os.environ.get("MOTO_PORT", "5000")
    url = f"http://127.0.0.1:{port}/2015-03-31/functions/{urllib.parse.quote(function_arn, safe=':')}/invocations"
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=_TIMEOUT_SECONDS) as resp:
            body = resp.read()
            failed = resp.headers.get("X-Amz-Function-Error")
    except (urllib.error.URLError, TimeoutError) as e:
        raise UserLambdaValidationException(f"PreTokenGeneration invocation failed: {e}") from e
    if failed:
        raise UserLambdaValidationException(f"PreTokenGeneration failed with error {body.decode(errors='replace')}.")
    try:
        out = json.loads(body)
    except ValueError as e:
        raise UserLambdaValidationException("PreTokenGeneration returned an unreadable response.") from e
    if not isinstance(out, dict):
        raise UserLambdaValidationException("PreTokenGeneration returned an unreadable response.")
    return out


def overrides(response: dict[str, Any], version: str, token_use: str) -> dict[str, Any]:
    """The claims to add or override in a token of `token_use` ("id" or "access")."""
    body = response.get("response") or {}
    if version == "1":
        if token_use != "id":
            return {}
        details = body.get("claimsOverrideDetails") or {}
    else:
        scoped = body.get("claimsAndScopeOverrideDetails") or {}
        details = scoped.get("idTokenGeneration" if token_use == "id" else "accessTokenGeneration") or {}
    claims = details.get("claimsToAddOrOverride") or {}
    return dict(claims) if isinstance(claims, dict) else {}


def install() -> None:
    if getattr(CognitoIdpUserPool, "_tenant_moto_pretoken", False):
        return
    inner = CognitoIdpUserPool.create_jwt

    def create_jwt(self, client_id, username, token_use, expires_in=60 * 60, extra_data=None):  # type: ignore[no-untyped-def]
        trigger = trigger_of(self)
        if trigger is not None and token_use in ("id", "access"):
            arn, version = trigger
            response = invoke(arn, event(self, client_id, username, version))
            extra = dict(extra_data or {})
            extra.update(overrides(response, version, token_use))
            extra_data = extra
        return inner(self, client_id, username, token_use, expires_in, extra_data)

    CognitoIdpUserPool.create_jwt = create_jwt  # type: ignore[method-assign]
    CognitoIdpUserPool._tenant_moto_pretoken = True  # type: ignore[attr-defined]
