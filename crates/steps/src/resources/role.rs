//! The tenant's IAM role: the only credentials a tenant user gets, bounded by the
//! deployment's permissions boundary and granting the tenant's own secret and prefix.

use aws_sdk_iam::types::Tag as IamTag;
use serde::Serialize;
use serde_json::{Value, json};
use tenant_domain::names::{INLINE_POLICY_NAME, TAG_KEY, TEMPLATE_VERSION_TAG_KEY};
use tenant_domain::policy::trust_policy;
use tenant_domain::policy_compare::{decode_document, same_policy};
use tenant_domain::{MappingType, TenantId, TenantNames};
use tracing::info;

use super::access::{Attempt, Reach};
use super::{Drift, DriftKind, Observation, Resource, Row, TenantResource, judge_found, not_found_row};
use crate::error::classify;
use crate::ownership::require_tenant_tag;
use crate::{Context, Settings, StepError, StepInput};

pub struct Role;

/// What onboarding renders for the role today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleExpected {
    pub path: String,
    pub boundary: String,
    pub tag: String,
    pub trust: Value,
    pub policy: Value,
}

/// What `audit` reads of the role: every property onboarding sets, and anything beside.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleAudited {
    pub path: String,
    pub boundary: Option<String>,
    /// The `tenant` tag.
    pub tag: Option<String>,
    /// The trust policy, URL-decoded (None: none, or not JSON).
    pub trust: Option<Value>,
    /// Every inline policy's name.
    pub inline: Vec<String>,
    /// The tenant policy (`INLINE_POLICY_NAME`), URL-decoded, when it is on the role.
    pub policy: Option<Value>,
    /// Every attached managed policy's ARN.
    pub attached: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleObserved {
    pub arn: String,
    pub boundary: Option<String>,
    /// Whether the inline tenant policy is attached.
    pub inline_policy: bool,
    /// The role's `template-version` tag: the template its documents came from.
    pub template_version: Option<String>,
}

impl TenantResource for Role {
    /// Only modes with a per-tenant role have it; Abac's shared role is the deployment's.
    fn applies(mode: MappingType) -> bool {
        mode.has_tenant_role()
    }

    type Expected = RoleExpected;

    fn expected(tenant: &TenantId, settings: &Settings) -> RoleExpected {
        RoleExpected {
            path: TenantNames::new(tenant).role_path.to_string(),
            boundary: settings.boundary_arn.clone(),
            tag: tenant.to_string(),
            trust: trust_policy(&settings.identity_pool_id),
            policy: settings.tenant_policy(tenant).to_value(),
        }
    }

    type Audited = RoleAudited;

    async fn audit_read(ctx: &Context, tenant: &TenantId) -> Observation<RoleAudited> {
        match read_audited(ctx, tenant).await {
            Ok(Some(audited)) => Observation::Found(audited),
            Ok(None) => Observation::Absent("the role does not exist".into()),
            Err(e) => Observation::unavailable(&e),
        }
    }

    /// Path, boundary, tag, trust and tenant policy as onboarding renders them (policies
    /// compared by meaning), and no other inline or attached policy.
    fn judge(name: &str, expected: &RoleExpected, audited: &Observation<RoleAudited>) -> Vec<Drift> {
        let what = format!("role {name}");
        judge_found(Resource::Role, &what, audited, |o| {
            let mut out = vec![];
            let mut differs = |property: &str, expected: Value, found: Value| {
                out.push(Drift::differs(Resource::Role, &what, property, expected, found));
            };
            if o.path != expected.path {
                differs("path", json!(expected.path), json!(o.path));
            }
            if o.boundary.as_deref() != Some(expected.boundary.as_str()) {
                differs("permissions boundary", json!(expected.boundary), json!(o.boundary));
            }
            if o.tag.as_deref() != Some(expected.tag.as_str()) {
                differs("tag tenant", json!(expected.tag), json!(o.tag));
            }
            if !o.trust.as_ref().is_some_and(|t| same_policy(&expected.trust, t)) {
                differs(
                    "trust policy",
                    expected.trust.clone(),
                    o.trust.clone().unwrap_or(Value::Null),
                );
            }
            for extra in o.inline.iter().filter(|n| *n != INLINE_POLICY_NAME) {
                out.push(Drift::new(
                    Resource::Role,
                    DriftKind::Differs,
                    format!("{what} inline policy {extra}"),
                    "an inline policy the templates do not create",
                ));
            }
            let policy = format!("{what} inline policy {INLINE_POLICY_NAME}");
            match &o.policy {
                None => out.push(Drift::new(
                    Resource::Role,
                    DriftKind::Missing,
                    policy,
                    "the tenant policy is not on the role",
                )),
                Some(found) if !same_policy(&expected.policy, found) => out.push(Drift::differs(
                    Resource::Role,
                    policy,
                    "policy document",
                    expected.policy.clone(),
                    found.clone(),
                )),
                Some(_) => {}
            }
            for arn in &o.attached {
                out.push(Drift::new(
                    Resource::Role,
                    DriftKind::Differs,
                    format!("{what} attached policy {arn}"),
                    "a managed policy the templates do not attach",
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
        let role = match get_role(ctx, tenant).await {
            Ok(Some(role)) => role,
            Ok(None) => return Observation::Absent(format!("no role {}", names.role_name)),
            Err(e) => return Observation::unavailable(&e),
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
            boundary: boundary_of(&role),
            inline_policy,
            template_version: tag_of(&role, TEMPLATE_VERSION_TAG_KEY),
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
            if let Some(v) = &o.template_version {
                rows.push(Row::new("template", "tagged", v));
            }
        }
        rows
    }

    /// Not used with a tenant's credentials: nothing to try.
    async fn reach(_ctx: &Context, _reach: &Reach<'_>) -> Vec<Attempt> {
        vec![]
    }

    const CENSUS_KIND: &'static str = "role";

    async fn census(ctx: &Context) -> Result<Vec<(String, String)>, StepError> {
        let mut out = vec![];
        let mut pages = ctx
            .clients
            .iam
            .list_roles()
            .path_prefix("/tenants/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for r in page.map_err(|e| classify("iam", "ListRoles", &e))?.roles() {
                // Only names a tenant id can give: the deployment's shared Abac role lives
                // under the same path, and its name (the template's logical id, upper case)
                // is no tenant's.
                let id = r.role_name().trim_start_matches("tenant-");
                if TenantId::parse(id).is_ok() {
                    out.push((id.to_string(), r.arn().to_string()));
                }
            }
        }
        Ok(out)
    }

    fn census_name(tenant: &TenantId, settings: &Settings) -> Option<String> {
        Some(TenantNames::new(tenant).role_arn(&settings.partition, &settings.account_id))
    }
}

/// The role's tags: the tenant it belongs to and the template version of its documents.
fn role_tags(tenant: &TenantId, settings: &Settings) -> Result<Vec<IamTag>, StepError> {
    [
        (TAG_KEY, tenant.to_string()),
        (TEMPLATE_VERSION_TAG_KEY, settings.template_version()),
    ]
    .into_iter()
    .map(|(k, v)| IamTag::builder().key(k).value(v).build().map_err(StepError::internal))
    .collect()
}

async fn create_role(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    let iam = &ctx.clients.iam;
    let trust = trust_policy(&ctx.settings.identity_pool_id).to_string();
    let tags = role_tags(&tenant, &ctx.settings)?;
    let result = iam
        .create_role()
        .role_name(&names.role_name)
        .path(names.role_path)
        .assume_role_policy_document(&trust)
        .permissions_boundary(&ctx.settings.boundary_arn)
        .description(format!("Tenant {tenant}: its own secret and S3 prefix only"))
        .set_tags(Some(tags.clone()))
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
        None => converge_existing_role(ctx, &tenant, &names, &trust, tags).await?,
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
    tags: Vec<IamTag>,
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
        .set_tags(Some(tags))
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

/// The role's documents as they are: kept on the tenant record before a converge, so a
/// converge whose proof fails can put them back (`restore`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RoleDocuments {
    /// The inline tenant policy (URL-decoded JSON), None when it is not on the role.
    pub policy: Option<String>,
    pub trust: Option<String>,
    pub boundary: Option<String>,
    pub template_version: Option<String>,
}

/// Reads the role's documents; None when there is no role.
pub async fn documents(ctx: &Context, tenant: &TenantId) -> Result<Option<RoleDocuments>, StepError> {
    let names = TenantNames::new(tenant);
    let iam = &ctx.clients.iam;
    let Some(role) = get_role(ctx, tenant).await? else {
        return Ok(None);
    };
    let policy = match iam
        .get_role_policy()
        .role_name(&names.role_name)
        .policy_name(INLINE_POLICY_NAME)
        .send()
        .await
    {
        Ok(out) => Some(decoded(out.policy_document())),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => None,
        Err(e) => return Err(classify("iam", "GetRolePolicy", &e)),
    };
    Ok(Some(RoleDocuments {
        policy,
        trust: role.assume_role_policy_document().map(decoded),
        boundary: boundary_of(&role),
        template_version: tag_of(&role, TEMPLATE_VERSION_TAG_KEY),
    }))
}

/// Reads everything `audit` judges of the role; None when there is no role.
async fn read_audited(ctx: &Context, tenant: &TenantId) -> Result<Option<RoleAudited>, StepError> {
    let names = TenantNames::new(tenant);
    let iam = &ctx.clients.iam;
    let Some(role) = get_role(ctx, tenant).await? else {
        return Ok(None);
    };
    let inline = iam
        .list_role_policies()
        .role_name(&names.role_name)
        .send()
        .await
        .map_err(|e| classify("iam", "ListRolePolicies", &e))?
        .policy_names()
        .to_vec();
    let policy = if inline.iter().any(|n| n == INLINE_POLICY_NAME) {
        let doc = iam
            .get_role_policy()
            .role_name(&names.role_name)
            .policy_name(INLINE_POLICY_NAME)
            .send()
            .await
            .map_err(|e| classify("iam", "GetRolePolicy", &e))?;
        Some(decode_document(doc.policy_document()).unwrap_or(Value::Null))
    } else {
        None
    };
    let attached = iam
        .list_attached_role_policies()
        .role_name(&names.role_name)
        .send()
        .await
        .map_err(|e| classify("iam", "ListAttachedRolePolicies", &e))?
        .attached_policies()
        .iter()
        .map(|p| p.policy_arn().unwrap_or_default().to_string())
        .collect();
    Ok(Some(RoleAudited {
        path: role.path().to_string(),
        boundary: boundary_of(&role),
        tag: tag_of(&role, TAG_KEY),
        trust: role.assume_role_policy_document().and_then(decode_document),
        inline,
        policy,
        attached,
    }))
}

/// The tenant's role; None when there is none.
async fn get_role(ctx: &Context, tenant: &TenantId) -> Result<Option<aws_sdk_iam::types::Role>, StepError> {
    let name = TenantNames::new(tenant).role_name;
    match ctx.clients.iam.get_role().role_name(&name).send().await {
        Ok(out) => Ok(out.role().cloned()),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => Ok(None),
        Err(e) => Err(classify("iam", "GetRole", &e)),
    }
}

/// The role's permissions boundary ARN.
fn boundary_of(role: &aws_sdk_iam::types::Role) -> Option<String> {
    role.permissions_boundary()
        .and_then(|b| b.permissions_boundary_arn())
        .map(str::to_string)
}

/// The value of the role's tag `key`.
fn tag_of(role: &aws_sdk_iam::types::Role, key: &str) -> Option<String> {
    role.tags()
        .iter()
        .find(|t| t.key() == key)
        .map(|t| t.value().to_string())
}

/// IAM returns documents URL-encoded; one that does not decode is kept as it came.
fn decoded(raw: &str) -> String {
    tenant_domain::policy_compare::decode_document(raw).map_or_else(|| raw.to_string(), |v| v.to_string())
}

/// Makes an existing role exactly what onboarding under the deployment's template
/// renders (policy, trust, boundary, tags), in place: nothing is deleted but grants the
/// templates do not make.
pub async fn converge(ctx: &Context, tenant: &TenantId) -> Result<(), StepError> {
    let names = TenantNames::new(tenant);
    let wanted = RoleDocuments {
        policy: Some(ctx.settings.tenant_policy(tenant).to_json()),
        trust: Some(trust_policy(&ctx.settings.identity_pool_id).to_string()),
        boundary: Some(ctx.settings.boundary_arn.clone()),
        template_version: Some(ctx.settings.template_version()),
    };
    strip_policies(ctx, &names.role_name, Some(INLINE_POLICY_NAME), false).await?;
    apply(ctx, &names.role_name, tenant, &wanted).await
}

/// Puts back documents read by [`documents`] before a converge.
pub async fn restore(ctx: &Context, tenant: &TenantId, previous: &RoleDocuments) -> Result<(), StepError> {
    apply(ctx, &TenantNames::new(tenant).role_name, tenant, previous).await
}

async fn apply(ctx: &Context, role: &str, tenant: &TenantId, docs: &RoleDocuments) -> Result<(), StepError> {
    let iam = &ctx.clients.iam;
    // The deployment's boundary first, whatever the documents say: a revert never puts a
    // drifted boundary back, and a policy is only given to a bounded role.
    iam.put_role_permissions_boundary()
        .role_name(role)
        .permissions_boundary(&ctx.settings.boundary_arn)
        .send()
        .await
        .map_err(|e| classify("iam", "PutRolePermissionsBoundary", &e))?;
    match &docs.policy {
        Some(policy) => iam
            .put_role_policy()
            .role_name(role)
            .policy_name(INLINE_POLICY_NAME)
            .policy_document(policy)
            .send()
            .await
            .map(drop)
            .map_err(|e| classify("iam", "PutRolePolicy", &e))?,
        None => match iam
            .delete_role_policy()
            .role_name(role)
            .policy_name(INLINE_POLICY_NAME)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {}
            Err(e) => return Err(classify("iam", "DeleteRolePolicy", &e)),
        },
    }
    if let Some(trust) = &docs.trust {
        iam.update_assume_role_policy()
            .role_name(role)
            .policy_document(trust)
            .send()
            .await
            .map_err(|e| classify("iam", "UpdateAssumeRolePolicy", &e))?;
    }
    let mut tags = vec![
        IamTag::builder()
            .key(TAG_KEY)
            .value(tenant.as_str())
            .build()
            .map_err(StepError::internal)?,
    ];
    match &docs.template_version {
        Some(v) => tags.push(
            IamTag::builder()
                .key(TEMPLATE_VERSION_TAG_KEY)
                .value(v)
                .build()
                .map_err(StepError::internal)?,
        ),
        None => {
            iam.untag_role()
                .role_name(role)
                .tag_keys(TEMPLATE_VERSION_TAG_KEY)
                .send()
                .await
                .map_err(|e| classify("iam", "UntagRole", &e))?;
        }
    }
    iam.tag_role()
        .role_name(role)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| classify("iam", "TagRole", &e))?;
    Ok(())
}
