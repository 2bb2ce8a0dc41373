"""IAM policy evaluation: Action/NotAction, Resource/NotResource, Principal, Condition.

Pure functions, no moto imports. A request context is a dict whose keys are
condition-key names (matched case-insensitively) and whose values are a string or
a list of strings.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote

ALLOW = "Allow"
DENY = "Deny"
NEUTRAL = "Neutral"

_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class Context:
    """Request context with case-insensitive key lookup."""

    def __init__(self, values: Mapping[str, Any] | None = None):
        self._values: dict[str, Any] = {}
        for key, value in (values or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[key.lower()] = value

    def lookup(self, key: str) -> list[str] | None:
        """Values for key, or None when the key is absent from the context."""
        if key.lower() not in self._values:
            return None
        value = self._values[key.lower()]
        if value is None:
            return None
        if isinstance(value, (list, tuple, set)):
            return [_to_str(v) for v in value]
        return [_to_str(value)]

    def single(self, key: str) -> str | None:
        values = self.lookup(key)
        if values is None or len(values) != 1:
            return None
        return values[0]


def _to_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_document(document: Any) -> dict[str, Any]:
    """Parse a policy document given as dict, JSON text or URL-encoded JSON text."""
    if isinstance(document, dict):
        return document
    text = str(document)
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(unquote(text))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


# --------------------------------------------------------------------------- globs


def _glob_regex(
    pattern: str, ctx: Context | None, variables: bool, ignore_case: bool
) -> re.Pattern[str] | None:
    """Regex for an IAM pattern with * and ? wildcards and optional ${var} variables.

    Returns None when a policy variable cannot be resolved (the element cannot match).
    """
    segments = _segments(pattern, ctx) if variables else [(pattern, False)]
    if segments is None:
        return None
    parts = [re.escape(text) if resolved else _wild(text) for text, resolved in segments]
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("^" + "".join(parts) + "$", flags)


def _wild(text: str) -> str:
    return "".join(
        ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in text
    )


def glob_match(
    pattern: str,
    value: str,
    ctx: Context | None = None,
    variables: bool = False,
    ignore_case: bool = False,
) -> bool:
    regex = _glob_regex(pattern, ctx, variables, ignore_case)
    return regex is not None and regex.match(value) is not None


def arn_match(
    pattern: str, value: str, ctx: Context | None = None, variables: bool = False
) -> bool:
    """IAM resource matching: each ARN segment separately, case-sensitive."""
    if pattern == "*":
        return True
    pattern_parts = pattern.split(":", 5)
    value_parts = value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return glob_match(pattern, value, ctx, variables)
    return all(
        glob_match(p, v, ctx, variables) for p, v in zip(pattern_parts, value_parts)
    )


def action_match(pattern: str, action: str) -> bool:
    return glob_match(pattern, action, ignore_case=True)


# ---------------------------------------------------------------------- conditions


def _num(value: str) -> float:
    return float(value)


def _date(value: str) -> float:
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def _ip(context_value: str, policy_value: str) -> bool:
    return ipaddress.ip_address(context_value) in ipaddress.ip_network(
        policy_value, strict=False
    )


# operator -> (matches(context_value, policy_value, ctx, variables), negated)
Matcher = Callable[[str, str, Context, bool], bool]

_OPERATORS: dict[str, tuple[Matcher, bool]] = {}


def _register(names: Iterable[str], matcher: Matcher, negated: bool) -> None:
    for name in names:
        _OPERATORS[name.lower()] = (matcher, negated)


def _segments(pattern: str, ctx: Context | None) -> list[tuple[str, bool]] | None:
    """The pattern as pieces: its own text (False) and the values of its ${var} policy
    variables (True; ${*}, ${?}, ${$} stand for the character). None when a variable has
    no value and no default."""
    out: list[tuple[str, bool]] = []
    pos = 0
    for match in _VARIABLE.finditer(pattern):
        out.append((pattern[pos : match.start()], False))
        name = match.group(1).strip()
        default = None
        if "," in name:
            name, _, default_part = name.partition(",")
            name = name.strip()
            default = default_part.strip().strip("'\"")
        if name in ("*", "?", "$"):
            value: str | None = name
        else:
            value = ctx.single(name) if ctx is not None else None
            if value is None:
                value = default
            if value is None:
                return None
        out.append((value, True))
        pos = match.end()
    out.append((pattern[pos:], False))
    return out


def resolve_variables(pattern: str, ctx: Context | None) -> str | None:
    """Substitute ${var} policy variables literally; None if one cannot be resolved."""
    segments = _segments(pattern, ctx)
    return None if segments is None else "".join(text for text, _ in segments)


def _string_equals(c: str, p: str, ctx: Context, v: bool) -> bool:
    resolved = resolve_variables(p, ctx) if v else p
    return resolved is not None and c == resolved


def _string_equals_ic(c: str, p: str, ctx: Context, v: bool) -> bool:
    resolved = resolve_variables(p, ctx) if v else p
    return resolved is not None and c.lower() == resolved.lower()


_register(["StringEquals"], _string_equals, False)
_register(["StringNotEquals"], _string_equals, True)
_register(["StringEqualsIgnoreCase"], _string_equals_ic, False)
_register(["StringNotEqualsIgnoreCase"], _string_equals_ic, True)
_register(["StringLike"], lambda c, p, ctx, v: glob_match(p, c, ctx, v), False)
_register(["StringNotLike"], lambda c, p, ctx, v: glob_match(p, c, ctx, v), True)
_register(
    ["ArnEquals", "ArnLike"], lambda c, p, ctx, v: arn_match(p, c, ctx, v), False
)
_register(
    ["ArnNotEquals", "ArnNotLike"], lambda c, p, ctx, v: arn_match(p, c, ctx, v), True
)
_register(["NumericEquals"], lambda c, p, *_: _num(c) == _num(p), False)
_register(["NumericNotEquals"], lambda c, p, *_: _num(c) == _num(p), True)
_register(["NumericLessThan"], lambda c, p, *_: _num(c) < _num(p), False)
_register(["NumericLessThanEquals"], lambda c, p, *_: _num(c) <= _num(p), False)
_register(["NumericGreaterThan"], lambda c, p, *_: _num(c) > _num(p), False)
_register(["NumericGreaterThanEquals"], lambda c, p, *_: _num(c) >= _num(p), False)
_register(["DateEquals"], lambda c, p, *_: _date(c) == _date(p), False)
_register(["DateNotEquals"], lambda c, p, *_: _date(c) == _date(p), True)
_register(["DateLessThan"], lambda c, p, *_: _date(c) < _date(p), False)
_register(["DateLessThanEquals"], lambda c, p, *_: _date(c) <= _date(p), False)
_register(["DateGreaterThan"], lambda c, p, *_: _date(c) > _date(p), False)
_register(["DateGreaterThanEquals"], lambda c, p, *_: _date(c) >= _date(p), False)
_register(["Bool"], lambda c, p, *_: c.lower() == p.lower(), False)
_register(["BinaryEquals"], lambda c, p, *_: c == p, False)
_register(["IpAddress"], lambda c, p, *_: _ip(c, p), False)
_register(["NotIpAddress"], lambda c, p, *_: _ip(c, p), True)


def _safe(matcher: Matcher, c: str, p: str, ctx: Context, v: bool) -> bool:
    try:
        return matcher(c, p, ctx, v)
    except (ValueError, TypeError):
        return False


def condition_holds(condition: Mapping[str, Any] | None, ctx: Context, variables: bool = True) -> bool:
    """Whether a statement's Condition block holds: operators AND, keys AND, values OR/NOR."""
    if not condition:
        return True
    for operator, keys in condition.items():
        if not isinstance(keys, Mapping):
            return False
        for key, policy_values in keys.items():
            if not _key_holds(operator, key, _as_list(policy_values), ctx, variables):
                return False
    return True


def _key_holds(
    operator: str, key: str, policy_values: list[Any], ctx: Context, variables: bool
) -> bool:
    qualifier = None
    op = operator
    if op.lower().startswith("foranyvalue:"):
        qualifier, op = "any", op.split(":", 1)[1]
    elif op.lower().startswith("forallvalues:"):
        qualifier, op = "all", op.split(":", 1)[1]
    if_exists = False
    if op.lower().endswith("ifexists"):
        if_exists, op = True, op[: -len("IfExists")]

    context_values = ctx.lookup(key)
    policy_strings = [_to_str(p) for p in policy_values]

    if op.lower() == "null":
        want_absent = any(p.lower() == "true" for p in policy_strings)
        absent = context_values is None or len(context_values) == 0
        return absent == want_absent

    entry = _OPERATORS.get(op.lower())
    if entry is None:
        return False  # unknown operator: fail closed
    matcher, negated = entry

    if context_values is None or len(context_values) == 0:
        if if_exists:
            return True
        if qualifier == "all":
            return True
        if qualifier == "any":
            return False
        return negated

    def matches_any_policy_value(c: str) -> bool:
        return any(_safe(matcher, c, p, ctx, variables) for p in policy_strings)

    if qualifier == "all":
        if negated:
            return all(not matches_any_policy_value(c) for c in context_values)
        return all(matches_any_policy_value(c) for c in context_values)
    if qualifier == "any":
        if negated:
            return any(not matches_any_policy_value(c) for c in context_values)
        return any(matches_any_policy_value(c) for c in context_values)
    # unqualified: positive operators match if any value matches; negated if none does
    if negated:
        return not any(matches_any_policy_value(c) for c in context_values)
    return any(matches_any_policy_value(c) for c in context_values)


# ---------------------------------------------------------------------- statements


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def evaluate(
    document: Any,
    action: str,
    resource: str,
    ctx: Context,
    principal_matches: Callable[[Any], bool] | None = None,
) -> str:
    """ALLOW, DENY (explicit) or NEUTRAL for one policy document.

    principal_matches is used for trust policies: a statement applies only if it
    returns True for the statement's Principal (NotPrincipal is not supported and
    never applies).
    """
    doc = load_document(document)
    variables = doc.get("Version") == "2012-10-17"
    allowed = False
    for statement in _statements(doc):
        if not _statement_applies(statement, action, resource, ctx, principal_matches, variables):
            continue
        if statement.get("Effect") == "Deny":
            return DENY
        if statement.get("Effect") == "Allow":
            allowed = True
    return ALLOW if allowed else NEUTRAL


def _statement_applies(
    statement: Mapping[str, Any],
    action: str,
    resource: str,
    ctx: Context,
    principal_matches: Callable[[Any], bool] | None,
    variables: bool,
) -> bool:
    if principal_matches is not None:
        if "NotPrincipal" in statement or not principal_matches(statement.get("Principal")):
            return False
    if "NotAction" in statement:
        if any(action_match(p, action) for p in _as_list(statement["NotAction"])):
            return False
    elif not any(action_match(p, action) for p in _as_list(statement.get("Action"))):
        return False
    if "NotResource" in statement:
        if any(arn_match(p, resource, ctx, variables) for p in _as_list(statement["NotResource"])):
            return False
    elif "Resource" in statement:
        if not any(arn_match(p, resource, ctx, variables) for p in _as_list(statement["Resource"])):
            return False
    elif principal_matches is None:
        return False  # identity policy statements need a Resource
    return condition_holds(statement.get("Condition"), ctx, variables)


def federated_principal(name: str) -> Callable[[Any], bool]:
    """Principal matcher for a trust policy evaluated for a federated (web identity) caller."""

    def matches(principal: Any) -> bool:
        if principal == "*":
            return True
        if not isinstance(principal, Mapping):
            return False
        if "*" in _as_list(principal.get("AWS")):
            return True
        return name in _as_list(principal.get("Federated"))

    return matches
