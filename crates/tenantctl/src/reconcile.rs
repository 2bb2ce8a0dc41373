//! `tenantctl reconcile`: rebuild the role mapping from the tenants table, unless that
//! would drop the rule of a tenant whose role still exists (the table was lost, emptied or
//! restored from an old backup): then nothing is written without `--force`.

use serde::Serialize;
use tenant_domain::mapping::{dropped_rules, role_name_of_arn};
use tenant_steps::error::classify;
use tenant_steps::mapping;

use crate::Ops;
use crate::exit::{CliError, Exit};

/// A rule the rebuild removes (or would remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DroppedRule {
    /// The group the rule matches (`tenant:{id}:members`).
    pub group: String,
    pub role_arn: String,
    /// Whether the rule's role exists: a live tenant whose users lose their credentials.
    pub role_exists: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciled {
    pub mapped_tenants: usize,
    /// Rules of the previous mapping that the table no longer maps.
    pub dropped: Vec<DroppedRule>,
}

/// Whether the role exists, by name; any answer but "no such role" is an error.
async fn role_exists(ops: &Ops, role_arn: &str) -> anyhow::Result<bool> {
    let Some(name) = role_name_of_arn(role_arn) else {
        return Ok(false);
    };
    match ops.ctx.clients.iam.get_role().role_name(name).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => Ok(false),
        Err(e) => Err(classify("iam", "GetRole", &e).into()),
    }
}

/// Refuses (exit 5) when live tenants would lose their rule, naming each; otherwise (or
/// with `force`) rebuilds. The check runs before the rebuild takes the mapping lock: a
/// tenant onboarded in between is in the table, so it only ever adds rules.
pub async fn reconcile(ops: &Ops, force: bool) -> anyhow::Result<Reconciled> {
    let current = mapping::current_rules(&ops.ctx).await?;
    let (desired, _) = mapping::desired(&ops.ctx).await?;
    let mut dropped = vec![];
    for rule in dropped_rules(&current, &desired) {
        dropped.push(DroppedRule {
            group: tenant_domain::mapping::tenant_of_rule(&rule.claim, &rule.value)
                .map_or_else(|| rule.value.clone(), |t| tenant_domain::TenantNames::new(&t).group),
            role_arn: rule.role_arn.clone(),
            role_exists: role_exists(ops, &rule.role_arn).await?,
        });
    }
    let live: Vec<_> = dropped.iter().filter(|d| d.role_exists).collect();
    if !live.is_empty() && !force {
        let names: Vec<_> = live.iter().map(|d| format!("{} ({})", d.group, d.role_arn)).collect();
        let message = format!(
            "reconcile would remove the role mapping rules of {} tenant(s) whose roles still exist: {}. \
             The tenants table does not map them (was it lost, emptied or restored from an old backup?); \
             their users would lose their credentials. Nothing was changed",
            live.len(),
            names.join(", ")
        );
        return Err(CliError::new(Exit::Refused, None, message)
            .next(
                "restore the tenants table, then run `tenantctl reconcile` again; or, to drop those rules on purpose, \
                 `tenantctl reconcile --force`",
            )
            .into());
    }
    let mapped_tenants = mapping::reconcile(&ops.ctx, "tenantctl-reconcile").await?;
    Ok(Reconciled {
        mapped_tenants,
        dropped,
    })
}
