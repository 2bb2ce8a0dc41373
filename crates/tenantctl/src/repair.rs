//! `tenantctl repair <id>`: converges an ACTIVE tenant's role to the deployment's template
//! in place and proves it with the Verify step, keeping every piece of tenant data (the
//! secret, the objects, the group and its users are not touched). The role's documents
//! are written on the record before anything changes; a failed proof puts them back.

use serde::Serialize;
use tenant_domain::{Status, TenantId};
use tenant_steps::StepError;
use tenant_steps::converge;
use tenant_steps::record;
use tenant_steps::resources::role::{self, RoleDocuments};

use crate::Ops;
use crate::exit::{CliError, Exit};

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Repaired {
    /// Converged and proven; the record names the new version.
    Converged {
        tenant_id: String,
        from_version: Option<String>,
        to_version: String,
        previous: RoleDocuments,
    },
    /// The proof failed: the previous documents are back on the role.
    Reverted {
        tenant_id: String,
        /// The Verify step's error name (`IsolationNotProven`, ...).
        error: String,
        message: String,
        previous: RoleDocuments,
    },
}

fn refused(tenant: &TenantId, message: String, next: String) -> anyhow::Error {
    CliError::new(Exit::Refused, Some(tenant.as_str()), message)
        .next(next)
        .into()
}

pub async fn repair(ops: &Ops, tenant: &TenantId) -> anyhow::Result<Repaired> {
    let ctx = &ops.ctx;
    let Some(rec) = record::get(ctx, tenant.as_str()).await? else {
        return Err(CliError::new(
            Exit::NotFound,
            Some(tenant.as_str()),
            format!("tenant {tenant} has no record; nothing was changed"),
        )
        .next("`tenantctl list` shows the tenants")
        .into());
    };
    if rec.status != Status::Active {
        return Err(refused(
            tenant,
            format!(
                "tenant {tenant} is {}: repair converges ACTIVE tenants only; nothing was changed",
                rec.status
            ),
            format!(
                "`tenantctl status {tenant}` names the command for a {} tenant",
                rec.status
            ),
        ));
    }
    if role::documents(ctx, tenant).await?.is_none() {
        return Err(refused(
            tenant,
            format!(
                "tenant {tenant} has no role: repair converges documents in place and creates nothing; nothing was changed"
            ),
            format!(
                "`tenantctl offboard {tenant} --keep-prefix` then `tenantctl retry {tenant}` rebuilds it, keeping the data"
            ),
        ));
    }
    // One converge, one id: its kept documents are told apart from an earlier repair's.
    let by = format!("repair-{tenant}-{}-{}", record::now(), std::process::id());
    let to_version = ctx.settings.template_version();
    // The documents are on the record before anything changes (converge writes them first).
    let previous = match converge::converge(ctx, tenant, &by).await {
        Ok(previous) => previous,
        Err(e @ StepError::StaleExecution { .. }) => {
            return Err(refused(tenant, format!("{e}"), format!("`tenantctl status {tenant}`")));
        }
        Err(e) => return Err(e.into()),
    };
    let proven = match converge::prove(ctx, tenant, &by).await {
        Ok(_) => converge::record_converged(ctx, tenant).await,
        Err(e) => Err(e),
    };
    match proven {
        Ok(()) => Ok(Repaired::Converged {
            tenant_id: tenant.to_string(),
            from_version: rec.template_version,
            to_version,
            previous,
        }),
        Err(e) => {
            converge::revert(ctx, tenant, &by).await?;
            Ok(Repaired::Reverted {
                tenant_id: tenant.to_string(),
                error: e.name().to_string(),
                message: e.to_string(),
                previous,
            })
        }
    }
}
