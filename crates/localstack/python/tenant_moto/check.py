"""Static check of policy documents against the IAM Service Authorization Reference.

    python -m tenant_moto.check [--template template.yaml] [--document NAME=FILE.json ...]

For every grant (statement x action x resource): the action exists; an action without
a resource type is granted on "*" only, with one of the reference's condition keys where
the action offers one; a scoped resource fits one of the action's ARN formats (a grant
that fits none never matches in AWS); every condition key is one the action supports or a
global key. Prints "N grants checked, M findings" and exits 1 on any finding.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import reference as reference_mod
from . import template as template_mod


@dataclass
class Result:
    grants: int
    findings: list[str]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _condition_keys(condition: Any) -> list[str]:
    keys = []
    for _operator, entries in (condition or {}).items():
        if isinstance(entries, dict):
            keys.extend(entries.keys())
    return keys


def _sample(resource: str) -> str:
    """A concrete ARN the pattern matches (wildcards filled), for fitting ARN formats."""
    return resource.replace("*", "x").replace("?", "x")


def check_document(ref: reference_mod.Reference, owner: str, document: Any) -> Result:
    if isinstance(document, str):
        document = json.loads(document)
    findings: list[str] = []
    grants = 0
    for index, statement in enumerate(_as_list(document.get("Statement"))):
        where = f"{owner} statement {statement.get('Sid') or index}"
        if "NotAction" in statement or "NotResource" in statement:
            findings.append(f"{where}: NotAction/NotResource cannot be checked against the reference")
            continue
        is_trust = "Principal" in statement
        resources = [str(r) for r in _as_list(statement.get("Resource"))]
        if not resources and not is_trust:
            findings.append(f"{where}: no Resource")
            continue
        keys = _condition_keys(statement.get("Condition"))
        patterns = [str(a) for a in _as_list(statement.get("Action"))]
        # In a trust policy, sts:TagSession is authorized within the AssumeRole* request,
        # whose context carries the identity provider's keys (aud, amr): a key any of the
        # statement's actions supports is present for all of them.
        trust_actions = [a for p in patterns for a in ref.matching(p)] if is_trust else []
        for pattern in patterns:
            actions = ref.matching(pattern)
            if not actions:
                grants += 1
                findings.append(f"{where}: {pattern} is not an action of the reference")
                continue
            for action in actions:
                for key in keys:
                    supported = ref.supports_key(action, key) or any(ref.supports_key(a, key) for a in trust_actions)
                    if not supported:
                        findings.append(
                            f"{where}: {action.full_name} does not support condition key {key} "
                            f"(the condition never holds in AWS)"
                        )
                if is_trust:
                    grants += 1
                    continue
                for resource in resources:
                    grants += 1
                    findings.extend(_resource_findings(where, action, resource, keys))
    return Result(grants, findings)


def _resource_findings(where: str, action: reference_mod.Action, resource: str, keys: list[str]) -> Iterable[str]:
    if not action.resource_types:
        if resource != "*":
            yield (
                f"{where}: {action.full_name} has no resource type, so it is authorized on \"*\" "
                f"and a grant on {resource} never matches"
            )
            return
        offered = action.service_condition_keys()
        used = {k.lower() for k in keys}
        if offered and not used & {k.lower() for k in offered}:
            yield f"{where}: {action.full_name} on \"*\" without a condition; the reference offers {', '.join(offered)}"
        return
    if resource == "*":
        yield f"{where}: {action.full_name} has resource types ({', '.join(rt.name for rt in action.resource_types)}) but is granted on \"*\""
        return
    sample = _sample(resource)
    if not any(rt.fits(sample) for rt in action.resource_types):
        formats = "; ".join(rt.arn for rt in action.resource_types)
        yield f"{where}: {action.full_name} on {resource} fits none of its ARN formats ({formats})"


def check_template(ref: reference_mod.Reference, text: str) -> Result:
    template = template_mod.load(text)
    values = template_mod.sample_values(template)
    total = Result(0, [])
    for doc in template_mod.documents(template, values):
        result = check_document(ref, doc.owner, doc.document)
        total.grants += result.grants
        total.findings.extend(result.findings)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tenant_moto.check")
    parser.add_argument("--template", type=Path, help="a SAM template (template.yaml)")
    parser.add_argument("--document", action="append", default=[], metavar="NAME=FILE", help="a JSON policy document")
    args = parser.parse_args(argv)
    ref = reference_mod.load(None)
    total = Result(0, [])
    sources = 0
    if args.template:
        result = check_template(ref, args.template.read_text())
        total.grants += result.grants
        total.findings.extend(result.findings)
        sources += 1
    for entry in args.document:
        name, _, path = entry.partition("=")
        result = check_document(ref, name, json.loads(Path(path).read_text()))
        total.grants += result.grants
        total.findings.extend(result.findings)
        sources += 1
    for finding in total.findings:
        print(f"finding: {finding}")
    print(
        f"IAM reference check ({reference_mod.version()}): {total.grants} grants checked, "
        f"{len(total.findings)} findings"
    )
    return 1 if total.findings or sources == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
