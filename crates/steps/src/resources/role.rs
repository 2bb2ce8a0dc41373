//! The tenant's IAM role: the only credentials a tenant user gets, bounded by the
//! deployment's permissions boundary and granting the tenant's own secret and prefix.

use aws_sdk_iam::types::Tag as IamTag;
use serde::Serialize;
use serde_json::{Value, json};
use tenant_domain::names::{INLINE_POLICY_NAME, TAG_KEY};
use tenant_domain::policy::trust_policy;
use tenant_domain::{MappingType, TenantId, TenantNames};
use tracing::info;

use super::{Drift, DriftKind, Observation, Resource, Row, TenantResource, judge_found, not_found_row};
use crate::error::classify;
use crate::ownership::require_tenant_tag;
use crate::{Context, Settings, StepError, StepInput};

pub struct Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleExpected {
    pub boundary: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleObserved {
    pub arn: String,
    pub boundary: Option<String>,
    /// Whether the inline tenant policy is attached.
    pub inline_policy: bool,
}

impl TenantResource for Role {
    /// Only modes with a per-tenant role have it; Abac's shared role is the deployment's.
    fn applies(mode: MappingType) -> bool {
        mode.has_tenant_role()
    }

    type Expected = RoleExpected;

    fn expected(_tenant: &TenantId, settings: &Settings) -> RoleExpected {
        RoleExpected {
            boundary: settings.boundary_arn.clone(),
        }
    }

    fn judge(name: &str, expected: &RoleExpected, observed: &Observation<RoleObserved>) -> Vec<Drift> {
        judge_found(Resource::Role, name, observed, |o| {
            let mut out = vec![];
            if o.boundary.as_deref() != Some(expected.boundary.as_str()) {
                out.push(Drift::differs(
                    Resource::Role,
                    format!("role {name} boundary"),
                    &expected.boundary,
                    o.boundary.as_deref().unwrap_or("none"),
                ));
            }
            if !o.inline_policy {
                out.push(Drift::new(
                    Resource::Role,
                    DriftKind::Missing,
                    format!("role {name} inline policy {INLINE_POLICY_NAME}"),
                    "the tenant policy is not on the role",
                ));
            }
            out
        })
    }

    type Observed = RoleObserved;

    fn name(tenant: &TenantId, _settings: &Settings) -> String {
        TenantNames::new(tenant).role_name
    }

    async fn create(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
        create_role(ctx, input).await
    }

    async fn delete(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
        delete_role(ctx, input).await
    }

    async fn inspect(ctx: &Context, tenant: &TenantId) -> Observation<RoleObserved> {
        let names = TenantNames::new(tenant);
        let iam = &ctx.clients.iam;
        let role = match iam.get_role().role_name(&names.role_name).send().await {
            Ok(out) => match out.role() {
                Some(r) => r.clone(),
                None => return Observation::Absent(format!("GetRole returned no role {}", names.role_name)),
            },
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {
                return Observation::Absent(format!("no role {}", names.role_name));
            }
            Err(e) => return Observation::unavailable(&classify("iam", "GetRole", &e)),
        };
        let inline_policy = match iam
            .get_role_policy()
            .role_name(&names.role_name)
            .policy_name(INLINE_POLICY_NAME)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => false,
            Err(e) => return Observation::unavailable(&classify("iam", "GetRolePolicy", &e)),
        };
        Observation::Found(RoleObserved {
            arn: role.arn().to_string(),
            boundary: role
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_string),
            inline_policy,
        })
    }

    fn present(observed: &RoleObserved) -> Vec<&'static str> {
        if observed.inline_policy {
            vec!["role", "role policy"]
        } else {
            vec!["role"]
        }
    }

    /// A role without its policy grants nothing: the tenant's users are locked out.
    fn unusable(observed: &RoleObserved) -> bool {
        !observed.inline_policy
    }

    fn rows(name: &str, observed: &Observation<RoleObserved>) -> Vec<Row> {
        if let Some(row) = not_found_row("role", name, observed) {
            return vec![row];
        }
        let mut rows = vec![];
        if let Some(o) = observed.found() {
            rows.push(Row::new("role", "exists", &o.arn));
            if let Some(b) = &o.boundary {
                rows.push(Row::new("boundary", "attached", b));
            }
            let state = if o.inline_policy { "exists" } else { "absent" };
            rows.push(Row::new("policy", state, "inline tenant policy"));
        }
        rows
    }
}

async fn create_role(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    let iam = &ctx.clients.iam;
    let trust = trust_policy(&ctx.settings.identity_pool_id).to_string();
    let tag = IamTag::builder()
        .key(TAG_KEY)
        .value(tenant.as_str())
        .build()
        .map_err(StepError::internal)?;
    let result = iam
        .create_role()
        .role_name(&names.role_name)
        .path(names.role_path)
        .assume_role_policy_document(&trust)
        .permissions_boundary(&ctx.settings.boundary_arn)
        .description(format!("Tenant {tenant}: its own secret and S3 prefix only"))
        .tags(tag.clone())
        .send()
        .await;
    let (role_arn, created) = match result {
        Ok(out) => (out.role().map(|r| r.arn().to_string()), true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_entity_already_exists_exception()) =>
        {
            (None, false)
        }
        Err(e) => return Err(classify("iam", "CreateRole", &e)),
    };
    let role_arn = match role_arn {
        Some(arn) => arn,
        None => converge_existing_role(ctx, &tenant, &names, &trust, tag).await?,
    };
    let policy = ctx.settings.tenant_policy(&tenant).to_json();
    iam.put_role_policy()
        .role_name(&names.role_name)
        .policy_name(INLINE_POLICY_NAME)
        .policy_document(policy)
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            // A role created a moment ago may not be visible to the next call yet.
            Some(se) if se.is_no_such_entity_exception() => StepError::IamNotPropagated {
                service: "iam",
                operation: "PutRolePolicy",
                message: se.to_string(),
            },
            _ => classify("iam", "PutRolePolicy", &e),
        })?;
    info!(role = %role_arn, created, "role ready");
    Ok(json!({ "role_arn": role_arn, "created": created }))
}

/// A role with the tenant's name already exists: make it exactly what onboarding would
/// have created, or refuse if it is not a tenant role at all.
async fn converge_existing_role(
    ctx: &Context,
    tenant: &TenantId,
    names: &TenantNames,
    trust: &str,
    tag: IamTag,
) -> Result<String, StepError> {
    let iam = &ctx.clients.iam;
    // CreateRole just said the role exists: a read that cannot see it is IAM lagging.
    let out = iam
        .get_role()
        .role_name(&names.role_name)
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            Some(se) if se.is_no_such_entity_exception() => StepError::IamNotPropagated {
                service: "iam",
                operation: "GetRole",
                message: se.to_string(),
            },
            _ => classify("iam", "GetRole", &e),
        })?;
    let role = out.role().ok_or_else(|| StepError::IamNotPropagated {
        service: "iam",
        operation: "GetRole",
        message: "role not returned".into(),
    })?;
    if role.path() != names.role_path {
        return Err(StepError::ResourceConflict {
            tenant: tenant.to_string(),
            message: format!(
                "role {} exists under path {} instead of {}; it was not created by onboarding — rename or delete it",
                names.role_name,
                role.path(),
                names.role_path
            ),
        });
    }
    require_tenant_tag(
        tenant,
        &format!("role {}", names.role_name),
        role.tags().iter().map(|t| (t.key(), t.value())),
        "it was not created by onboarding — rename or delete it",
    )?;
    // Whatever else was attached since is removed: the role must grant exactly the
    // tenant policy and nothing another attempt or a person added.
    strip_policies(ctx, &names.role_name, Some(INLINE_POLICY_NAME), false).await?;
    iam.update_assume_role_policy()
        .role_name(&names.role_name)
        .policy_document(trust)
        .send()
        .await
        .map_err(|e| classify("iam", "UpdateAssumeRolePolicy", &e))?;
    iam.put_role_permissions_boundary()
        .role_name(&names.role_name)
        .permissions_boundary(&ctx.settings.boundary_arn)
        .send()
        .await
        .map_err(|e| classify("iam", "PutRolePermissionsBoundary", &e))?;
    iam.tag_role()
        .role_name(&names.role_name)
        .tags(tag)
        .send()
        .await
        .map_err(|e| classify("iam", "TagRole", &e))?;
    Ok(role.arn().to_string())
}

async fn delete_role(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    let iam = &ctx.clients.iam;
    // Inline and attached policies must go before the role can.
    let role = match iam.get_role().role_name(&names.role_name).send().await {
        Ok(out) => out.role().cloned(),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {
            return Ok(json!({ "deleted": false, "absent": format!("no role {}", names.role_name) }));
        }
        Err(e) => return Err(classify("iam", "GetRole", &e)),
    };
    // Never delete a role with the tenant's name that onboarding did not create.
    require_tenant_tag(
        &tenant,
        &format!("role {}", names.role_name),
        role.iter().flat_map(|r| r.tags()).map(|t| (t.key(), t.value())),
        "left in place",
    )?;
    strip_policies(ctx, &names.role_name, None, true).await?;
    match iam.delete_role().role_name(&names.role_name).send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {}
        Err(e) => return Err(classify("iam", "DeleteRole", &e)),
    }
    info!(role = %names.role_name, "role deleted");
    Ok(json!({ "deleted": true }))
}

/// Deletes every inline policy of a role except `keep`, and detaches every managed
/// policy. A role that no longer exists has nothing left to strip.
///
/// `missing_ok`: during teardown a vanished role is done; while converging a role that was
/// just reported to exist, it is IAM lagging and must be retried, not skipped.
pub async fn strip_policies(
    ctx: &Context,
    role_name: &str,
    keep: Option<&str>,
    missing_ok: bool,
) -> Result<(), StepError> {
    let iam = &ctx.clients.iam;
    let gone = |op: &'static str, msg: String| {
        if missing_ok {
            Ok(())
        } else {
            Err(StepError::IamNotPropagated {
                service: "iam",
                operation: op,
                message: msg,
            })
        }
    };
    let inline = match iam.list_role_policies().role_name(role_name).send().await {
        Ok(out) => out.policy_names().to_vec(),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {
            return gone("ListRolePolicies", e.to_string());
        }
        Err(e) => return Err(classify("iam", "ListRolePolicies", &e)),
    };
    for policy in inline.iter().filter(|p| Some(p.as_str()) != keep) {
        match iam
            .delete_role_policy()
            .role_name(role_name)
            .policy_name(policy)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {}
            Err(e) => return Err(classify("iam", "DeleteRolePolicy", &e)),
        }
    }
    let attached = match iam.list_attached_role_policies().role_name(role_name).send().await {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {
            return gone("ListAttachedRolePolicies", e.to_string());
        }
        Err(e) => return Err(classify("iam", "ListAttachedRolePolicies", &e)),
    };
    for arn in attached.attached_policies().iter().filter_map(|p| p.policy_arn()) {
        match iam
            .detach_role_policy()
            .role_name(role_name)
            .policy_arn(arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {}
            Err(e) => return Err(classify("iam", "DetachRolePolicy", &e)),
        }
    }
    Ok(())
}
