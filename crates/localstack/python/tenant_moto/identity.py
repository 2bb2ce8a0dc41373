"""Cognito identity pools: SetIdentityPoolRoles / GetIdentityPoolRoles, GetId and
GetCredentialsForIdentity with role mapping, trust-policy evaluation and STS-issued
credentials; Cognito user pools: cognito:roles / cognito:preferred_role in ID tokens."""

from __future__ import annotations

import datetime
import json
import os
import re
import threading
import time
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from moto.cognitoidentity.models import (
    CognitoIdentityBackend,
    CognitoIdentityPool,
    cognitoidentity_backends,
)
from moto.cognitoidentity.responses import CognitoIdentityResponse
from moto.cognitoidentity.utils import get_random_identity_id
from moto.cognitoidp.models import CognitoIdpUserPool, cognitoidp_backends
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition

from . import policy
from .errors import (
    InvalidIdentityPoolConfigurationException,
    InvalidParameterException,
    NotAuthorizedException,
    ResourceNotFoundException,
)

COGNITO_IDENTITY = "cognito-identity.amazonaws.com"
SESSION_NAME = "CognitoIdentityCredentials"
SESSION_DURATION = 3600
MAX_ROLE_MAPPINGS = 10
MAX_RULES = 25
ROLE_KEYS = ("authenticated", "unauthenticated")
MAPPING_TYPES = ("Token", "Rules")
AMBIGUOUS = ("AuthenticatedRole", "Deny")
MATCH_TYPES = ("Equals", "Contains", "StartsWith", "NotEqual")

_PROVIDER_KEY = re.compile(
    r"^cognito-idp\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<pool>(?P<pool_region>[\w-]+)_[0-9a-zA-Z]+):(?P<client>[\w+]+)$"
)
_PROVIDER = re.compile(
    r"^cognito-idp\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<pool>[\w-]+_[0-9a-zA-Z]+)$"
)
_IDENTITY_ID = re.compile(r"^[\w-]+:[0-9a-f-]+$")
_ROLE_ARN = re.compile(r"^arn:[\w-]+:iam::\d{12}:role/.+$")
_CLAIM = re.compile(r"^[^\s\x00-\x1f]+$")

_lock = threading.RLock()


# ------------------------------------------------------------------ pool state


def _roles(pool: CognitoIdentityPool) -> dict[str, str]:
    return getattr(pool, "tenant_moto_roles", {})


def _mappings(pool: CognitoIdentityPool) -> dict[str, Any]:
    return getattr(pool, "tenant_moto_role_mappings", {})


def _links(backend: CognitoIdentityBackend) -> dict[str, Any]:
    """identity id -> (pool id, provider, subject) and (pool, provider, subject) -> identity id."""
    links = getattr(backend, "tenant_moto_links", None)
    if links is None:
        links = {}
        backend.tenant_moto_links = links  # type: ignore[attr-defined]
    return links


def _body(response: CognitoIdentityResponse) -> dict[str, Any]:
    try:
        data = json.loads(response.body or "{}")
    except ValueError:
        raise InvalidParameterException("Request body is not valid JSON.")
    return data if isinstance(data, dict) else {}


def _backend_for(account_id: str, identity_or_pool_id: str) -> CognitoIdentityBackend:
    region = identity_or_pool_id.split(":")[0]
    try:
        return cognitoidentity_backends[account_id][region]
    except KeyError:
        raise ResourceNotFoundException(f"IdentityPool '{identity_or_pool_id}' not found.")


def _pool(account_id: str, pool_id: Any) -> tuple[CognitoIdentityBackend, CognitoIdentityPool]:
    if not isinstance(pool_id, str) or not re.fullmatch(r"[\w-]+:[0-9a-f-]+", pool_id):
        raise InvalidParameterException(
            f"1 validation error detected: Value '{pool_id}' at 'identityPoolId' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: [\\w-]+:[0-9a-f-]+"
        )
    backend = _backend_for(account_id, pool_id)
    pool = backend.identity_pools.get(pool_id)
    if pool is None:
        raise ResourceNotFoundException(f"IdentityPool '{pool_id}' not found.")
    return backend, pool


# ------------------------------------------------------ Set/GetIdentityPoolRoles


def validate_roles(roles: Any) -> dict[str, str]:
    if roles is None:
        return {}
    if not isinstance(roles, dict):
        raise InvalidParameterException("Roles must be a map of 'authenticated'/'unauthenticated' to role ARNs.")
    for key, arn in roles.items():
        if key not in ROLE_KEYS:
            raise InvalidParameterException(
                f"Invalid key '{key}' in Roles: only 'authenticated' and 'unauthenticated' are allowed."
            )
        _validate_role_arn(arn, f"Roles.{key}")
    return dict(roles)


def _validate_role_arn(arn: Any, where: str) -> None:
    if not isinstance(arn, str) or not 20 <= len(arn) <= 2048:
        raise InvalidParameterException(
            f"{where}: role ARN must be a string of 20 to 2048 characters."
        )
    if not _ROLE_ARN.match(arn):
        raise InvalidParameterException(f"{where}: '{arn}' is not a valid IAM role ARN.")


def validate_role_mappings(mappings: Any) -> dict[str, Any]:
    if mappings is None:
        return {}
    if not isinstance(mappings, dict):
        raise InvalidParameterException("RoleMappings must be a map of identity provider to role mapping.")
    if len(mappings) > MAX_ROLE_MAPPINGS:
        raise InvalidParameterException(
            f"RoleMappings has {len(mappings)} identity providers; at most {MAX_ROLE_MAPPINGS} are allowed."
        )
    out: dict[str, Any] = {}
    for key, mapping in mappings.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            raise InvalidParameterException(
                f"RoleMappings key '{key}' must be 1 to 128 characters long."
            )
        match = _PROVIDER_KEY.match(key)
        if not match or match.group("region") != match.group("pool_region"):
            raise InvalidParameterException(
                f"Invalid RoleMappings key '{key}': expected "
                "'cognito-idp.{region}.amazonaws.com/{userPoolId}:{appClientId}'."
            )
        if not isinstance(mapping, dict):
            raise InvalidParameterException(f"RoleMappings['{key}'] must be a role mapping object.")
        mapping_type = mapping.get("Type")
        if mapping_type not in MAPPING_TYPES:
            raise InvalidParameterException(
                f"RoleMappings['{key}'].Type is '{mapping_type}'; it must be one of Token, Rules."
            )
        ambiguous = mapping.get("AmbiguousRoleResolution")
        if ambiguous is None:
            raise InvalidParameterException(
                f"RoleMappings['{key}']: AmbiguousRoleResolution is required when Type is {mapping_type}."
            )
        if ambiguous not in AMBIGUOUS:
            raise InvalidParameterException(
                f"RoleMappings['{key}'].AmbiguousRoleResolution is '{ambiguous}'; "
                "it must be one of AuthenticatedRole, Deny."
            )
        clean: dict[str, Any] = {"Type": mapping_type, "AmbiguousRoleResolution": ambiguous}
        if mapping_type == "Rules":
            rules = (mapping.get("RulesConfiguration") or {}).get("Rules")
            if not isinstance(rules, list) or not rules:
                raise InvalidParameterException(
                    f"RoleMappings['{key}']: RulesConfiguration with at least one rule is required "
                    "when Type is Rules."
                )
            if len(rules) > MAX_RULES:
                raise InvalidParameterException(
                    f"RoleMappings['{key}'] has {len(rules)} rules; at most {MAX_RULES} rules are "
                    "allowed per identity provider."
                )
            clean["RulesConfiguration"] = {
                "Rules": [_validate_rule(key, i, r) for i, r in enumerate(rules)]
            }
        elif mapping.get("RulesConfiguration") is not None:
            clean["RulesConfiguration"] = mapping["RulesConfiguration"]
        out[key] = clean
    return out


def _validate_rule(key: str, index: int, rule: Any) -> dict[str, str]:
    where = f"RoleMappings['{key}'].RulesConfiguration.Rules[{index}]"
    if not isinstance(rule, dict):
        raise InvalidParameterException(f"{where} must be a rule object.")
    claim = rule.get("Claim")
    if not isinstance(claim, str) or not 1 <= len(claim) <= 64 or not _CLAIM.match(claim):
        raise InvalidParameterException(
            f"{where}.Claim must be 1 to 64 characters without whitespace."
        )
    match_type = rule.get("MatchType")
    if match_type not in MATCH_TYPES:
        raise InvalidParameterException(
            f"{where}.MatchType is '{match_type}'; it must be one of {', '.join(MATCH_TYPES)}."
        )
    value = rule.get("Value")
    if not isinstance(value, str) or not 1 <= len(value) <= 128:
        raise InvalidParameterException(f"{where}.Value must be 1 to 128 characters.")
    _validate_role_arn(rule.get("RoleARN"), f"{where}.RoleARN")
    return {"Claim": claim, "MatchType": match_type, "Value": value, "RoleARN": rule["RoleARN"]}


def set_identity_pool_roles(self: CognitoIdentityResponse) -> str:
    body = _body(self)
    _, pool = _pool(self.current_account, body.get("IdentityPoolId"))
    roles = validate_roles(body.get("Roles"))
    mappings = validate_role_mappings(body.get("RoleMappings"))
    with _lock:
        pool.tenant_moto_roles = roles  # type: ignore[attr-defined]
        pool.tenant_moto_role_mappings = mappings  # type: ignore[attr-defined]
    return ""


def get_identity_pool_roles(self: CognitoIdentityResponse) -> str:
    body = _body(self)
    _, pool = _pool(self.current_account, body.get("IdentityPoolId"))
    result: dict[str, Any] = {"IdentityPoolId": pool.identity_pool_id, "Roles": _roles(pool)}
    if _mappings(pool):
        result["RoleMappings"] = _mappings(pool)
    return json.dumps(result)


# ---------------------------------------------------------------- ID tokens


def _verify_login(
    account_id: str, pool: CognitoIdentityPool, provider: str, token: Any
) -> dict[str, Any]:
    """Verify a user-pool ID token presented for provider; return its claims."""
    match = _PROVIDER.match(provider or "")
    configured = [
        p for p in (pool.cognito_identity_providers or []) if p.get("ProviderName") == provider
    ]
    if not match or not configured:
        raise NotAuthorizedException("Token is not from a supported provider of this identity pool.")
    user_pool = cognitoidp_backends[account_id][match.group("region")].user_pools.get(
        match.group("pool")
    )
    if user_pool is None or not isinstance(token, str):
        raise NotAuthorizedException("Invalid login token. Not a valid OpenId Connect identity token.")
    try:
        decoded = jwt.decode(token, user_pool.json_web_key, algorithms=["RS256"])
    except (JoseError, ValueError) as exc:
        raise NotAuthorizedException(f"Invalid login token. Couldn't verify signed token. ({exc})")
    claims = dict(decoded.claims)
    if claims.get("iss") != f"https://{provider}":
        raise NotAuthorizedException("Invalid login token. Issuer doesn't match providerName")
    if claims.get("token_use") != "id":
        raise NotAuthorizedException("Invalid login token. Not a valid OpenId Connect identity token.")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp < time.time():
        raise NotAuthorizedException(f"Invalid login token. Token expired: {exp} >= {int(time.time())}")
    if not any(p.get("ClientId") == claims.get("aud") for p in configured):
        raise NotAuthorizedException("Token is not from a supported provider of this identity pool.")
    return claims


def _single_login(logins: Any) -> tuple[str, Any] | None:
    if not logins:
        return None
    if not isinstance(logins, dict):
        raise InvalidParameterException("Logins must be a map of provider name to token.")
    cognito = [(k, v) for k, v in logins.items() if _PROVIDER.match(k)]
    if len(cognito) != 1:
        raise NotAuthorizedException("Token is not from a supported provider of this identity pool.")
    return cognito[0]


def get_id(self: CognitoIdentityResponse) -> str:
    body = _body(self)
    backend, pool = _pool(self.current_account, body.get("IdentityPoolId"))
    login = _single_login(body.get("Logins"))
    links = _links(backend)
    with _lock:
        if login is None:
            if not pool.allow_unauthenticated_identities:
                raise NotAuthorizedException(
                    "Unauthenticated access is not supported for this identity pool."
                )
            link_key = None
        else:
            provider, token = login
            claims = _verify_login(self.current_account, pool, provider, token)
            link_key = (pool.identity_pool_id, provider, claims.get("sub"))
            if link_key in links:
                return json.dumps({"IdentityId": links[link_key]})
        identity_id = get_random_identity_id(backend.region_name)
        backend.pools_identities.setdefault(
            pool.identity_pool_id, {"IdentityPoolId": pool.identity_pool_id, "Identities": []}
        )["Identities"].append({"IdentityId": identity_id})
        links[identity_id] = link_key
        if link_key is not None:
            links[link_key] = identity_id
    return json.dumps({"IdentityId": identity_id})


# ------------------------------------------------------------ role resolution


def _claim_values(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return [policy._to_str(v) for v in value]
    return [policy._to_str(value)]


def rule_matches(rule: dict[str, str], claims: dict[str, Any]) -> bool:
    values = _claim_values(claims.get(rule["Claim"]))
    if values is None:
        return False
    wanted = rule["Value"]
    kind = rule["MatchType"]
    if kind == "Equals":
        return any(v == wanted for v in values)
    if kind == "Contains":
        return any(wanted in v for v in values)
    if kind == "StartsWith":
        return any(v.startswith(wanted) for v in values)
    if kind == "NotEqual":
        return all(v != wanted for v in values)
    return False


def resolve_role(
    pool: CognitoIdentityPool,
    provider: str,
    claims: dict[str, Any],
    custom_role_arn: str | None = None,
) -> str:
    mapping = _mappings(pool).get(f"{provider}:{claims.get('aud')}")
    authenticated = _roles(pool).get("authenticated")
    chosen: str | None = None
    if mapping is None:
        chosen = authenticated
    else:
        if mapping["Type"] == "Token":
            roles = _claim_values(claims.get("cognito:roles")) or []
            preferred = claims.get("cognito:preferred_role")
            if custom_role_arn and custom_role_arn in roles:
                chosen = custom_role_arn
            elif preferred:
                chosen = str(preferred)
            elif len(roles) == 1:
                chosen = roles[0]
        else:
            for rule in mapping["RulesConfiguration"]["Rules"]:
                if rule_matches(rule, claims):
                    chosen = rule["RoleARN"]
                    break
        if chosen is None:
            if mapping["AmbiguousRoleResolution"] == "Deny":
                raise NotAuthorizedException(
                    f"The ambiguous role mapping rules for: {provider} denied this request."
                )
            chosen = authenticated
    if not chosen:
        raise InvalidIdentityPoolConfigurationException()
    return chosen


def trust_allows(role_trust_policy: Any, context: policy.Context) -> bool:
    decision = policy.evaluate(
        role_trust_policy,
        "sts:AssumeRoleWithWebIdentity",
        "*",
        context,
        principal_matches=policy.federated_principal(COGNITO_IDENTITY),
    )
    return decision == policy.ALLOW


def find_pool(account_id: str, identity_id: Any) -> tuple[CognitoIdentityBackend, CognitoIdentityPool]:
    """The identity pool an identity id belongs to."""
    if not isinstance(identity_id, str) or not _IDENTITY_ID.match(identity_id):
        raise InvalidParameterException(
            f"1 validation error detected: Value '{identity_id}' at 'identityId' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\w-]+:[0-9a-f-]+"
        )
    backend = _backend_for(account_id, identity_id)
    for pool_id, entry in list(backend.pools_identities.items()):
        if any(i.get("IdentityId") == identity_id for i in entry.get("Identities", [])):
            pool = backend.identity_pools.get(pool_id)
            if pool is not None:
                return backend, pool
    raise ResourceNotFoundException(f"Identity '{identity_id}' not found.")


def authenticate(
    account_id: str,
    backend: CognitoIdentityBackend,
    pool: CognitoIdentityPool,
    identity_id: str,
    logins: Any,
) -> tuple[str, dict[str, Any]] | None:
    """(provider, verified ID-token claims) of an authenticated identity, None for an
    unauthenticated one the pool admits; links the identity to its login on first use."""
    login = _single_login(logins)
    links = _links(backend)
    if login is None:
        if not pool.allow_unauthenticated_identities:
            raise NotAuthorizedException("Unauthenticated access is not supported for this identity pool.")
        if links.get(identity_id) is not None:
            raise NotAuthorizedException(
                "Logins don't match. Please include at least one valid login for this identity or identity pool."
            )
        return None
    provider, token = login
    claims = _verify_login(account_id, pool, provider, token)
    link_key = (pool.identity_pool_id, provider, claims.get("sub"))
    with _lock:
        linked = links.get(identity_id)
        if linked is not None and linked != link_key:
            raise NotAuthorizedException(
                "Logins don't match. Please include at least one valid login for this identity or identity pool."
            )
        if linked is None:
            links[identity_id] = link_key
            links.setdefault(link_key, identity_id)
    return provider, claims


def amr_of(login: tuple[str, dict[str, Any]] | None) -> list[str]:
    """The authentication methods reference Cognito puts in the aud/amr context."""
    if login is None:
        return ["unauthenticated"]
    provider, claims = login
    region = provider.split(".")[1]
    return [
        "authenticated",
        f"cognito-idp.{region}.amazonaws.com",
        f"{provider}:CognitoSignIn:{claims.get('sub')}",
    ]


def propagation_delay_seconds() -> float:
    """Simulated IAM propagation (TENANT_MOTO_IAM_PROPAGATION_SECONDS, default 0): a role
    younger than this is not assumable through an identity pool yet, as in AWS right after
    CreateRole."""
    try:
        return max(0.0, float(os.environ.get("TENANT_MOTO_IAM_PROPAGATION_SECONDS", "0")))
    except ValueError:
        return 0.0


def propagated(role: Any) -> bool:
    delay = propagation_delay_seconds()
    if delay <= 0:
        return True
    created = role.create_date
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.timezone.utc)
    age = (datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()
    return age >= delay


def get_credentials_for_identity(self: CognitoIdentityResponse) -> str:
    body = _body(self)
    identity_id = body.get("IdentityId")
    account_id = self.current_account
    backend, pool = find_pool(account_id, identity_id)
    login = authenticate(account_id, backend, pool, identity_id, body.get("Logins"))
    if login is None:
        role_arn = _roles(pool).get("unauthenticated")
        if not role_arn:
            raise InvalidIdentityPoolConfigurationException()
    else:
        provider, claims = login
        role_arn = resolve_role(pool, provider, claims, body.get("CustomRoleArn"))
    amr = amr_of(login)

    partition = get_partition(backend.region_name)
    try:
        role = iam_backends[account_id][partition].get_role_by_arn(role_arn)
    except NotFoundException:
        raise InvalidIdentityPoolConfigurationException()
    context = policy.Context(
        {
            f"{COGNITO_IDENTITY}:aud": pool.identity_pool_id,
            f"{COGNITO_IDENTITY}:amr": amr,
            f"{COGNITO_IDENTITY}:sub": identity_id,
        }
    )
    if not trust_allows(role.assume_role_policy_document, context):
        raise InvalidIdentityPoolConfigurationException()
    if not propagated(role):
        raise InvalidIdentityPoolConfigurationException()
    from . import abac  # imports this module

    session_tags = {} if login is None else abac.tag_context(role, pool, provider, claims, context)

    assumed = sts_backends[account_id][partition].assume_role_with_web_identity(
        region_name=backend.region_name,
        role_session_name=SESSION_NAME,
        role_arn=role_arn,
        policy=None,
        duration=SESSION_DURATION,
        external_id=None,
    )
    # Web-identity session keys stay in the request context of later calls.
    assumed.tenant_moto_context = {  # type: ignore[attr-defined]
        f"{COGNITO_IDENTITY}:aud": pool.identity_pool_id,
        f"{COGNITO_IDENTITY}:amr": amr,
        f"{COGNITO_IDENTITY}:sub": identity_id,
        **session_tags,
    }
    return json.dumps(
        {
            "IdentityId": identity_id,
            "Credentials": {
                "AccessKeyId": assumed.access_key_id,
                "SecretKey": assumed.secret_access_key,
                "SessionToken": assumed.session_token,
                "Expiration": int(assumed.expiration.replace(tzinfo=datetime.timezone.utc).timestamp()),
            },
        }
    )


def delete_identity_pool(self: CognitoIdentityResponse) -> str:
    body = _body(self)
    backend, pool = _pool(self.current_account, body.get("IdentityPoolId"))
    with _lock:
        backend.identity_pools.pop(pool.identity_pool_id, None)
        backend.pools_identities.pop(pool.identity_pool_id, None)
        links = _links(backend)
        for key in [k for k, v in links.items() if (isinstance(k, tuple) and k[0] == pool.identity_pool_id)
                    or (isinstance(v, tuple) and v[0] == pool.identity_pool_id)]:
            links.pop(key, None)
    return ""


# ------------------------------------------------------------ user-pool tokens


def role_claims(groups: Any) -> dict[str, Any]:
    """cognito:roles and cognito:preferred_role for a user's groups, like Cognito user pools."""
    with_roles = [g for g in groups if getattr(g, "role_arn", None)]
    if not with_roles:
        return {}

    def rank(group: Any) -> tuple[int, float]:
        p = getattr(group, "precedence", None)
        return (1, 0.0) if p is None else (0, float(p))

    ordered = sorted(with_roles, key=lambda g: (rank(g), g.group_name))
    roles: list[str] = []
    for group in ordered:
        if group.role_arn not in roles:
            roles.append(group.role_arn)
    out: dict[str, Any] = {"cognito:roles": roles}
    best = rank(ordered[0])
    tied = [g for g in ordered if rank(g) == best]
    if best[0] == 0 and len({g.role_arn for g in tied}) == 1:
        out["cognito:preferred_role"] = tied[0].role_arn
    return out


def install() -> None:
    if getattr(CognitoIdentityResponse, "_tenant_moto_installed", False):
        return
    CognitoIdentityResponse.set_identity_pool_roles = set_identity_pool_roles  # type: ignore[attr-defined]
    CognitoIdentityResponse.get_identity_pool_roles = get_identity_pool_roles  # type: ignore[attr-defined]
    CognitoIdentityResponse.get_id = get_id  # type: ignore[method-assign]
    CognitoIdentityResponse.get_credentials_for_identity = get_credentials_for_identity  # type: ignore[method-assign]
    CognitoIdentityResponse.delete_identity_pool = delete_identity_pool  # type: ignore[method-assign]

    original_create_jwt = CognitoIdpUserPool.create_jwt

    def create_jwt(self, client_id, username, token_use, expires_in=60 * 60, extra_data=None):  # type: ignore[no-untyped-def]
        if token_use == "id":
            extra = dict(extra_data or {})
            extra.update(role_claims(self._get_user(username).groups))
            extra_data = extra
        return original_create_jwt(self, client_id, username, token_use, expires_in, extra_data)

    CognitoIdpUserPool.create_jwt = create_jwt  # type: ignore[method-assign]
    # UpdateGroup resets what it is not given, as the service does (groups.py).
    from . import groups

    groups.install()
    CognitoIdentityResponse._tenant_moto_installed = True  # type: ignore[attr-defined]
