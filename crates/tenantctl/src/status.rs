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

/// What `tenantctl status` shows: the record with its attempts, the live resources with
/// their names, and the timeline of the current (or last) execution.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tenant_id: String,
    pub record: Option<TenantRecord>,
    pub resources: Resources,
    pub names: Names,
    pub execution: Option<ExecutionReport>,
    /// Set when the record's execution has ended but left it unsettled.
    pub stuck: bool,
    /// What to do next, if anything.
    pub next: Option<String>,
}

/// Where the tenant's resources live, whether or not they exist now.
#[derive(Debug, Clone, Serialize)]
pub struct Names {
    pub group: String,
    pub role_name: String,
    pub secret_name: String,
    pub prefix: String,
    pub bucket: String,
    pub identity_pool: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecutionReport {
    pub arn: String,
    pub name: String,
    pub status: String,
    /// The Step Functions console page; None on the local stack.
    pub console_url: Option<String>,
    pub timeline: crate::timeline::Timeline,
}

pub async fn report(ops: &Ops, tenant: &TenantId) -> anyhow::Result<Report> {
    let st = status(ops, tenant).await?;
    let n = tenant_domain::TenantNames::new(tenant);
    let s = &ops.ctx.settings;
    let names = Names {
        group: n.group,
        role_name: n.role_name,
        secret_name: n.secret_name,
        prefix: n.prefix,
        bucket: s.bucket.clone(),
        identity_pool: s.identity_pool_id.clone(),
    };
    let execution = match crate::onboard::current_execution(ops, tenant).await {
        Ok(arn) => 'found: {
            let timeline = match crate::history::timeline(ops, &arn).await {
                Ok(t) => t,
                // The record outlives the execution's history: show the record alone.
                Err(e) if crate::exit::exit_of(&e) == crate::exit::Exit::NotFound => break 'found None,
                Err(e) => return Err(e),
            };
            let status = timeline
                .end
                .as_ref()
                .map_or("RUNNING".to_string(), |e| e.status.clone());
            Some(ExecutionReport {
                name: arn.rsplit(':').next().unwrap_or_default().to_string(),
                console_url: if ops.endpoint.is_some() {
                    None
                } else {
                    crate::history::console_url(&arn)
                },
                arn,
                status,
                timeline,
            })
        }
        // No record and no execution: reported as not found by the caller.
        Err(e) if st.record.is_none() && crate::exit::exit_of(&e) == crate::exit::Exit::NotFound => None,
        Err(e) => return Err(e),
    };
    let stuck = match &st.record {
        Some(r) if !r.status.is_settled() => !crate::onboard::owner_running(ops, r).await?,
        _ => false,
    };
    let next = match (&st.record, &execution) {
        (Some(r), Some(x)) if stuck || x.status != "RUNNING" => {
            let error = x.timeline.end.as_ref().and_then(|e| e.error.as_deref());
            crate::exit::next_command(&crate::exit::Ending {
                tenant: tenant.as_str(),
                execution_status: &x.status,
                error: r.error_name.as_deref().or(error),
                record_status: Some(r.status),
                owned: r.execution == x.name,
                owner: Some(&r.execution),
                remaining: &r.remaining,
            })
        }
        // The record names an execution that never started (a signup's StartExecution
        // failed) or whose history is gone.
        (Some(r), None) if stuck => Some(format!(
            "`tenantctl retry {tenant}` starts its onboarding again ({} is not running); `tenantctl offboard {tenant}` removes it",
            r.execution
        )),
        _ => None,
    };
    Ok(Report {
        tenant_id: st.tenant_id,
        record: st.record,
        resources: st.resources,
        names,
        execution,
        stuck,
        next,
    })
}
