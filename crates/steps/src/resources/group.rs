//! The tenant's Cognito group: membership in it is what gives a user the tenant's role.

use serde::Serialize;
use serde_json::{Value, json};
use tenant_domain::names::TAG_KEY;
use tenant_domain::{MappingType, TenantId, TenantNames};
use tracing::info;

use super::access::{Attempt, Reach};
use super::{Drift, Observation, Resource, Row, TenantResource, judge_found, not_found_row};
use crate::error::classify;
use crate::{Context, Settings, StepError, StepInput};

pub struct Group;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupExpected {
    pub description: String,
    pub role_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupObserved {
    pub description: Option<String>,
    /// Token mode: the role the group gives its members.
    pub role_arn: Option<String>,
    pub precedence: Option<i32>,
}

impl TenantResource for Group {
    fn applies(_mode: MappingType) -> bool {
        true
    }

    type Expected = GroupExpected;

    fn expected(tenant: &TenantId, settings: &Settings) -> GroupExpected {
        let names = TenantNames::new(tenant);
        GroupExpected {
            description: group_description(tenant),
            // Token mode: the group carries the tenant's role.
            role_arn: (settings.mapping_type == MappingType::Token)
                .then(|| names.role_arn(&settings.partition, &settings.account_id)),
        }
    }

    type Audited = GroupObserved;

    async fn audit_read(ctx: &Context, tenant: &TenantId) -> Observation<GroupObserved> {
        match <Group as TenantResource>::inspect(ctx, tenant).await {
            Observation::Absent(_) => Observation::Absent("the group does not exist".into()),
            other => other,
        }
    }

    /// The description names the tenant; in Token mode the group carries its role.
    fn judge(name: &str, expected: &GroupExpected, audited: &Observation<GroupObserved>) -> Vec<Drift> {
        let what = format!("group {name}");
        judge_found(Resource::Group, &what, audited, |o| {
            let mut out = vec![];
            if o.description.as_deref() != Some(expected.description.as_str()) {
                out.push(Drift::differs(
                    Resource::Group,
                    &what,
                    "description",
                    json!(expected.description),
                    json!(o.description),
                ));
            }
            if o.role_arn != expected.role_arn {
                out.push(Drift::differs(
                    Resource::Group,
                    &what,
                    "role",
                    json!(expected.role_arn),
                    json!(o.role_arn),
                ));
            }
            out
        })
    }

    type Observed = GroupObserved;

    fn name(tenant: &TenantId, _settings: &Settings) -> String {
        TenantNames::new(tenant).group
    }

    async fn create(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
        create_group(ctx, input).await
    }

    async fn delete(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
        delete_group(ctx, input).await
    }

    async fn inspect(ctx: &Context, tenant: &TenantId) -> Observation<GroupObserved> {
        let names = TenantNames::new(tenant);
        match get_group(ctx, &names.group).await {
            Ok(Some(g)) => Observation::Found(g),
            Ok(None) => Observation::Absent(format!(
                "no group {} in pool {}",
                names.group, ctx.settings.user_pool_id
            )),
            Err(e) => Observation::unavailable(&e),
        }
    }

    fn present(_observed: &GroupObserved) -> Vec<&'static str> {
        vec!["group"]
    }

    fn unusable(_observed: &GroupObserved) -> bool {
        false
    }

    fn rows(name: &str, observed: &Observation<GroupObserved>) -> Vec<Row> {
        vec![not_found_row("group", name, observed).unwrap_or_else(|| Row::new("group", "exists", name))]
    }

    /// Not used with a tenant's credentials: nothing to try.
    async fn reach(_ctx: &Context, _reach: &Reach<'_>) -> Vec<Attempt> {
        vec![]
    }

    const CENSUS_KIND: &'static str = "group";

    async fn census(ctx: &Context) -> Result<Vec<(String, String)>, StepError> {
        let mut out = vec![];
        let mut pages = ctx
            .clients
            .idp
            .list_groups()
            .user_pool_id(&ctx.settings.user_pool_id)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("cognito-idp", "ListGroups", &e))?;
            for g in page.groups() {
                let name = g.group_name().unwrap_or_default();
                if let Some(id) = name.strip_prefix("tenant:").and_then(|r| r.strip_suffix(":members")) {
                    out.push((id.to_string(), name.to_string()));
                }
            }
        }
        Ok(out)
    }

    fn census_name(tenant: &TenantId, _settings: &Settings) -> Option<String> {
        Some(TenantNames::new(tenant).group)
    }
}

/// The tenant's group as Cognito has it; `None` if it (or the pool) is gone.
pub(crate) async fn get_group(ctx: &Context, group: &str) -> Result<Option<GroupObserved>, StepError> {
    let got = ctx
        .clients
        .idp
        .get_group()
        .user_pool_id(&ctx.settings.user_pool_id)
        .group_name(group)
        .send()
        .await;
    match got {
        Ok(out) => Ok(out.group().map(|g| GroupObserved {
            description: g.description().map(str::to_string),
            role_arn: g.role_arn().map(str::to_string),
            precedence: g.precedence(),
        })),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(classify("cognito-idp", "GetGroup", &e)),
    }
}

async fn create_group(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    // Cognito groups take no tags; the description carries the tenant id instead.
    let result = ctx
        .clients
        .idp
        .create_group()
        .user_pool_id(&ctx.settings.user_pool_id)
        .group_name(&names.group)
        .description(group_description(&tenant))
        .send()
        .await;
    let created = match result {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|se| se.is_group_exists_exception()) => false,
        Err(e) => return Err(classify("cognito-idp", "CreateGroup", &e)),
    };
    info!(group = %names.group, created, "group ready");
    Ok(json!({ "group": names.group, "created": created }))
}

pub fn group_description(tenant: &TenantId) -> String {
    format!("{TAG_KEY}={tenant}")
}

async fn delete_group(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    // A Verify step that crashed may have left its probe user; deleting the group would
    // not delete the user.
    crate::probe::sweep(ctx, &tenant).await?;
    // The tenant's users go with its group.
    let users = <super::users::Users as TenantResource>::delete(ctx, input).await?;
    let users_deleted = users["users_deleted"].as_u64().unwrap_or(0);
    let result = ctx
        .clients
        .idp
        .delete_group()
        .user_pool_id(&ctx.settings.user_pool_id)
        .group_name(&names.group)
        .send()
        .await;
    let deleted = match result {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) =>
        {
            false
        }
        Err(e) => return Err(classify("cognito-idp", "DeleteGroup", &e)),
    };
    // ResourceNotFound covers the group and the whole user pool being gone: either way
    // there is no group left to delete.
    let absent = (!deleted).then(|| format!("no group {} in pool {}", names.group, ctx.settings.user_pool_id));
    Ok(json!({ "deleted": deleted, "users_deleted": users_deleted, "absent": absent }))
}
