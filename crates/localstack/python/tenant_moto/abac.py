"""Cognito identity pools: principal tags for attribute-based access control.

SetPrincipalTagAttributeMap / GetPrincipalTagAttributeMap keep, per pool and provider,
which token claim becomes which session tag. GetCredentialsForIdentity then issues
session credentials carrying those tags (`aws:PrincipalTag/<tag>` in the request context
of every later call, over the role's own tags, as session tags are in IAM), and only if
the role's trust policy also allows sts:TagSession. A claim the token lacks sets no tag;
the policy engine resolves a `${aws:PrincipalTag/...}` without a value (and without a
default) to no match, so a missing tag grants nothing."""

from __future__ import annotations

import json
import re
from typing import Any

from moto.cognitoidentity.models import CognitoIdentityPool
from moto.cognitoidentity.responses import CognitoIdentityResponse

from . import identity, policy
from .errors import InvalidIdentityPoolConfigurationException, InvalidParameterException

MAX_TAGS = 50
# Cognito's defaults when UseDefaults is true: the user's sub and the app client.
DEFAULT_TAGS = {"username": "sub", "client": "aud"}
_TAG_KEY = re.compile(r"^[\w\s+=.@-]{1,128}$")


def _maps(pool: CognitoIdentityPool) -> dict[str, dict[str, Any]]:
    maps = getattr(pool, "tenant_moto_principal_tags", None)
    if maps is None:
        maps = {}
        pool.tenant_moto_principal_tags = maps  # type: ignore[attr-defined]
    return maps


def _provider(pool: CognitoIdentityPool, name: Any) -> str:
    if not isinstance(name, str) or not any(
        p.get("ProviderName") == name for p in (pool.cognito_identity_providers or [])
    ):
        raise InvalidParameterException(f"Identity provider '{name}' is not configured for this identity pool.")
    return name


def validate_tags(tags: Any) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, dict) or len(tags) > MAX_TAGS:
        raise InvalidParameterException(f"PrincipalTags must be a map of at most {MAX_TAGS} tags.")
    for key, claim in tags.items():
        if not isinstance(key, str) or not _TAG_KEY.match(key):
            raise InvalidParameterException(f"Principal tag key {key!r} is not a valid tag key.")
        if not isinstance(claim, str) or not 1 <= len(claim) <= 256:
            raise InvalidParameterException(f"Principal tag {key!r} must name a claim (1 to 256 characters).")
    return dict(tags)


def _answer(pool: CognitoIdentityPool, provider: str) -> str:
    entry = _maps(pool).get(provider) or {"UseDefaults": False, "PrincipalTags": {}}
    return json.dumps(
        {
            "IdentityPoolId": pool.identity_pool_id,
            "IdentityProviderName": provider,
            "UseDefaults": entry["UseDefaults"],
            "PrincipalTags": entry["PrincipalTags"],
        }
    )


def set_principal_tag_attribute_map(self: CognitoIdentityResponse) -> str:
    body = identity._body(self)
    _, pool = identity._pool(self.current_account, body.get("IdentityPoolId"))
    provider = _provider(pool, body.get("IdentityProviderName"))
    use_defaults = body.get("UseDefaults", False)
    if not isinstance(use_defaults, bool):
        raise InvalidParameterException("UseDefaults must be a boolean.")
    tags = validate_tags(body.get("PrincipalTags"))
    with identity._lock:
        _maps(pool)[provider] = {"UseDefaults": use_defaults, "PrincipalTags": tags}
    return _answer(pool, provider)


def get_principal_tag_attribute_map(self: CognitoIdentityResponse) -> str:
    body = identity._body(self)
    _, pool = identity._pool(self.current_account, body.get("IdentityPoolId"))
    provider = _provider(pool, body.get("IdentityProviderName"))
    return _answer(pool, provider)


def _claim_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)) and str(value) != "":
        return str(value)
    return None  # lists and objects make no tag


def session_tags(pool: CognitoIdentityPool, provider: str, claims: dict[str, Any]) -> dict[str, str]:
    """tag -> value for an identity signed in through provider with these token claims."""
    entry = _maps(pool).get(provider)
    if not entry:
        return {}
    mapping = DEFAULT_TAGS if entry["UseDefaults"] and not entry["PrincipalTags"] else entry["PrincipalTags"]
    out = {}
    for tag, claim in mapping.items():
        value = _claim_value(claims.get(claim))
        if value is not None:
            out[tag] = value
    return out


def tag_context(role: Any, pool: CognitoIdentityPool, provider: str, claims: dict[str, Any], trust_context: policy.Context) -> dict[str, str]:
    """The session's principal-tag context keys; the role's trust must allow tagging."""
    tags = session_tags(pool, provider, claims)
    if not tags:
        return {}
    decision = policy.evaluate(
        role.assume_role_policy_document,
        "sts:TagSession",
        "*",
        trust_context,
        principal_matches=policy.federated_principal(identity.COGNITO_IDENTITY),
    )
    if decision != policy.ALLOW:
        raise InvalidIdentityPoolConfigurationException()
    return {f"aws:PrincipalTag/{k}": v for k, v in tags.items()}


def install() -> None:
    CognitoIdentityResponse.set_principal_tag_attribute_map = set_principal_tag_attribute_map  # type: ignore[attr-defined]
    CognitoIdentityResponse.get_principal_tag_attribute_map = get_principal_tag_attribute_map  # type: ignore[attr-defined]
