//! Converging an ACTIVE tenant to the deployment's template in place, proving it, and
//! putting it back: the per-tenant work of `tenantctl repair`, written as steps (each an
//! idempotent call with the state machines' error names) so that a rollout state machine
//! can run the same three in order. Tenant data is never touched: only the role's
//! documents and the role mapping change.

use serde_json::{Value, json};
use tenant_domain::{Status, TenantId};
use tracing::info;

use crate::record::{self, attr};
use crate::resources::role::{self, RoleDocuments};
use crate::{Context, StepError, StepInput};

/// Verify retries a refusal of the tenant's own access while IAM may still be
/// propagating (as the onboarding state machine does).
const PROOF_ATTEMPTS: u32 = crate::verify::PROPAGATION_RETRIES + 1;

fn not_active(tenant: &TenantId, status: Option<Status>) -> StepError {
    StepError::StaleExecution {
        tenant: tenant.to_string(),
        message: match status {
            Some(s) => format!("the record is {s}: only an ACTIVE tenant is converged; nothing was changed"),
            None => "there is no record: nothing was changed".into(),
        },
    }
}

/// Writes the role's documents on the record (once per converge `by`), then converges the
/// role and the role mapping. Returns the documents kept. A retry of the same `by` keeps
/// the documents its first run recorded.
pub async fn converge(ctx: &Context, tenant: &TenantId, by: &str) -> Result<RoleDocuments, StepError> {
    let Some(current) = role::documents(ctx, tenant).await? else {
        return Err(StepError::ResourceConflict {
            tenant: tenant.to_string(),
            message: "the tenant has no role: a converge changes documents in place and creates nothing".into(),
        });
    };
    let serialized = serde_json::to_string(&current).map_err(StepError::internal)?;
    let previous = if record::keep_previous_documents(ctx, tenant, by, &serialized).await? {
        current
    } else {
        // Either this converge already ran (keep what it recorded) or the record is not ACTIVE.
        let rec = record::get(ctx, tenant.as_str()).await?;
        match rec {
            Some(r) if r.status == Status::Active && r.previous_by.as_deref() == Some(by) => r
                .previous_documents
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(current),
            other => return Err(not_active(tenant, other.map(|r| r.status))),
        }
    };
    role::converge(ctx, tenant).await?;
    crate::mapping::reconcile(ctx, by).await?;
    info!(by, "tenant role converged");
    Ok(previous)
}

/// The Verify step's proof, retried while IAM may still be propagating.
pub async fn prove(ctx: &Context, tenant: &TenantId, by: &str) -> Result<Value, StepError> {
    let mut retry_count = 0;
    // The converge just ended: the propagation budget runs from here.
    let changed_at = record::now();
    loop {
        let input = StepInput::from_value(json!({
            "tenant_id": tenant.as_str(),
            "execution": by,
            "retry_count": retry_count,
            "changed_at": changed_at,
        }))?;
        match crate::verify::verify(ctx, &input).await {
            Err(StepError::IamNotPropagated { .. }) if retry_count + 1 < PROOF_ATTEMPTS => {
                retry_count += 1;
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            other => return other,
        }
    }
}

/// Proven: the record names the version the tenant now has.
pub async fn record_converged(ctx: &Context, tenant: &TenantId) -> Result<(), StepError> {
    let version = aws_sdk_dynamodb::types::AttributeValue::S(ctx.settings.template_version());
    if !record::set_on_active(ctx, tenant, attr::TEMPLATE_VERSION, version).await? {
        let status = record::get(ctx, tenant.as_str()).await?.map(|r| r.status);
        return Err(not_active(tenant, status));
    }
    Ok(())
}

/// Not proven: the documents `by` kept go back on the role and the mapping is rebuilt.
/// None when `by` kept none: it failed before changing anything (the documents are kept
/// before the first change), so there is nothing to put back.
pub async fn revert(ctx: &Context, tenant: &TenantId, by: &str) -> Result<Option<RoleDocuments>, StepError> {
    let rec = record::get(ctx, tenant.as_str()).await?;
    let Some(kept) = rec
        .as_ref()
        .filter(|r| r.previous_by.as_deref() == Some(by))
        .and_then(|r| r.previous_documents.as_deref())
    else {
        info!(by, "nothing to revert: this converge changed nothing");
        return Ok(None);
    };
    // Offboarded meanwhile: the role is gone, and with it what there was to put back.
    if role::documents(ctx, tenant).await?.is_none() {
        info!(by, "nothing to revert: the tenant's role is gone");
        return Ok(None);
    }
    let previous: RoleDocuments = serde_json::from_str(kept).map_err(|e| StepError::Internal {
        message: format!("tenant {tenant}: the documents kept by {by} do not parse ({e}); nothing was put back"),
    })?;
    role::restore(ctx, tenant, &previous).await?;
    crate::mapping::reconcile(ctx, by).await?;
    info!(by, "tenant role reverted to its previous documents");
    Ok(Some(previous))
}
