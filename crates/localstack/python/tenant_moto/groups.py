"""Cognito user pools: UpdateGroup as the service does it.

The API reference: "If you don't provide a value for an attribute, it will be set to the
default value." moto keeps an omitted RoleArn or Precedence; the service clears them, and
`tenantctl migrate` relies on that to take a Token-mode role off a group."""

from __future__ import annotations

from typing import Any

from moto.cognitoidp.models import CognitoIdpGroup


def update(self: Any, description: str | None, role_arn: str | None, precedence: int | None) -> None:
    from moto.core.utils import utcnow

    self.description = description
    self.role_arn = role_arn
    self.precedence = precedence
    self.last_modified_date = utcnow()


def install() -> None:
    CognitoIdpGroup.update = update  # type: ignore[method-assign]
