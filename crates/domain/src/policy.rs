//! The IAM documents of a tenant role: trust, permissions and the permissions boundary.

use serde::Serialize;
use serde_json::{Value, json};

use crate::TenantId;

pub const COGNITO_IDENTITY: &str = "cognito-identity.amazonaws.com";

/// Where the tenant resources live; one per deployed stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub partition: String,
    pub region: String,
    pub account_id: String,
    pub bucket: String,
    pub identity_pool_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyDocument {
    #[serde(rename = "Version")]
    pub version: &'static str,
    #[serde(rename = "Statement")]
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    #[serde(rename = "Sid")]
    pub sid: String,
    #[serde(rename = "Effect")]
    pub effect: &'static str,
    #[serde(rename = "Action")]
    pub actions: Vec<String>,
    #[serde(rename = "Resource")]
    pub resources: Vec<String>,
    #[serde(rename = "Condition", skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
}

impl PolicyDocument {
    pub(crate) fn new(statements: Vec<Statement>) -> Self {
        PolicyDocument {
            version: "2012-10-17",
            statements,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("policy documents serialize")
    }

    /// The document as JSON, for comparing by meaning with one read back.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("policy documents serialize")
    }
}

pub const OBJECT_ACTIONS: &[&str] = &["s3:GetObject", "s3:PutObject", "s3:DeleteObject"];
pub const SECRET_ACTIONS: &[&str] = &["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"];

/// Only this identity pool's authenticated identities may assume a tenant role; which
/// tenant role an identity gets is decided by the pool's role mapping.
pub fn trust_policy(identity_pool_id: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "IdentityPoolAuthenticated",
            "Effect": "Allow",
            "Principal": { "Federated": COGNITO_IDENTITY },
            "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
            "Condition": {
                "StringEquals": { "cognito-identity.amazonaws.com:aud": identity_pool_id },
                "ForAnyValue:StringLike": { "cognito-identity.amazonaws.com:amr": "authenticated" }
            }
        }]
    })
}

/// The tenant role's inline policy under the default template: its own prefix and its
/// own secrets, nothing else. A deployment with its own template renders that instead
/// ([`crate::template::TenantTemplate`]).
pub fn tenant_policy(tenant: &TenantId, d: &Deployment) -> PolicyDocument {
    crate::template::TenantTemplate::default().render(tenant, d)
}

fn owned(actions: &[&str]) -> Vec<String> {
    actions.iter().map(|a| a.to_string()).collect()
}

/// The permissions boundary every tenant role is created with: whatever a tenant policy
/// says, the role can never reach beyond the tenants' namespace.
pub fn boundary_policy(d: &Deployment) -> PolicyDocument {
    PolicyDocument::new(vec![
        Statement {
            sid: "TenantObjectsOnly".into(),
            effect: "Allow",
            actions: owned(OBJECT_ACTIONS),
            resources: vec![format!("arn:{}:s3:::{}/tenants/*", d.partition, d.bucket)],
            condition: None,
        },
        Statement {
            sid: "ListTenantPrefixesOnly".into(),
            effect: "Allow",
            actions: owned(&["s3:ListBucket"]),
            resources: vec![format!("arn:{}:s3:::{}", d.partition, d.bucket)],
            condition: Some(json!({ "StringLike": { "s3:prefix": ["tenants/*"] } })),
        },
        Statement {
            sid: "TenantSecretsOnly".into(),
            effect: "Allow",
            actions: owned(SECRET_ACTIONS),
            resources: vec![format!(
                "arn:{}:secretsmanager:{}:{}:secret:tenants/*",
                d.partition, d.region, d.account_id
            )],
            condition: None,
        },
    ])
}

/// The IAM policy variable of the session tag the identity pool sets from the token's
/// `tenant_id` claim (Abac mode). Written without a default value (`${...,'x'}`): a
/// session without the tag must match no resource at all.
pub const TENANT_TAG_VARIABLE: &str = "${aws:PrincipalTag/tenant}";

/// The session tag of [`TENANT_TAG_VARIABLE`]: the identity pool's principal tag map is
/// exactly `{PRINCIPAL_TAG: claim::CLAIM}` in Abac mode.
pub const PRINCIPAL_TAG: &str = "tenant";

/// Abac mode's one shared tenant role policy: [`tenant_policy`] with the tenant id taken
/// from the session's `tenant` principal tag, so the same delimiters (`tenants/{id}/`)
/// keep `acme` away from `acme-labs`. Every statement also requires the tag to be
/// present, so a session without it is granted nothing even where a resource pattern
/// would still match once the variable is dropped.
pub fn abac_policy(d: &Deployment) -> PolicyDocument {
    crate::template::TenantTemplate::default().render_shared(d)
}

#[cfg(test)]
impl Deployment {
    /// The deployment the unit tests render for.
    pub(crate) fn example() -> Deployment {
        Deployment {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            bucket: "tenant-data".into(),
            identity_pool_id: "us-east-1:0000".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantNames;
    use crate::glob::matches;
    use crate::tenant_id::strategy::valid_id;
    use proptest::prelude::*;

    fn deployment() -> Deployment {
        Deployment::example()
    }

    /// Concrete resources and list prefixes that belong to `id`.
    fn resources_of(id: &str, d: &Deployment, key: &str, suffix: &str) -> (Vec<String>, Vec<String>) {
        (
            vec![
                format!("arn:aws:s3:::{}/tenants/{id}/{key}", d.bucket),
                format!(
                    "arn:aws:secretsmanager:{}:{}:secret:tenants/{id}/app-{suffix}",
                    d.region, d.account_id
                ),
            ],
            vec![format!("tenants/{id}/"), format!("tenants/{id}/{key}")],
        )
    }

    fn prefix_patterns(s: &Statement) -> Vec<String> {
        s.condition.as_ref().map_or(vec![], |c| {
            c["StringLike"]["s3:prefix"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        })
    }

    /// The policy as it was written in code before templates: the default template must
    /// render it byte for byte.
    fn legacy_tenant_policy(tenant: &TenantId, d: &Deployment) -> PolicyDocument {
        let names = TenantNames::new(tenant);
        let prefix = &names.prefix;
        PolicyDocument::new(vec![
            Statement {
                sid: "OwnPrefixObjects".into(),
                effect: "Allow",
                actions: owned(OBJECT_ACTIONS),
                resources: vec![format!("arn:{}:s3:::{}/{prefix}*", d.partition, d.bucket)],
                condition: None,
            },
            Statement {
                sid: "ListOwnPrefix".into(),
                effect: "Allow",
                actions: owned(&["s3:ListBucket"]),
                resources: vec![format!("arn:{}:s3:::{}", d.partition, d.bucket)],
                condition: Some(json!({ "StringLike": { "s3:prefix": [prefix.clone(), format!("{prefix}*")] } })),
            },
            Statement {
                sid: "OwnSecrets".into(),
                effect: "Allow",
                actions: owned(SECRET_ACTIONS),
                resources: vec![names.secret_arn_pattern(&d.partition, &d.region, &d.account_id)],
                condition: None,
            },
        ])
    }

    #[test]
    fn the_default_template_renders_the_policy_byte_for_byte() {
        let d = deployment();
        for id in ["acme", "acme-labs", "a-b-c"] {
            let t = TenantId::parse(id).unwrap();
            assert_eq!(tenant_policy(&t, &d).to_json(), legacy_tenant_policy(&t, &d).to_json());
        }
    }

    #[test]
    fn trust_is_bound_to_the_pool_and_authenticated_identities() {
        let t = trust_policy("us-east-1:abc");
        let st = &t["Statement"][0];
        assert_eq!(st["Principal"]["Federated"], COGNITO_IDENTITY);
        assert_eq!(
            st["Condition"]["StringEquals"]["cognito-identity.amazonaws.com:aud"],
            "us-east-1:abc"
        );
        assert_eq!(
            st["Condition"]["ForAnyValue:StringLike"]["cognito-identity.amazonaws.com:amr"],
            "authenticated"
        );
    }

    /// The document with the tag variable replaced by `tenant`, as IAM evaluates it for a
    /// session tagged `tenant=...`; `Null` conditions dropped (the tag is present).
    fn abac_for(tenant: &str, d: &Deployment) -> PolicyDocument {
        let mut p = abac_policy(d);
        for st in &mut p.statements {
            st.resources = st
                .resources
                .iter()
                .map(|r| r.replace(TENANT_TAG_VARIABLE, tenant))
                .collect();
            st.condition = st.condition.take().and_then(|c| {
                let mut c: Value = serde_json::from_str(&c.to_string().replace(TENANT_TAG_VARIABLE, tenant)).unwrap();
                let obj = c.as_object_mut().unwrap();
                assert_eq!(obj.remove("Null"), Some(json!({ "aws:PrincipalTag/tenant": "false" })));
                (!obj.is_empty()).then_some(c)
            });
        }
        p
    }

    #[test]
    fn the_abac_policy_needs_the_tag_and_has_no_default_value() {
        let text = abac_policy(&deployment()).to_json();
        assert!(text.contains("tenants/${aws:PrincipalTag/tenant}/*"), "{text}");
        // `${aws:PrincipalTag/tenant, 'x'}` would grant a tagless session tenant x's data.
        assert!(!text.contains("PrincipalTag/tenant,"), "{text}");
        for st in &abac_policy(&deployment()).statements {
            assert_eq!(
                st.condition.as_ref().unwrap()["Null"]["aws:PrincipalTag/tenant"],
                "false"
            );
        }
    }

    proptest! {
        /// For a session tagged with a tenant, the shared policy is exactly that tenant's
        /// Token/Rules-mode policy: same resources, same delimiters, same list prefixes.
        #[test]
        fn the_abac_policy_is_the_tenant_policy_of_the_tag(a in valid_id()) {
            let d = deployment();
            let tenant = tenant_policy(&TenantId::parse(&a).unwrap(), &d);
            let abac = abac_for(&a, &d);
            prop_assert_eq!(abac.statements.len(), tenant.statements.len());
            for (x, y) in abac.statements.iter().zip(&tenant.statements) {
                prop_assert_eq!(&x.actions, &y.actions);
                prop_assert_eq!(&x.resources, &y.resources);
                prop_assert_eq!(&x.condition, &y.condition);
            }
        }
    }

    #[test]
    fn tenant_policy_reaches_its_own_resources_only() {
        let d = deployment();
        let p = tenant_policy(&TenantId::parse("acme").unwrap(), &d);
        let json: Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(p.to_value(), json, "the document as a value is the document as text");
        assert_eq!(
            json["Statement"][0]["Resource"][0],
            "arn:aws:s3:::tenant-data/tenants/acme/*"
        );
        assert_eq!(
            json["Statement"][2]["Resource"][0],
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:tenants/acme/*"
        );
        let (own, own_prefixes) = resources_of("acme", &d, "x.txt", "AbCdEf");
        assert!(own.iter().any(|r| matches(&p.statements[0].resources[0], r)));
        assert!(own.iter().any(|r| matches(&p.statements[2].resources[0], r)));
        assert!(
            own_prefixes
                .iter()
                .all(|pre| prefix_patterns(&p.statements[1]).iter().any(|pat| matches(pat, pre)))
        );
        // Listing the bucket root (no prefix, or the bare `tenants/` prefix) is not allowed.
        assert!(
            !prefix_patterns(&p.statements[1])
                .iter()
                .any(|pat| matches(pat, "") || matches(pat, "tenants/"))
        );
    }

    proptest! {
        #[test]
        fn no_pattern_of_one_tenant_matches_another(a in valid_id(), b in valid_id(), key in "[a-zA-Z0-9/._-]{0,20}", suffix in "[a-zA-Z0-9]{6}") {
            prop_assume!(a != b);
            let d = deployment();
            let policy = tenant_policy(&TenantId::parse(&a).unwrap(), &d);
            let (theirs, their_prefixes) = resources_of(&b, &d, &key, &suffix);
            for st in &policy.statements {
                for pat in &st.resources {
                    if pat.ends_with(&format!(":::{}", d.bucket)) {
                        continue; // the bucket itself: guarded by the s3:prefix condition below
                    }
                    for r in &theirs {
                        prop_assert!(!matches(pat, r), "{pat} matches {r}");
                    }
                }
                for pat in prefix_patterns(st) {
                    for pre in &their_prefixes {
                        prop_assert!(!matches(&pat, pre), "{pat} matches prefix {pre}");
                    }
                }
            }
        }

        #[test]
        fn the_boundary_contains_every_tenant_resource(a in valid_id(), key in "[a-zA-Z0-9/._-]{0,20}") {
            let d = deployment();
            let boundary = boundary_policy(&d);
            let (own, prefixes) = resources_of(&a, &d, &key, "AbCdEf");
            for r in &own {
                prop_assert!(boundary.statements.iter().flat_map(|s| &s.resources).any(|p| matches(p, r)));
            }
            for pre in &prefixes {
                prop_assert!(prefix_patterns(&boundary.statements[1]).iter().any(|p| matches(p, pre)));
            }
        }
    }
}
