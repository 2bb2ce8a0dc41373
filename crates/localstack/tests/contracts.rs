//! Contracts between `template.yaml` and the code, checked rather than trusted: the
//! permissions boundary the template deploys is the one the local stack creates from
//! `boundary_policy()`, by meaning (statement order, Sids and single-value shorthand
//! aside).

use std::collections::BTreeSet;

use serde_json::{Value as Json, json};
use serde_yaml::Value;
use tenant_domain::policy::{Deployment, abac_policy, boundary_policy};

const TEMPLATE: &str = include_str!("../../../template.yaml");

fn deployment() -> Deployment {
    Deployment {
        partition: "aws".into(),
        region: "eu-west-1".into(),
        account_id: "123456789012".into(),
        bucket: "tenant-bucket".into(),
        identity_pool_id: "eu-west-1:pool".into(),
    }
}

/// The template's intrinsics resolved the way CloudFormation would for `d`: only those a
/// boundary uses (`!Sub` over pseudo parameters and the bucket's ARN, `!GetAtt` of it).
fn resolve(v: &Value, d: &Deployment) -> Json {
    let bucket_arn = format!("arn:{}:s3:::{}", d.partition, d.bucket);
    match v {
        Value::Tagged(t) if t.tag == "!Sub" => {
            let s = t.value.as_str().expect("!Sub of a string");
            let out = s
                .replace("${AWS::Partition}", &d.partition)
                .replace("${AWS::Region}", &d.region)
                .replace("${AWS::AccountId}", &d.account_id)
                .replace("${TenantBucket.Arn}", &bucket_arn);
            assert!(!out.replace("${!", "").contains("${"), "unresolved substitution in {s}");
            // `${!name}` is CloudFormation's escape for a literal `${name}` (IAM policy variables).
            json!(out.replace("${!", "${"))
        }
        Value::Tagged(t) if t.tag == "!GetAtt" => {
            assert_eq!(t.value.as_str(), Some("TenantBucket.Arn"), "unexpected !GetAtt");
            json!(bucket_arn)
        }
        Value::Tagged(t) => panic!("intrinsic {} is not resolved here", t.tag),
        Value::Mapping(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().expect("string keys").to_string(), resolve(v, d)))
                .collect(),
        ),
        Value::Sequence(items) => Json::Array(items.iter().map(|i| resolve(i, d)).collect()),
        Value::String(s) => json!(s),
        Value::Bool(b) => json!(b),
        Value::Number(n) => serde_json::to_value(n).expect("number"),
        Value::Null => Json::Null,
    }
}

/// A value that may be one string or a list of them, as a set.
fn set(v: &Json) -> BTreeSet<String> {
    match v {
        Json::Array(items) => items.iter().map(|i| i.as_str().expect("string").to_string()).collect(),
        Json::String(s) => BTreeSet::from([s.clone()]),
        Json::Null => BTreeSet::new(),
        other => panic!("not a string or list: {other}"),
    }
}

/// A statement's meaning: effect, actions, resources and conditions (each condition key's
/// values as a set). The Sid is a label, not meaning.
type Meaning = (
    String,
    BTreeSet<String>,
    BTreeSet<String>,
    Vec<(String, String, BTreeSet<String>)>,
);

fn meaning(doc: &Json) -> BTreeSet<Meaning> {
    assert_eq!(doc["Version"], "2012-10-17");
    doc["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|s| {
            let mut conditions = vec![];
            for (op, keys) in s["Condition"].as_object().into_iter().flatten() {
                for (key, values) in keys.as_object().expect("condition keys") {
                    conditions.push((op.clone(), key.clone(), set(values)));
                }
            }
            conditions.sort();
            (
                s["Effect"].as_str().expect("effect").to_string(),
                set(&s["Action"]),
                set(&s["Resource"]),
                conditions,
            )
        })
        .collect()
}

fn template_boundary(d: &Deployment) -> Json {
    let template: Value = serde_yaml::from_str(TEMPLATE).expect("template.yaml parses");
    let boundary = &template["Resources"]["PermissionsBoundary"];
    assert_eq!(boundary["Type"].as_str(), Some("AWS::IAM::ManagedPolicy"));
    resolve(&boundary["Properties"]["PolicyDocument"], d)
}

#[test]
fn the_template_boundary_is_boundary_policy() {
    let d = deployment();
    let code: Json = serde_json::from_str(&boundary_policy(&d).to_json()).unwrap();
    assert_eq!(meaning(&template_boundary(&d)), meaning(&code));
}

/// Abac mode's shared role: the template's inline policy is `abac_policy()` (which the
/// domain tests hold to be each tenant's own policy once the tag is substituted), its
/// boundary is the tenants' boundary, and its trust adds only sts:TagSession.
#[test]
fn the_template_abac_role_is_abac_policy() {
    let d = deployment();
    let template: Value = serde_yaml::from_str(TEMPLATE).expect("template.yaml parses");
    let role = &template["Resources"]["TenantAbacRole"];
    assert_eq!(role["Type"].as_str(), Some("AWS::IAM::Role"));
    let props = &role["Properties"];
    let policies = props["Policies"].as_sequence().expect("inline policies");
    assert_eq!(policies.len(), 1, "one inline policy");
    let code: Json = serde_json::from_str(&abac_policy(&d).to_json()).unwrap();
    assert_eq!(meaning(&resolve(&policies[0]["PolicyDocument"], &d)), meaning(&code));
    match &props["PermissionsBoundary"] {
        Value::Tagged(t) => assert_eq!(
            (t.tag.to_string().as_str(), t.value.as_str()),
            ("!Ref", Some("PermissionsBoundary"))
        ),
        other => panic!("boundary {other:?}"),
    }
    let trust = &props["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        trust["Principal"]["Federated"].as_str(),
        Some("cognito-identity.amazonaws.com")
    );
    let actions: Vec<&str> = trust["Action"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert_eq!(actions, ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]);
    assert_eq!(
        trust["Condition"]["ForAnyValue:StringLike"]["cognito-identity.amazonaws.com:amr"].as_str(),
        Some("authenticated")
    );
}

/// The comparison sees a difference in any part: a widened resource, a dropped action,
/// a loosened condition.
#[test]
fn the_boundary_comparison_sees_each_kind_of_drift() {
    let d = deployment();
    let code: Json = serde_json::from_str(&boundary_policy(&d).to_json()).unwrap();
    let edits: [fn(&mut Json); 4] = [
        |doc| doc["Statement"][0]["Resource"] = json!("arn:aws:s3:::tenant-bucket/*"),
        |doc| {
            doc["Statement"][0]["Action"]
                .as_array_mut()
                .unwrap()
                .pop()
                .map(drop)
                .unwrap()
        },
        |doc| doc["Statement"][1]["Condition"]["StringLike"]["s3:prefix"] = json!("*"),
        |doc| doc["Statement"].as_array_mut().unwrap().pop().map(drop).unwrap(),
    ];
    for edit in edits {
        let mut drifted = template_boundary(&d);
        edit(&mut drifted);
        assert_ne!(meaning(&drifted), meaning(&code), "{drifted}");
    }
    // Labels and order are not meaning.
    let mut relabelled = template_boundary(&d);
    let statements = relabelled["Statement"].as_array_mut().unwrap();
    statements.reverse();
    statements[0]["Sid"] = json!("Renamed");
    assert_eq!(meaning(&relabelled), meaning(&code));
}

/// The quotas the Rust side knows (the bench's ceiling) are the ones the extension
/// enforces: every `RATE_QUOTAS` entry is in `ratelimit.QUOTAS` with the same rate, and
/// the extension has no other.
#[test]
fn the_rate_quotas_are_the_extensions() {
    let python = include_str!("../python/tenant_moto/ratelimit.py");
    let table = python
        .split_once("QUOTAS: dict")
        .and_then(|(_, rest)| rest.split_once("\n}"))
        .map(|(t, _)| t)
        .expect("ratelimit.py has a QUOTAS table");
    let entries: Vec<&str> = table.lines().filter(|l| l.trim_start().starts_with("(\"")).collect();
    assert_eq!(entries.len(), tenant_localstack::RATE_QUOTAS.len(), "{table}");
    for (service, operation, rate) in tenant_localstack::RATE_QUOTAS {
        let key = format!("(\"{service}\", \"{operation}\"):");
        let line = entries
            .iter()
            .find(|l| l.trim_start().starts_with(&key))
            .unwrap_or_else(|| panic!("{key} not in ratelimit.QUOTAS: {table}"));
        assert!(line.trim_end().ends_with(&format!(", {rate:.1}),")), "{line} vs {rate}");
    }
}

/// Every output that carries a `tenantctl` setting (its Description is the variable) is in
/// the template's header, which tells an operator what to export after `sam deploy`, and
/// the state machines' are the variables `tenantctl` reads.
#[test]
fn every_setting_output_is_in_the_header_and_read_by_tenantctl() {
    let doc: Value = serde_yaml::from_str(TEMPLATE).unwrap();
    let header: String = TEMPLATE
        .lines()
        .take_while(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut seen = vec![];
    for (key, output) in doc["Outputs"].as_mapping().unwrap() {
        let key = key.as_str().unwrap();
        let Some(var) = output["Description"].as_str().filter(|d| d.starts_with("TENANT_")) else {
            continue;
        };
        let line = header
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(var))
            .unwrap_or_else(|| panic!("{var} (output {key}) is not in the template's header"));
        assert!(line.contains(&format!("<- {key}")), "{line} should name output {key}");
        seen.push(var.to_string());
    }
    use tenant_steps::config::env;
    for var in [
        env::STATE_MACHINE_ARN,
        env::OFFBOARDING_STATE_MACHINE_ARN,
        env::ROLLOUT_STATE_MACHINE_ARN,
    ] {
        assert!(seen.iter().any(|s| s == var), "no output carries {var}");
    }
}
