//! Abac mode's deployment-level resources, checked by `audit`: the shared tenant role
//! (the identity pool's default authenticated role) and the principal tag map that turns
//! the ID token's `tenant_id` claim into the session's `tenant` tag. Either drifting
//! breaks every tenant at once, so they are findings of the deployment.

use anyhow::Context as _;
use serde_json::{Value, json};
use tenant_domain::mapping::role_name_of_arn;
use tenant_domain::names::INLINE_POLICY_NAME;
use tenant_domain::policy::{PRINCIPAL_TAG, trust_policy};
use tenant_domain::policy_compare::{decode_document, same_policy};

use crate::Ops;
use crate::audit::{Finding, Kind};

const WHO: &str = "(deployment)";

/// The tag map Abac mode needs, as the service returns it.
pub fn expected_tags() -> Value {
    json!({ PRINCIPAL_TAG: tenant_domain::claim::CLAIM })
}

/// Findings on the shared role and the tag map; empty when both are as the template says.
pub async fn shared_drift(ops: &Ops) -> anyhow::Result<Vec<Finding>> {
    let mut out = tag_map_drift(ops).await?;
    out.extend(shared_role_drift(ops).await?);
    Ok(out)
}

/// The user pool provider's principal tag map, as the identity pool has it.
pub struct TagMap {
    pub provider: String,
    /// Tag key → claim, as a JSON object (empty when none).
    pub tags: Value,
    pub use_defaults: bool,
}

impl TagMap {
    /// Exactly the tenant tag from the `tenant_id` claim, without the defaults.
    pub fn as_expected(&self) -> bool {
        self.tags == expected_tags() && !self.use_defaults
    }
}

/// Reads the tag map of the deployment's user pool provider (audit, migrate).
pub async fn tag_map(ops: &Ops) -> anyhow::Result<TagMap> {
    let s = &ops.ctx.settings;
    let provider = s.user_pool_provider();
    let got = ops
        .ctx
        .clients
        .identity
        .get_principal_tag_attribute_map()
        .identity_pool_id(&s.identity_pool_id)
        .identity_provider_name(&provider)
        .send()
        .await
        .context("cognito-identity GetPrincipalTagAttributeMap")?;
    let tags: serde_json::Map<String, Value> = got
        .principal_tags()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
        .unwrap_or_default();
    Ok(TagMap {
        provider,
        tags: Value::Object(tags),
        use_defaults: got.use_defaults() == Some(true),
    })
}

async fn tag_map_drift(ops: &Ops) -> anyhow::Result<Vec<Finding>> {
    let got = tag_map(ops).await?;
    let label = format!("principal tag map {}", got.provider);
    let mut out = vec![];
    if got.tags != expected_tags() {
        out.push(Finding::differs(
            WHO,
            &label,
            "principal tags",
            expected_tags(),
            got.tags.clone(),
        ));
    }
    // Defaults (username, client) would tag sessions with more than the tenant.
    if got.use_defaults {
        out.push(Finding::differs(WHO, &label, "use defaults", json!(false), json!(true)));
    }
    Ok(out)
}

async fn shared_role_drift(ops: &Ops) -> anyhow::Result<Vec<Finding>> {
    let s = &ops.ctx.settings;
    let c = &ops.ctx.clients;
    let roles = c
        .identity
        .get_identity_pool_roles()
        .identity_pool_id(&s.identity_pool_id)
        .send()
        .await
        .context("cognito-identity GetIdentityPoolRoles")?;
    let Some(arn) = roles.roles().and_then(|r| r.get("authenticated")).cloned() else {
        return Ok(vec![Finding::new(
            WHO,
            Kind::Missing,
            format!("identity pool {} authenticated role", s.identity_pool_id),
            "no default authenticated role: in Abac mode it is the shared tenant role, so nobody gets credentials",
        )]);
    };
    let name = role_name_of_arn(&arn).with_context(|| format!("{arn} is not a role ARN"))?;
    let label = format!("shared tenant role {name}");
    let mut out = vec![];
    let got = match c.iam.get_role().role_name(name).send().await {
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {
            return Ok(vec![Finding::new(WHO, Kind::Missing, label, "the role does not exist")]);
        }
        other => other.context("iam GetRole")?,
    };
    let role = got.role().context("GetRole returned no role")?;
    let boundary = role.permissions_boundary().and_then(|b| b.permissions_boundary_arn());
    if boundary != Some(s.boundary_arn.as_str()) {
        out.push(Finding::differs(
            WHO,
            &label,
            "permissions boundary",
            json!(s.boundary_arn),
            json!(boundary),
        ));
    }
    let expected = trust_policy(&s.identity_pool_id);
    let found = role.assume_role_policy_document().and_then(decode_document);
    if !found.as_ref().is_some_and(|f| same_policy(&expected, f)) {
        out.push(Finding::differs(
            WHO,
            &label,
            "trust policy",
            expected,
            found.unwrap_or(Value::Null),
        ));
    }
    let expected = s.shared_policy().to_value();
    let doc = c
        .iam
        .get_role_policy()
        .role_name(name)
        .policy_name(INLINE_POLICY_NAME)
        .send()
        .await;
    let plabel = format!("{label} inline policy {INLINE_POLICY_NAME}");
    match doc {
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {
            out.push(Finding::new(
                WHO,
                Kind::Missing,
                plabel,
                "the shared policy is not on the role",
            ));
        }
        Err(e) => return Err(e).context("iam GetRolePolicy"),
        Ok(doc) => {
            let found = decode_document(doc.policy_document());
            if !found.as_ref().is_some_and(|f| same_policy(&expected, f)) {
                out.push(Finding::differs(
                    WHO,
                    plabel,
                    "policy document",
                    expected,
                    found.unwrap_or(Value::Null),
                ));
            }
        }
    }
    Ok(out)
}
