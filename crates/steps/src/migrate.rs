//! Moving an ACTIVE tenant from one mapping mode to another in place, for `tenantctl
//! migrate`: each function is one idempotent change (or read) of one tenant, named as the
//! state machines name errors, so a migration can be stopped anywhere and resumed.
//!
//! How the modes coexist while a deployment moves: the identity pool resolves a
//! provider's users by one mapping type at a time (the provider's entry: Rules, Token, or
//! none, which gives the pool's default authenticated role). A tenant moves to Abac by
//! *pointing* its own entry at the shared role: its rule (Rules: the record's `role_arn`,
//! from which the rule is rebuilt under the mapping lock) or its group's role (Token: the
//! ID token's `cognito:preferred_role`). The shared role's sessions carry the `tenant` tag
//! from the `tenant_id` claim because the pool's principal tag map applies to whichever
//! role a user gets (every tenant role's trust already allows `sts:TagSession`). Only
//! when every tenant is pointed does the deployment's mapping type change (the stack
//! update resets the pool's mappings and makes the shared role the default).
//!
//! Data is never touched: only the tenant's rule or group role, its record and, once the
//! tenant is proven on the shared role, its own IAM role.

use std::collections::HashMap;

use aws_sdk_cognitoidentity::types::RoleMappingType;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::json;
use tenant_domain::{MappingType, Status, TenantId, TenantNames};
use tracing::info;

use crate::error::{classify, condition_held};
use crate::record::{self, attr, n, now, s};
use crate::resources::TenantResource;
use crate::resources::group::group_description;
use crate::resources::role::Role;
use crate::{Context, StepError, StepInput, mapping};

/// The table item that holds a migration's progress and its lease (no `status`
/// attribute: never read as a tenant record).
pub const MIGRATION_KEY: &str = "#migration";
/// On a tenant record: the mode its proof was last made in by a migration.
pub const MAPPING_MODE: &str = "mapping_mode";

/// A migration run holds the item this long without renewing it (renewed after each
/// tenant: one tenant's move and proof take seconds); a run that was killed is taken over
/// once it ran out. An interrupted run (Ctrl-C) releases it at once.
pub const LEASE_SECONDS: u64 = 120;

mod field {
    pub const TARGET: &str = "target";
    pub const FROM: &str = "from_mode";
    pub const STATE: &str = "state";
    pub const MOVED: &str = "moved";
    pub const LAST_TENANT: &str = "last_tenant";
    pub const STOPPED_TENANT: &str = "stopped_tenant";
    pub const REASON: &str = "reason";
    pub const STARTED_AT: &str = "started_at";
}

/// The same deployment, resolving (and rebuilding the mapping) as `mode` would.
pub fn with_mode(ctx: &Context, mode: MappingType) -> Context {
    let mut c = ctx.clone();
    c.settings.mapping_type = mode;
    c
}

/// How the identity pool resolves this deployment's users right now: by the provider's
/// mapping type, or (no entry) by the deployment's own mode.
pub async fn effective_mode(ctx: &Context) -> Result<MappingType, StepError> {
    Ok(match mapping::provider_mapping(ctx).await? {
        Some(m) if *m.r#type() == RoleMappingType::Token => MappingType::Token,
        Some(_) => MappingType::Rules,
        None => ctx.settings.mapping_type,
    })
}

fn not_active(tenant: &TenantId) -> StepError {
    StepError::StaleExecution {
        tenant: tenant.to_string(),
        message: "the record is no longer ACTIVE: a migration moves ACTIVE tenants only; this tenant was left as it is"
            .into(),
    }
}

/// The role the pool gives the tenant's users through its own entry: its rule's role
/// (Rules) or its group's role (Token); None when it has no entry (Abac, or missing).
pub async fn pointed_at(ctx: &Context, tenant: &TenantId, via: MappingType) -> Result<Option<String>, StepError> {
    match via {
        MappingType::Rules => Ok(mapping::mapped_rules(ctx)
            .await?
            .iter()
            .find(|r| tenant_domain::mapping::tenant_of_rule(r.claim(), r.value()).as_ref() == Some(tenant))
            .map(|r| r.role_arn().to_string())),
        MappingType::Token => group_role(ctx, tenant).await,
        MappingType::Abac => Ok(None),
    }
}

async fn group_role(ctx: &Context, tenant: &TenantId) -> Result<Option<String>, StepError> {
    let group = TenantNames::new(tenant).group;
    match ctx
        .clients
        .idp
        .get_group()
        .user_pool_id(&ctx.settings.user_pool_id)
        .group_name(&group)
        .send()
        .await
    {
        Ok(out) => Ok(out.group().and_then(|g| g.role_arn()).map(str::to_string)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(classify("cognito-idp", "GetGroup", &e)),
    }
}

/// Points the tenant's own entry at `role_arn` (idempotent). Rules: the record's
/// `role_arn`, then the provider's rules rebuilt from the table under the mapping lock
/// (so a concurrent onboarding's rebuild derives the same rule). Token: the group's role,
/// with Token mode's precedence. Abac: nothing points (the pool's default role serves).
pub async fn point(
    ctx: &Context,
    tenant: &TenantId,
    via: MappingType,
    role_arn: &str,
    by: &str,
) -> Result<(), StepError> {
    match via {
        MappingType::Rules => {
            let arn = s(role_arn);
            if !record::set_on_active(ctx, tenant, attr::ROLE_ARN, arn).await? {
                return Err(not_active(tenant));
            }
            mapping::reconcile(&with_mode(ctx, MappingType::Rules), by).await?;
        }
        MappingType::Token => {
            ctx.clients
                .idp
                .update_group()
                .user_pool_id(&ctx.settings.user_pool_id)
                .group_name(TenantNames::new(tenant).group)
                .description(group_description(tenant))
                .role_arn(role_arn)
                .set_precedence(MappingType::Token.group_precedence())
                .send()
                .await
                .map_err(|e| classify("cognito-idp", "UpdateGroup", &e))?;
        }
        MappingType::Abac => {}
    }
    info!(%tenant, ?via, role_arn, "tenant's mapping entry pointed");
    Ok(())
}

/// Takes a Token-mode role and precedence off the tenant's group (UpdateGroup sets what it
/// is not given to its default), once the deployment no longer resolves by Token; a group
/// that has neither is not written. Returns whether it wrote.
pub async fn clear_group_role(ctx: &Context, tenant: &TenantId) -> Result<bool, StepError> {
    let group = TenantNames::new(tenant).group;
    let got = match ctx
        .clients
        .idp
        .get_group()
        .user_pool_id(&ctx.settings.user_pool_id)
        .group_name(&group)
        .send()
        .await
    {
        Ok(out) => out.group().cloned(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(classify("cognito-idp", "GetGroup", &e)),
    };
    let Some(g) = got else { return Ok(false) };
    if g.role_arn().is_none() && g.precedence().is_none() {
        return Ok(false);
    }
    ctx.clients
        .idp
        .update_group()
        .user_pool_id(&ctx.settings.user_pool_id)
        .group_name(&group)
        .description(group_description(tenant))
        .send()
        .await
        .map_err(|e| classify("cognito-idp", "UpdateGroup", &e))?;
    Ok(true)
}

/// The tenant's own role's ARN (whether or not it exists).
pub fn own_role_arn(ctx: &Context, tenant: &TenantId) -> String {
    TenantNames::new(tenant).role_arn(&ctx.settings.partition, &ctx.settings.account_id)
}

/// Whether the tenant's own IAM role exists.
pub async fn own_role_exists(ctx: &Context, tenant: &TenantId) -> Result<bool, StepError> {
    match ctx
        .clients
        .iam
        .get_role()
        .role_name(TenantNames::new(tenant).role_name)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => Ok(false),
        Err(e) => Err(classify("iam", "GetRole", &e)),
    }
}

/// Tags the tenant's own role with the template version `ctx`'s mode renders (the
/// documents of Rules and Token mode are the same; only the version names the mode).
pub async fn tag_role_version(ctx: &Context, tenant: &TenantId) -> Result<(), StepError> {
    let tag = aws_sdk_iam::types::Tag::builder()
        .key(tenant_domain::names::TEMPLATE_VERSION_TAG_KEY)
        .value(ctx.settings.template_version())
        .build()
        .map_err(StepError::internal)?;
    ctx.clients
        .iam
        .tag_role()
        .role_name(TenantNames::new(tenant).role_name)
        .tags(tag)
        .send()
        .await
        .map_err(|e| classify("iam", "TagRole", &e))?;
    Ok(())
}

/// Deletes the tenant's own role (its policies first; absent is done; a role without the
/// tenant's tag is left in place), whatever mode the deployment's settings say.
pub async fn delete_own_role(ctx: &Context, tenant: &TenantId, by: &str) -> Result<serde_json::Value, StepError> {
    let input = StepInput::from_value(json!({ "tenant_id": tenant.as_str(), "execution": by }))?;
    Role::delete(ctx, &input).await
}

/// Proven in `mode`: written on the record (with the template version that mode renders,
/// so the tenant is not behind once the deployment is in it), so a resumed migration
/// skips the tenant.
pub async fn mark(ctx: &Context, tenant: &TenantId, mode: MappingType) -> Result<(), StepError> {
    let version = with_mode(ctx, mode).settings.template_version();
    let req = ctx
        .clients
        .ddb
        .update_item()
        .table_name(&ctx.settings.table)
        .key(attr::TENANT_ID, s(tenant.as_str()))
        .update_expression("SET #m = :m, #v = :v, updated_at = :now")
        .condition_expression("#s = :active")
        .expression_attribute_names("#m", MAPPING_MODE)
        .expression_attribute_names("#v", attr::TEMPLATE_VERSION)
        .expression_attribute_names("#s", attr::STATUS)
        .expression_attribute_values(":m", s(format!("{mode:?}")))
        .expression_attribute_values(":v", s(version))
        .expression_attribute_values(":active", s(Status::Active.as_str()))
        .expression_attribute_values(":now", n(now()));
    if !condition_held("UpdateItem", req.send().await)? {
        return Err(not_active(tenant));
    }
    Ok(())
}

/// The mode a migration last proved the tenant in (None: never migrated).
pub async fn marked(ctx: &Context, tenant: &TenantId) -> Result<Option<MappingType>, StepError> {
    let item = get_item(ctx, tenant.as_str()).await?;
    Ok(item
        .as_ref()
        .and_then(|i| i.get(MAPPING_MODE))
        .and_then(|v| v.as_s().ok())
        .and_then(|s| s.parse().ok()))
}

/// Clears what a Rules migration left on an ACTIVE record once the deployment's mapping
/// type is Abac: no rule derives from it any more.
pub async fn unmap(ctx: &Context, tenant: &TenantId) -> Result<(), StepError> {
    let req = ctx
        .clients
        .ddb
        .update_item()
        .table_name(&ctx.settings.table)
        .key(attr::TENANT_ID, s(tenant.as_str()))
        .update_expression("SET #m = :f, updated_at = :now REMOVE #r")
        .condition_expression("#s = :active")
        .expression_attribute_names("#m", attr::MAPPED)
        .expression_attribute_names("#r", attr::ROLE_ARN)
        .expression_attribute_names("#s", attr::STATUS)
        .expression_attribute_values(":f", AttributeValue::Bool(false))
        .expression_attribute_values(":active", s(Status::Active.as_str()))
        .expression_attribute_values(":now", n(now()));
    if !condition_held("UpdateItem", req.send().await)? {
        return Err(not_active(tenant));
    }
    Ok(())
}

async fn get_item(ctx: &Context, key: &str) -> Result<Option<HashMap<String, AttributeValue>>, StepError> {
    let out = ctx
        .clients
        .ddb
        .get_item()
        .table_name(&ctx.settings.table)
        .key(attr::TENANT_ID, s(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| classify("dynamodb", "GetItem", &e))?;
    Ok(out.item().cloned())
}

/// A migration's progress, as the `#migration` item holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub target: Option<MappingType>,
    pub from: Option<MappingType>,
    /// running, stopped, failed or complete.
    pub state: Option<String>,
    /// Tenants moved by every run of this migration.
    pub moved: u64,
    pub last_tenant: Option<String>,
    /// The tenant whose proof failed, when `state` is failed.
    pub stopped_tenant: Option<String>,
    pub reason: Option<String>,
    pub started_at: u64,
    pub updated_at: u64,
    /// The run holding the lease, while it holds it.
    pub owner: Option<String>,
    pub expires_at: u64,
}

pub async fn progress(ctx: &Context) -> Result<Option<Progress>, StepError> {
    let Some(item) = get_item(ctx, MIGRATION_KEY).await? else {
        return Ok(None);
    };
    let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let n = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Some(Progress {
        target: s(field::TARGET).and_then(|t| t.parse().ok()),
        from: s(field::FROM).and_then(|t| t.parse().ok()),
        state: s(field::STATE),
        moved: n(field::MOVED),
        last_tenant: s(field::LAST_TENANT),
        stopped_tenant: s(field::STOPPED_TENANT),
        reason: s(field::REASON),
        started_at: n(field::STARTED_AT),
        updated_at: n(attr::UPDATED_AT),
        owner: s(attr::LOCK_OWNER),
        expires_at: n(attr::LOCK_EXPIRES_AT),
    }))
}

/// Takes (or renews) the migration's lease for `owner`; false when another run holds it.
/// The target and the mode moved from are written with it; `moved` counts on.
pub async fn claim(ctx: &Context, owner: &str, target: MappingType, from: MappingType) -> Result<bool, StepError> {
    let t = now();
    let req = ctx
        .clients
        .ddb
        .update_item()
        .table_name(&ctx.settings.table)
        .key(attr::TENANT_ID, s(MIGRATION_KEY))
        .update_expression(
            "SET #o = :me, #x = :exp, #t = :target, #f = :from, #st = :running, updated_at = :now, \
             #sa = if_not_exists(#sa, :now) REMOVE #stt, #r",
        )
        .condition_expression("attribute_not_exists(#o) OR #x < :now OR #o = :me")
        .expression_attribute_names("#o", attr::LOCK_OWNER)
        .expression_attribute_names("#x", attr::LOCK_EXPIRES_AT)
        .expression_attribute_names("#t", field::TARGET)
        .expression_attribute_names("#f", field::FROM)
        .expression_attribute_names("#st", field::STATE)
        .expression_attribute_names("#sa", field::STARTED_AT)
        .expression_attribute_names("#stt", field::STOPPED_TENANT)
        .expression_attribute_names("#r", field::REASON)
        .expression_attribute_values(":me", s(owner))
        .expression_attribute_values(":exp", n(t + LEASE_SECONDS))
        .expression_attribute_values(":target", s(format!("{target:?}")))
        .expression_attribute_values(":from", s(format!("{from:?}")))
        .expression_attribute_values(":running", s("running"))
        .expression_attribute_values(":now", n(t));
    condition_held("UpdateItem", req.send().await)
}

/// An UpdateItem of the migration item that extends `owner`'s lease, conditional on the
/// lease still being `owner`'s; the caller adds what else it sets.
fn extend_lease(ctx: &Context, owner: &str, t: u64) -> UpdateItemFluentBuilder {
    ctx.clients
        .ddb
        .update_item()
        .table_name(&ctx.settings.table)
        .key(attr::TENANT_ID, s(MIGRATION_KEY))
        .condition_expression("#o = :me")
        .expression_attribute_names("#o", attr::LOCK_OWNER)
        .expression_attribute_names("#x", attr::LOCK_EXPIRES_AT)
        .expression_attribute_values(":me", s(owner))
        .expression_attribute_values(":exp", n(t + LEASE_SECONDS))
        .expression_attribute_values(":now", n(t))
}

/// One more tenant moved by `owner`'s run; renews its lease. False when the lease is no
/// longer `owner`'s (another run took it over): the caller stops.
pub async fn moved(ctx: &Context, owner: &str, tenant: &TenantId) -> Result<bool, StepError> {
    let req = extend_lease(ctx, owner, now())
        .update_expression("SET #l = :tenant, #x = :exp, updated_at = :now ADD #m :one")
        .expression_attribute_names("#l", field::LAST_TENANT)
        .expression_attribute_names("#m", field::MOVED)
        .expression_attribute_values(":tenant", s(tenant.as_str()))
        .expression_attribute_values(":one", n(1));
    condition_held("UpdateItem", req.send().await)
}

/// Extends `owner`'s lease; false when it is no longer `owner`'s.
pub async fn renew(ctx: &Context, owner: &str) -> Result<bool, StepError> {
    let req = extend_lease(ctx, owner, now()).update_expression("SET #x = :exp, updated_at = :now");
    condition_held("UpdateItem", req.send().await)
}

/// Ends `owner`'s run: the lease is released and the state written (`stopped` after
/// `--max`, `failed` naming the tenant and why, `complete`).
pub async fn release(
    ctx: &Context,
    owner: &str,
    state: &str,
    stopped_tenant: Option<&TenantId>,
    reason: Option<&str>,
) -> Result<(), StepError> {
    let mut set = vec!["#st = :state", "updated_at = :now"];
    let mut remove = vec!["#o", "#x"];
    if stopped_tenant.is_some() {
        set.push("#stt = :tenant");
    } else {
        remove.push("#stt");
    }
    if reason.is_some() {
        set.push("#r = :reason");
    } else {
        remove.push("#r");
    }
    let mut req = ctx
        .clients
        .ddb
        .update_item()
        .table_name(&ctx.settings.table)
        .key(attr::TENANT_ID, s(MIGRATION_KEY))
        .update_expression(format!("SET {} REMOVE {}", set.join(", "), remove.join(", ")))
        .condition_expression("#o = :me")
        .expression_attribute_names("#o", attr::LOCK_OWNER)
        .expression_attribute_names("#x", attr::LOCK_EXPIRES_AT)
        .expression_attribute_names("#st", field::STATE)
        .expression_attribute_names("#stt", field::STOPPED_TENANT)
        .expression_attribute_names("#r", field::REASON)
        .expression_attribute_values(":me", s(owner))
        .expression_attribute_values(":state", s(state))
        .expression_attribute_values(":now", n(now()));
    if let Some(t) = stopped_tenant {
        req = req.expression_attribute_values(":tenant", s(t.as_str()));
    }
    if let Some(r) = reason {
        req = req.expression_attribute_values(":reason", s(r));
    }
    // Not ours any more (taken over after the lease ran out): nothing of ours to release.
    condition_held("UpdateItem", req.send().await).map(drop)
}
