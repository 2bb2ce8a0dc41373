//! `tenantctl repair <id>`: converges an ACTIVE tenant's role to the deployment's template
//! in place and proves it with the Verify step, keeping every piece of tenant data (the
//! secret, the objects, the group and its users are not touched). The role's documents
//! are written on the record before anything changes; a failed proof puts them back.

use serde::Serialize;
use tenant_domain::{Status, TenantId};
use tenant_steps::record::{self, attr};
use tenant_steps::resources::role::{self, RoleDocuments};
use tenant_steps::{StepError, StepInput};

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
    let Some(previous) = role::documents(ctx, tenant).await? else {
        return Err(refused(
            tenant,
            format!(
                "tenant {tenant} has no role: repair converges documents in place and creates nothing; nothing was changed"
            ),
            format!(
                "`tenantctl offboard {tenant} --keep-prefix` then `tenantctl retry {tenant}` rebuilds it, keeping the data"
            ),
        ));
    };
    // First the record: whatever happens next, what the role was is known.
    let kept = record::set_on_active(
        ctx,
        tenant,
        attr::PREVIOUS_DOCUMENTS,
        aws_sdk_dynamodb::types::AttributeValue::S(serde_json::to_string(&previous)?),
    )
    .await?;
    if !kept {
        return Err(refused(
            tenant,
            format!("tenant {tenant} stopped being ACTIVE while repair started; nothing was changed"),
            format!("`tenantctl status {tenant}`"),
        ));
    }
    let to_version = ctx.settings.template_version();
    let proof = converge_and_prove(ops, tenant, rec.attempt).await;
    match proof {
        Ok(()) => {
            record::set_on_active(
                ctx,
                tenant,
                attr::TEMPLATE_VERSION,
                aws_sdk_dynamodb::types::AttributeValue::S(to_version.clone()),
            )
            .await?;
            Ok(Repaired::Converged {
                tenant_id: tenant.to_string(),
                from_version: rec.template_version,
                to_version,
                previous,
            })
        }
        Err(e) => {
            role::restore(ctx, tenant, &previous).await?;
            tenant_steps::mapping::reconcile(ctx, &format!("repair-{tenant}")).await?;
            Ok(Repaired::Reverted {
                tenant_id: tenant.to_string(),
                error: e.name().to_string(),
                message: e.to_string(),
                previous,
            })
        }
    }
}

/// Verify retries a refusal of the tenant's own access while IAM may still be
/// propagating; so does repair, as the state machine would.
const PROOF_ATTEMPTS: u32 = tenant_steps::verify::PROPAGATION_RETRIES + 1;

async fn converge_and_prove(ops: &Ops, tenant: &TenantId, attempt: u32) -> Result<(), StepError> {
    let ctx = &ops.ctx;
    role::converge(ctx, tenant).await?;
    tenant_steps::mapping::reconcile(ctx, &format!("repair-{tenant}")).await?;
    let mut retry_count = 0;
    loop {
        let input = StepInput::from_value(serde_json::json!({
            "tenant_id": tenant.as_str(),
            "execution": format!("repair-{tenant}"),
            "attempt": attempt,
            "retry_count": retry_count,
        }))?;
        match tenant_steps::verify::verify(ctx, &input).await {
            Ok(_) => return Ok(()),
            Err(StepError::IamNotPropagated { .. }) if retry_count + 1 < PROOF_ATTEMPTS => {
                retry_count += 1;
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
