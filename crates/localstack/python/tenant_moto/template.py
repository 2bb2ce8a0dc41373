"""template.yaml as data: every IAM policy document it deploys, rendered with concrete names.

CloudFormation's intrinsic functions that the template uses in policies (Ref, GetAtt,
Sub, Join, Select, Split) are resolved from a table of per-resource values: sample values
for the static check, the local stack's real names when it creates the function roles.
SAM's LambdaInvokePolicy template expands as SAM expands it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

PARTITION, REGION, ACCOUNT = "aws", "us-east-1", "123456789012"


class _Tag:
    def __init__(self, name: str, value: Any):
        self.name, self.value = name, value


class _Loader(yaml.SafeLoader):
    pass


def _construct(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> _Tag:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return _Tag(tag_suffix, value)


_Loader.add_multi_constructor("!", _construct)


def load(text: str) -> dict[str, Any]:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass


@dataclass
class Values:
    """Ref and GetAtt values per logical id, plus pseudo parameters."""

    refs: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, dict[str, str]] = field(default_factory=dict)
    partition: str = PARTITION
    region: str = REGION
    account: str = ACCOUNT

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Partition": self.partition,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::StackName": "tenant-onboarding",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name not in self.refs:
            raise KeyError(f"no value for Ref {name}")
        return self.refs[name]

    def get_att(self, name: str, attr: str) -> str:
        try:
            return self.attrs[name][attr]
        except KeyError:
            raise KeyError(f"no value for GetAtt {name}.{attr}") from None


def sample_values(template: dict[str, Any], overrides: dict[str, dict[str, str]] | None = None) -> Values:
    """Plausible names for every resource, in the shape CloudFormation returns them."""
    v = Values()
    p, r, a = v.partition, v.region, v.account
    for name, resource in (template.get("Resources") or {}).items():
        kind = resource.get("Type", "")
        low = name.lower()
        if kind == "AWS::DynamoDB::Table":
            v.refs[name] = name
            v.attrs[name] = {"Arn": f"arn:{p}:dynamodb:{r}:{a}:table/{name}"}
        elif kind == "AWS::S3::Bucket":
            v.refs[name] = low
            v.attrs[name] = {"Arn": f"arn:{p}:s3:::{low}"}
        elif kind == "AWS::Cognito::UserPool":
            pool = f"{r}_Example01"
            v.refs[name] = pool
            v.attrs[name] = {
                "Arn": f"arn:{p}:cognito-idp:{r}:{a}:userpool/{pool}",
                "ProviderName": f"cognito-idp.{r}.amazonaws.com/{pool}",
            }
        elif kind == "AWS::Cognito::UserPoolClient":
            v.refs[name] = "exampleclientid"
        elif kind == "AWS::Cognito::IdentityPool":
            v.refs[name] = f"{r}:00000000-0000-4000-8000-000000000000"
        elif kind == "AWS::IAM::Role":
            v.refs[name] = name
            v.attrs[name] = {"Arn": f"arn:{p}:iam::{a}:role/{name}"}
        elif kind == "AWS::IAM::ManagedPolicy":
            v.refs[name] = f"arn:{p}:iam::{a}:policy/{name}"
        elif kind == "AWS::Events::EventBus":
            v.refs[name] = name
            v.attrs[name] = {"Arn": f"arn:{p}:events:{r}:{a}:event-bus/{name}", "Name": name}
        elif kind == "AWS::Serverless::Function":
            v.refs[name] = name
            v.attrs[name] = {"Arn": f"arn:{p}:lambda:{r}:{a}:function:{name}"}
        elif kind == "AWS::Serverless::StateMachine":
            v.refs[name] = f"arn:{p}:states:{r}:{a}:stateMachine:{name}"
            v.attrs[name] = {"Arn": v.refs[name], "Name": name}
        elif kind == "AWS::Logs::LogGroup":
            v.refs[name] = f"/aws/vendedlogs/states/{low}"
            v.attrs[name] = {"Arn": f"arn:{p}:logs:{r}:{a}:log-group:{v.refs[name]}:*"}
        else:
            v.refs[name] = name
    for name, param in (template.get("Parameters") or {}).items():
        v.refs[name] = str(param.get("Default", name))
    for name, entries in (overrides or {}).items():
        if "Ref" in entries:
            v.refs[name] = entries["Ref"]
        v.attrs.setdefault(name, {}).update({k: x for k, x in entries.items() if k != "Ref"})
    return v


_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


def resolve(node: Any, values: Values) -> Any:
    """The node with every intrinsic function replaced by its value."""
    if isinstance(node, _Tag):
        return _intrinsic(node.name, node.value, values)
    if isinstance(node, dict):
        if len(node) == 1:
            (key, value), = node.items()
            if key == "Ref" or key.startswith("Fn::"):
                return _intrinsic(key.removeprefix("Fn::"), value, values)
        return {k: resolve(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, values) for v in node]
    return node


def _intrinsic(name: str, value: Any, values: Values) -> Any:
    if name == "Ref":
        return values.ref(resolve(value, values))
    if name == "GetAtt":
        if isinstance(value, str):
            logical, _, attr = value.partition(".")
        else:
            logical, attr = resolve(value, values)
        return values.get_att(logical, attr)
    if name == "Sub":
        text, local = (value, {}) if isinstance(value, str) else (value[0], resolve(value[1], values))

        def sub(m: re.Match[str]) -> str:
            key = m.group(1)
            if key in local:
                return str(local[key])
            if "." in key and not key.startswith("AWS::"):
                logical, _, attr = key.partition(".")
                return values.get_att(logical, attr)
            return values.ref(key)

        # `${!name}` is CloudFormation's escape for a literal `${name}` (IAM policy variables).
        return _SUB.sub(sub, text).replace("${!", "${")
    if name == "Join":
        sep, items = value
        return sep.join(str(i) for i in resolve(items, values))
    if name == "Select":
        index, items = resolve(value, values)
        return items[int(index)]
    if name == "Split":
        sep, text = resolve(value, values)
        return text.split(sep)
    raise ValueError(f"intrinsic function {name} is not supported in policies")


@dataclass
class Document:
    """One policy document the template deploys."""

    owner: str  # e.g. "CreateRoleFunction (role)"
    kind: str  # identity | trust | boundary | managed
    document: dict[str, Any]


def _lambda_invoke(function: str, values: Values) -> dict[str, Any]:
    arn = f"arn:{values.partition}:lambda:{values.region}:{values.account}:function:{function}"
    return {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": [arn, f"{arn}:*"]}


def _sam_policies(owner: str, policies: list[Any], values: Values) -> list[Document]:
    statements: list[Any] = []
    for policy in policies or []:
        if isinstance(policy, dict) and "Statement" in policy:
            body = resolve(policy["Statement"], values)
            statements.extend(body if isinstance(body, list) else [body])
        elif isinstance(policy, dict) and "LambdaInvokePolicy" in policy:
            function = resolve(policy["LambdaInvokePolicy"]["FunctionName"], values)
            statements.append(_lambda_invoke(function, values))
        else:
            raise ValueError(f"{owner}: policy {policy!r} is neither a statement list nor LambdaInvokePolicy")
    return [Document(owner, "identity", {"Version": "2012-10-17", "Statement": statements})]


def documents(template: dict[str, Any], values: Values) -> list[Document]:
    """Every identity, trust, boundary and managed policy document of the template."""
    out: list[Document] = []
    resources = template.get("Resources") or {}
    for name, resource in resources.items():
        kind = resource.get("Type", "")
        props = resource.get("Properties") or {}
        if kind in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            out.extend(_sam_policies(f"{name} (role)", props.get("Policies") or [], values))
        elif kind == "AWS::IAM::Role":
            out.append(Document(f"{name} (trust)", "trust", resolve(props["AssumeRolePolicyDocument"], values)))
            for policy in props.get("Policies") or []:
                out.append(Document(f"{name} ({policy.get('PolicyName')})", "identity", resolve(policy["PolicyDocument"], values)))
        elif kind == "AWS::IAM::ManagedPolicy":
            out.append(Document(name, "managed", resolve(props["PolicyDocument"], values)))
    return out


@dataclass
class Function:
    """A function of the template with its rendered role policy and environment."""

    logical_id: str
    handler: str  # TENANT_STEP, or TENANT_SIGNUP_HANDLER for the signup binary
    binary: str
    statements: list[Any]
    environment: dict[str, str]


def functions(template: dict[str, Any], values: Values) -> list[Function]:
    out = []
    globals_env = ((template.get("Globals") or {}).get("Function") or {}).get("Environment", {}).get("Variables", {}) or {}
    for name, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        own = (props.get("Environment") or {}).get("Variables") or {}
        env: dict[str, str] = {}
        for key, value in {**globals_env, **own}.items():
            try:
                env[key] = str(resolve(value, values))
            except (KeyError, ValueError):
                continue
        binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary", "")
        handler = env.get("TENANT_STEP") or env.get("TENANT_SIGNUP_HANDLER") or ""
        (doc,) = _sam_policies(name, props.get("Policies") or [], values)
        out.append(Function(name, handler, binary, doc.document["Statement"], env))
    return out


def local_values(template: dict[str, Any], by_type: dict[str, dict[str, str]], account: str, region: str) -> Values:
    """Values for a running local stack: every resource of a type the stack created
    (one per type, e.g. the table, the bucket, the pools) takes that resource's values,
    unless the stack gives its logical id values of its own (the two state machines);
    the rest keep sample values."""
    overrides = {}
    for name, resource in (template.get("Resources") or {}).items():
        values = by_type.get(name) or by_type.get(resource.get("Type", ""))
        if values:
            overrides[name] = values
    values = sample_values(template, overrides)
    values.account, values.region = account, region
    return values


def _main(argv: list[str] | None = None) -> int:
    """python -m tenant_moto.template --template PATH --local JSON

    Prints, as JSON, each function's handler (TENANT_STEP or TENANT_SIGNUP_HANDLER) and its
    role's policy document, and each managed policy's document by logical id, rendered
    with the local stack's names."""
    import argparse
    import json
    import sys
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m tenant_moto.template")
    parser.add_argument("--template", type=Path, required=True)
    parser.add_argument("--local", required=True, help="JSON: resource type -> {Ref, Arn, ...}")
    parser.add_argument("--account", default=ACCOUNT)
    parser.add_argument("--region", default=REGION)
    args = parser.parse_args(argv)
    template = load(args.template.read_text())
    values = local_values(template, json.loads(args.local), args.account, args.region)
    out = {
        "functions": [
            {
                "logical_id": f.logical_id,
                "handler": f.handler,
                "binary": f.binary,
                "policy": {"Version": "2012-10-17", "Statement": f.statements},
            }
            for f in functions(template, values)
        ],
        "managed_policies": {d.owner: d.document for d in documents(template, values) if d.kind == "managed"},
    }
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
