"""Cognito self sign-up as the verify mode needs it, on a machine that sends no mail.

moto confirms any SignUp without a code and calls no trigger. Here:

- SignUp keeps a 6-digit code per user (valid 24 h, as Cognito's) and delivers it to a
  local mailbox: one JSON line per message in the file $TENANT_MOTO_MAILBOX, which
  `tenantctl local mail` and the tests read (no mailbox configured: nothing is delivered,
  so nobody can confirm);
- ConfirmSignUp checks the code (CodeMismatchException, ExpiredCodeException, and
  NotAuthorizedException for a user already confirmed), confirms the user, marks the
  email verified, then calls the pool's PostConfirmation trigger through the local Lambda
  endpoint (port $MOTO_PORT) with Cognito's event; a failing trigger is answered as
  Cognito does (UserLambdaValidationException), the user staying confirmed;
- ResendConfirmationCode replaces the code and delivers the new one.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from typing import Any

from moto.cognitoidp.models import CognitoIdpBackend, CognitoIdpUser, UserStatus
from moto.cognitoidp.responses import CognitoIdpResponse
from moto.core.exceptions import JsonRESTError

MAILBOX_ENV = "TENANT_MOTO_MAILBOX"
CODE_SECONDS_ENV = "TENANT_MOTO_SIGNUP_CODE_SECONDS"
# Cognito's sign-up codes are valid for 24 hours.
DEFAULT_CODE_SECONDS = 24 * 3600

_lock = threading.Lock()
# (pool id, username) -> (code, expiry as time.time())
_codes: dict[tuple[str, str], tuple[str, float]] = {}


class CodeMismatchException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("CodeMismatchException", "Invalid verification code provided, please try again.")


class ExpiredCodeException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("ExpiredCodeException", "Invalid code provided, please request a code again.")


class NotAuthorizedException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("NotAuthorizedException", message)


class UserLambdaValidationException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("UserLambdaValidationException", message)


def _code_seconds() -> float:
    try:
        return float(os.environ.get(CODE_SECONDS_ENV, DEFAULT_CODE_SECONDS))
    except ValueError:
        return float(DEFAULT_CODE_SECONDS)


def _deliver(pool_id: str, user: CognitoIdpUser, code: str) -> None:
    address = user.attribute_lookup.get("email")
    path = os.environ.get(MAILBOX_ENV)
    if not address or not path:
        return
    message = {
        "to": address,
        "subject": "Your verification code",
        "body": f"Your verification code is {code}",
        "code": code,
        "user_pool_id": pool_id,
        "username": user.username,
        "sent_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with _lock, open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(message) + "\n")


def _new_code(pool_id: str, user: CognitoIdpUser) -> None:
    code = f"{secrets.randbelow(10**6):06d}"
    with _lock:
        _codes[(pool_id, user.username)] = (code, time.time() + _code_seconds())
    _deliver(pool_id, user, code)


def _check_code(pool_id: str, user: CognitoIdpUser, given: str) -> None:
    if user.status == UserStatus.CONFIRMED:
        raise NotAuthorizedException("User cannot be confirmed. Current status is CONFIRMED")
    with _lock:
        held = _codes.get((pool_id, user.username))
    if held is None or not secrets.compare_digest(held[0], str(given or "")):
        raise CodeMismatchException()
    if time.time() > held[1]:
        raise ExpiredCodeException()
    with _lock:
        _codes.pop((pool_id, user.username), None)


def _pool_for_client(backend: CognitoIdpBackend, client_id: str) -> Any:
    for pool in backend.user_pools.values():
        if client_id in pool.clients:
            return pool
    return None


def post_confirmation_event(pool: Any, user: CognitoIdpUser, client_id: str, region: str,
                            client_metadata: dict[str, str] | None) -> dict[str, Any]:
    """The event Cognito sends a PostConfirmation trigger after ConfirmSignUp."""
    attributes = dict(user.attribute_lookup)
    attributes["cognito:user_status"] = "CONFIRMED"
    return {
        "version": "1",
        "region": region,
        "userPoolId": pool.id,
        "userName": user.username,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client_id},
        "triggerSource": "PostConfirmation_ConfirmSignUp",
        "request": {"userAttributes": attributes, "clientMetadata": client_metadata or {}},
        "response": {},
    }


def _invoke(function_arn: str, event: dict[str, Any]) -> None:
    """Calls the function through the local Lambda endpoint, as Cognito calls Lambda."""
    port = os.environ.get("MOTO_PORT")
    if not port:
        raise UserLambdaValidationException("PostConfirmation failed with error no local Lambda endpoint.")
    url = (
        f"http://127.0.0.1:{port}/2015-03-31/functions/"
        f"{urllib.parse.quote(function_arn, safe='')}/invocations"
    )
    request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            failed = response.headers.get("X-Amz-Function-Error")
            body = response.read().decode("utf-8", "replace")
    except OSError as e:
        raise UserLambdaValidationException(f"PostConfirmation failed with error {e}.") from e
    if failed:
        try:
            message = json.loads(body).get("errorMessage", body)
        except ValueError:
            message = body
        raise UserLambdaValidationException(f"PostConfirmation failed with error {message}.")


def install() -> None:
    if getattr(CognitoIdpBackend, "_tenant_moto_signup_installed", False):
        return
    original_sign_up = CognitoIdpBackend.sign_up

    def sign_up(self: CognitoIdpBackend, client_id: str, username: str, password: str,
                attributes: list[dict[str, str]]) -> tuple[CognitoIdpUser, Any]:
        user, details = original_sign_up(self, client_id, username, password, attributes)
        _new_code(user.user_pool_id, user)
        return user, details

    def confirm_sign_up(self: CognitoIdpResponse) -> str:
        client_id = self._get_param("ClientId")
        username = self._get_param("Username")
        backend = self._get_region_agnostic_backend()._find_backend_for_clientid(client_id)
        pool = _pool_for_client(backend, client_id)
        if pool is None:
            # moto's own answer for an unknown client.
            return backend.confirm_sign_up(client_id, username)
        user = backend.admin_get_user(pool.id, username)
        _check_code(pool.id, user, self._get_param("ConfirmationCode"))
        user.status = UserStatus.CONFIRMED
        user.update_attributes([{"Name": "email_verified", "Value": "true"}])
        trigger = (pool.extended_config.get("LambdaConfig") or {}).get("PostConfirmation")
        if trigger:
            event = post_confirmation_event(pool, user, client_id, backend.region_name,
                                            self._get_param("ClientMetadata"))
            _invoke(trigger, event)
        return "{}"

    def resend_confirmation_code(self: CognitoIdpResponse) -> str:
        client_id = self._get_param("ClientId")
        username = self._get_param("Username")
        backend = self._get_region_agnostic_backend()._find_backend_for_clientid(client_id)
        pool = _pool_for_client(backend, client_id)
        if pool is None:
            raise NotAuthorizedException(f"unknown client {client_id}")
        user = backend.admin_get_user(pool.id, username)
        if user.status == UserStatus.CONFIRMED:
            raise NotAuthorizedException("User is already confirmed.")
        _new_code(pool.id, user)
        details = backend._get_code_delivery_details(
            recovery_settings=None, user=user, username=user.username
        )
        return json.dumps({"CodeDeliveryDetails": details})

    CognitoIdpBackend.sign_up = sign_up  # type: ignore[method-assign]
    CognitoIdpResponse.confirm_sign_up = confirm_sign_up  # type: ignore[method-assign]
    CognitoIdpResponse.resend_confirmation_code = resend_confirmation_code  # type: ignore[attr-defined]
    CognitoIdpBackend._tenant_moto_signup_installed = True  # type: ignore[attr-defined]
