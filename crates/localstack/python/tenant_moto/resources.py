"""The resource ARN (and condition keys) of a request, as IAM computes them.

Which resource types an action has comes from the Service Authorization Reference
(tenant_moto.reference): an action with none is authorized on "*". For the others the
ARN is built from the request's parameters, per service, for the calls the product makes.
A request whose resource cannot be computed is authorized on "*" too, which a scoped
grant does not match: unknown means refused, never wider.

Some requests are authorized more than once: SetIdentityPoolRoles and a group's RoleArn
pass roles (iam:PassRole on each), CopyObject and UploadPartCopy read their source
(s3:GetObject on it) as well as write their destination.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote

from . import reference

COGNITO_IDENTITY_SERVICE = "cognito-identity.amazonaws.com"
COGNITO_IDP_SERVICE = "cognito-idp.amazonaws.com"


@dataclass
class Check:
    """One authorization: action on resource with extra request-context keys."""

    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)


Params = Callable[[str], Any]


def _arn(region: str, account: str, service: str, rest: str, partition: str = "aws") -> str:
    return f"arn:{partition}:{service}:{region}:{account}:{rest}"


def _role_arn(account: str, name: str | None, partition: str, path: str | None = None) -> str | None:
    if not name:
        return None
    if path is None:
        path = "/"
        try:
            from moto.iam.models import iam_backends

            role = iam_backends[account][partition].get_role(name)
            path = role.path or "/"
        except Exception:
            path = "/"
    return f"arn:{partition}:iam::{account}:role{path}{name}"


def primary(service: str, operation: str, param: Params, region: str, account: str, partition: str = "aws") -> tuple[str, dict[str, Any]]:
    """(resource ARN or "*", condition keys) for the request's own action."""
    ref = reference.load()
    action = ref.action(f"{service}:{operation}")
    if action is not None and not action.resource_types:
        return "*", _action_context(service, operation, param, region, account, partition)
    builder = _BUILDERS.get(service)
    if builder is None:
        return "*", {}
    try:
        found = builder(operation, param, region, account, partition)
    except Exception:
        found = None
    if not found:
        return "*", {}
    return found


def _action_context(service: str, operation: str, param: Params, region: str, account: str, partition: str) -> dict[str, Any]:
    if service == "cognito-identity" and operation == "DeleteIdentities":
        pools = set()
        for identity_id in param("IdentityIdsToDelete") or []:
            pool = _pool_of_identity(account, str(identity_id))
            if pool:
                pools.add(_arn(region, account, "cognito-identity", f"identitypool/{pool}", partition))
        return {"cognito-identity:IdentityPoolArn": sorted(pools)[0]} if len(pools) == 1 else {}
    return {}


def _pool_of_identity(account: str, identity_id: str) -> str | None:
    try:
        from . import identity

        _, pool = identity.find_pool(account, identity_id)
        return pool.identity_pool_id
    except Exception:
        return None


def _named(name: str | None, service: str, kind: str, region: str, account: str, partition: str):
    """A resource a request names either by its ARN or by its name (a table, an event bus)."""
    if not name:
        return None
    if name.startswith("arn:"):
        return name, {}
    return _arn(region, account, service, f"{kind}{name}", partition), {}


def _dynamodb(operation: str, param: Params, region: str, account: str, partition: str):
    return _named(param("TableName"), "dynamodb", "table/", region, account, partition)


def _cognito_idp(operation: str, param: Params, region: str, account: str, partition: str):
    pool = param("UserPoolId")
    if not pool:
        return None
    return _arn(region, account, "cognito-idp", f"userpool/{pool}", partition), {}


def _cognito_identity(operation: str, param: Params, region: str, account: str, partition: str):
    pool = param("IdentityPoolId")
    if not pool:
        return None
    return _arn(region, account, "cognito-identity", f"identitypool/{pool}", partition), {}


def _iam(operation: str, param: Params, region: str, account: str, partition: str):
    context: dict[str, Any] = {}
    if operation in ("CreateRole", "PutRolePermissionsBoundary"):
        boundary = param("PermissionsBoundary")
        if boundary:
            context["iam:PermissionsBoundary"] = boundary
        path = param("Path") if operation == "CreateRole" else None
        arn = _role_arn(account, param("RoleName"), partition, path or ("/" if operation == "CreateRole" else None))
    elif param("RoleName"):
        if _existing_role(account, param("RoleName"), partition) is None:
            # A role that does not exist has no path, so no ARN to authorize: moto answers
            # NoSuchEntity. (Known gap: how IAM matches a path-scoped grant against a
            # missing role is not modelled; the product's deletes treat NoSuchEntity as done.)
            return MISSING, {}
        arn = _role_arn(account, param("RoleName"), partition)
        boundary = _existing_boundary(account, param("RoleName"), partition)
        if boundary and operation in ("PutRolePolicy", "AttachRolePolicy", "DeleteRolePolicy", "DetachRolePolicy"):
            context["iam:PermissionsBoundary"] = boundary
    elif param("PolicyArn"):
        arn = param("PolicyArn")
    else:
        return None
    if operation in ("AttachRolePolicy", "DetachRolePolicy") and param("PolicyArn"):
        context["iam:PolicyARN"] = param("PolicyArn")
    return arn, context


MISSING = "missing"


def _existing_role(account: str, role_name: str, partition: str) -> Any:
    try:
        from moto.iam.models import iam_backends

        return iam_backends[account][partition].get_role(role_name)
    except Exception:
        return None


def _existing_boundary(account: str, role_name: str, partition: str) -> str | None:
    try:
        from moto.iam.models import iam_backends

        return iam_backends[account][partition].get_role(role_name).permissions_boundary_arn
    except Exception:
        return None


def _secretsmanager(operation: str, param: Params, region: str, account: str, partition: str):
    secret_id = param("SecretId") or (param("Name") if operation == "CreateSecret" else None)
    if not secret_id:
        return None
    extra: dict[str, Any] = {}
    try:
        from moto.secretsmanager.models import secretsmanager_backends

        secret = secretsmanager_backends[account][region].secrets.get(secret_id)
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
        # A new secret's ARN ends in a random suffix; its name is known.
        arn = _arn(region, account, "secretsmanager", f"secret:{secret_id}-xxxxxx", partition)
    extra["secretsmanager:SecretId"] = arn
    if operation == "CreateSecret":
        extra["secretsmanager:Name"] = secret_id
        tags = param("Tags") or []
        for tag in tags:
            extra[f"aws:RequestTag/{tag.get('Key')}"] = tag.get("Value")
        if tags:
            extra["aws:TagKeys"] = [t.get("Key") for t in tags]
    return arn, extra


def _states(operation: str, param: Params, region: str, account: str, partition: str):
    for key in ("executionArn", "stateMachineArn"):
        value = param(key)
        if value:
            return value, {}
    return None


def _events(operation: str, param: Params, region: str, account: str, partition: str):
    if operation == "PutEvents":
        buses = {(e.get("EventBusName") or "default") for e in (param("Entries") or [])}
        if len(buses) != 1:
            return None
        bus = buses.pop()
    else:
        bus = param("EventBusName") or param("Name")
    return _named(bus, "events", "event-bus/", region, account, partition)


def _sts(operation: str, param: Params, region: str, account: str, partition: str):
    role = param("RoleArn")
    return (role, {}) if role else None


_BUILDERS: dict[str, Callable[..., Any]] = {
    "dynamodb": _dynamodb,
    "cognito-idp": _cognito_idp,
    "cognito-identity": _cognito_identity,
    "iam": _iam,
    "secretsmanager": _secretsmanager,
    "states": _states,
    "events": _events,
    "sts": _sts,
}


def secondary(service: str, operation: str, param: Params, headers: Any, region: str, account: str, partition: str = "aws") -> list[Check]:
    """Further authorizations a request needs beyond its own action."""
    checks: list[Check] = []
    if service == "cognito-identity" and operation == "SetIdentityPoolRoles":
        roles = set((param("Roles") or {}).values())
        for mapping in (param("RoleMappings") or {}).values():
            for rule in ((mapping or {}).get("RulesConfiguration") or {}).get("Rules") or []:
                if rule.get("RoleARN"):
                    roles.add(rule["RoleARN"])
        for role in sorted(roles):
            checks.append(Check("iam:PassRole", role, {"iam:PassedToService": COGNITO_IDENTITY_SERVICE}))
    if service == "cognito-idp" and operation in ("CreateGroup", "UpdateGroup") and param("RoleArn"):
        checks.append(Check("iam:PassRole", param("RoleArn"), {"iam:PassedToService": COGNITO_IDP_SERVICE}))
    if service == "s3":
        source = headers.get("x-amz-copy-source") if headers is not None else None
        if source:
            source = unquote(source).split("?versionId=")[0].lstrip("/")
            checks.append(Check("s3:GetObject", f"arn:{partition}:s3:::{source}"))
    return checks


def delete_objects_checks(bucket_arn: str, body: Any) -> list[Check]:
    """s3:DeleteObject on every key a DeleteObjects request names."""
    import html
    import re

    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else str(body or "")
    keys = [html.unescape(k) for k in re.findall(r"<Key>(.*?)</Key>", text, re.DOTALL)]
    bucket = bucket_arn.split(":::", 1)[-1].split("/", 1)[0]
    partition = bucket_arn.split(":")[1] if bucket_arn.startswith("arn:") else "aws"
    # No key: nothing to delete, but the request still needs the permission on the bucket's objects.
    return [Check("s3:DeleteObject", f"arn:{partition}:s3:::{bucket}/{key}") for key in keys] or [
        Check("s3:DeleteObject", f"arn:{partition}:s3:::{bucket}/*")
    ]
