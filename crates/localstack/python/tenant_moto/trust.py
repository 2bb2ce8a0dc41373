"""The basic (classic) identity-pool flow, checked like AWS: GetOpenIdToken issues a signed
Cognito OpenID token (aud = the identity pool, amr = how the identity signed in) only
when the pool allows the classic flow, and STS AssumeRoleWithWebIdentity evaluates the
role's trust policy against that token's aud/amr, so a token of another pool or of an
unauthenticated identity cannot become a tenant role's credentials. Also DeleteIdentities,
which moto lacks."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from moto.cognitoidentity.responses import CognitoIdentityResponse
from moto.core.responses import ActionResult
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.sts.exceptions import STSClientError
from moto.sts.responses import TokenResponse

from . import identity, policy
from .errors import InvalidParameterException

ISSUER = f"https://{identity.COGNITO_IDENTITY}"
OPEN_ID_TOKEN_SECONDS = 600  # "The OpenID token is valid for 10 minutes."
CLASSIC_FLOW_DISABLED = "Basic (classic) flow is not enabled, please use enhanced flow."

_key_lock = threading.Lock()
_key: RSAKey | None = None


def signing_key() -> RSAKey:
    """The emulated Cognito identity service's token key, one per process."""
    global _key
    with _key_lock:
        if _key is None:
            _key = RSAKey.generate_key(2048, private=True)
        return _key


def classic_flow_allowed(pool: Any) -> bool:
    # moto drops AllowClassicFlow; AWS's default is false.
    return bool(getattr(pool, "tenant_moto_allow_classic_flow", False))


def _remember_classic_flow(self: CognitoIdentityResponse, result: str) -> str:
    """Create and Update take the whole pool: an omitted AllowClassicFlow is false."""
    data = json.loads(result)
    _, pool = identity._pool(self.current_account, data.get("IdentityPoolId"))
    pool.tenant_moto_allow_classic_flow = bool(identity._body(self).get("AllowClassicFlow", False))  # type: ignore[attr-defined]
    data["AllowClassicFlow"] = classic_flow_allowed(pool)
    return json.dumps(data)


def get_open_id_token(self: CognitoIdentityResponse) -> str:
    body = identity._body(self)
    identity_id = body.get("IdentityId")
    account_id = self.current_account
    backend, pool = identity.find_pool(account_id, identity_id)
    login = identity.authenticate(account_id, backend, pool, identity_id, body.get("Logins"))
    if not classic_flow_allowed(pool):
        raise InvalidParameterException(CLASSIC_FLOW_DISABLED)
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": pool.identity_pool_id,
        "sub": identity_id,
        "amr": identity.amr_of(login),
        "iat": now,
        "exp": now + OPEN_ID_TOKEN_SECONDS,
    }
    token = jwt.encode({"alg": "RS256", "kid": "tenant-moto"}, claims, signing_key())
    return json.dumps({"IdentityId": identity_id, "Token": token})


def _token_claims(token: Any) -> dict[str, Any]:
    if not isinstance(token, str):
        raise STSClientError("InvalidIdentityToken", "The web identity token is missing.")
    try:
        decoded = jwt.decode(token, signing_key(), algorithms=["RS256"])
    except (JoseError, ValueError) as exc:
        raise STSClientError("InvalidIdentityToken", f"Couldn't verify the signed token. ({exc})")
    claims = dict(decoded.claims)
    if claims.get("iss") != ISSUER:
        raise STSClientError("InvalidIdentityToken", "No OpenIDConnect provider found in your account for this issuer.")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp < time.time():
        raise STSClientError("ExpiredTokenException", "Token is expired.")
    return claims


def assume_role_with_web_identity(self: TokenResponse) -> ActionResult:
    claims = _token_claims(self._get_param("WebIdentityToken"))
    role_arn = self._get_param("RoleArn")
    try:
        role = iam_backends[self.current_account][self.partition].get_role_by_arn(role_arn)
    except NotFoundException:
        role = None
    values = {
        f"{identity.COGNITO_IDENTITY}:aud": claims.get("aud"),
        f"{identity.COGNITO_IDENTITY}:amr": claims.get("amr") or [],
        f"{identity.COGNITO_IDENTITY}:sub": claims.get("sub"),
    }
    if role is None or not identity.trust_allows(role.assume_role_policy_document, policy.Context(values)):
        raise STSClientError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    assumed = self.backend.assume_role_with_web_identity(
        region_name=self.region,
        role_session_name=self._get_param("RoleSessionName"),
        role_arn=role_arn,
        policy=self._get_param("Policy"),
        duration=self._get_int_param("DurationSeconds", 3600),
        external_id=None,
    )
    # The token's keys stay in the request context of calls made with these credentials.
    assumed.tenant_moto_context = values  # type: ignore[attr-defined]
    return ActionResult(
        {
            "Credentials": assumed,
            "AssumedRoleUser": {"AssumedRoleId": f"ARO123EXAMPLE123:{assumed.session_name}", "Arn": assumed.arn},
            "SubjectFromWebIdentityToken": claims.get("sub"),
            "Audience": claims.get("aud"),
            "Provider": identity.COGNITO_IDENTITY,
            "PackedPolicySize": 6,
        }
    )


def delete_identities(self: CognitoIdentityResponse) -> str:
    body = identity._body(self)
    ids = body.get("IdentityIdsToDelete")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 60:
        raise InvalidParameterException("IdentityIdsToDelete must list 1 to 60 identity ids.")
    unprocessed = []
    for identity_id in ids:
        try:
            backend, pool = identity.find_pool(self.current_account, identity_id)
        except Exception:
            unprocessed.append({"IdentityId": identity_id, "ErrorCode": "InternalServerError"})
            continue
        with identity._lock:
            entry = backend.pools_identities.get(pool.identity_pool_id, {})
            entry["Identities"] = [i for i in entry.get("Identities", []) if i.get("IdentityId") != identity_id]
            links = identity._links(backend)
            link_key = links.pop(identity_id, None)
            if link_key is not None and links.get(link_key) == identity_id:
                links.pop(link_key, None)
    return json.dumps({"UnprocessedIdentityIds": unprocessed})


def install() -> None:
    if getattr(CognitoIdentityResponse, "_tenant_moto_trust_installed", False):
        return
    original_create = CognitoIdentityResponse.create_identity_pool
    original_update = CognitoIdentityResponse.update_identity_pool
    original_describe = CognitoIdentityResponse.describe_identity_pool

    def create_identity_pool(self: CognitoIdentityResponse) -> str:
        return _remember_classic_flow(self, original_create(self))

    def update_identity_pool(self: CognitoIdentityResponse) -> str:
        return _remember_classic_flow(self, original_update(self))

    def describe_identity_pool(self: CognitoIdentityResponse) -> str:
        data = json.loads(original_describe(self))
        _, pool = identity._pool(self.current_account, data.get("IdentityPoolId"))
        data["AllowClassicFlow"] = classic_flow_allowed(pool)
        return json.dumps(data)

    CognitoIdentityResponse.create_identity_pool = create_identity_pool  # type: ignore[method-assign]
    CognitoIdentityResponse.update_identity_pool = update_identity_pool  # type: ignore[method-assign]
    CognitoIdentityResponse.describe_identity_pool = describe_identity_pool  # type: ignore[method-assign]
    CognitoIdentityResponse.get_open_id_token = get_open_id_token  # type: ignore[method-assign]
    CognitoIdentityResponse.delete_identities = delete_identities  # type: ignore[attr-defined]
    TokenResponse.assume_role_with_web_identity = assume_role_with_web_identity  # type: ignore[method-assign]
    CognitoIdentityResponse._tenant_moto_trust_installed = True  # type: ignore[attr-defined]
