//! What exists for a tenant, read live from AWS (not from our own records), so an
//! operator sees the truth and tests can check for residue.

use serde::Serialize;
use tenant_domain::TenantId;
pub use tenant_steps::inspect::Resources;
use tenant_steps::record::{self, TenantRecord};

use crate::Ops;

#[derive(Debug, Clone, Serialize)]
pub struct TenantStatus {
    pub tenant_id: String,
    pub record: Option<TenantRecord>,
    pub resources: Resources,
}

pub async fn inspect(ops: &Ops, tenant: &TenantId) -> anyhow::Result<Resources> {
    Ok(tenant_steps::inspect::inspect(&ops.ctx, tenant).await?)
}

pub async fn status(ops: &Ops, tenant: &TenantId) -> anyhow::Result<TenantStatus> {
    let record = record::get(&ops.ctx, tenant.as_str()).await?;
    let resources = inspect(ops, tenant).await?;
    Ok(TenantStatus {
        tenant_id: tenant.to_string(),
        record,
        resources,
    })
}

pub async fn list(ops: &Ops) -> anyhow::Result<Vec<TenantRecord>> {
    Ok(record::list(&ops.ctx).await?)
}
