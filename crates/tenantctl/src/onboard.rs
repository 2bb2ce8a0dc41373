//! Starting an onboarding and following it to the end.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use aws_sdk_sfn::types::ExecutionStatus;
use serde::Serialize;
use serde_json::json;
use tenant_domain::{Status, TenantId};
use tenant_steps::record;

use crate::Ops;

#[derive(Debug, Clone, Serialize)]
pub struct Started {
    pub tenant_id: String,
    pub execution_name: String,
    pub execution_arn: String,
    pub attempt: u32,
    /// True when an execution for this attempt was already running (idempotent start).
    pub already_running: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finished {
    pub execution_arn: String,
    pub status: String,
    pub error: Option<String>,
    pub cause: Option<String>,
}

pub fn execution_name(tenant: &TenantId, attempt: u32) -> String {
    format!("{tenant}-{attempt}")
}

pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

/// Starts the first attempt for a new tenant. The execution name is derived from the
/// tenant and attempt, so starting twice (even concurrently) yields one execution.
pub async fn start(ops: &Ops, tenant: &TenantId, name: Option<&str>, email: Option<&str>) -> anyhow::Result<Started> {
    let current = record::get(&ops.ctx, tenant.as_str()).await?;
    let attempt = match &current {
        None => 1,
        Some(r) if r.status == Status::Provisioning => r.attempt,
        Some(r) => bail!(
            "tenant {tenant} is already {} (attempt {}, execution {}); nothing to onboard",
            r.status,
            r.attempt,
            r.execution
        ),
    };
    start_attempt(ops, tenant, name, email, attempt).await
}

pub async fn start_attempt(
    ops: &Ops,
    tenant: &TenantId,
    name: Option<&str>,
    email: Option<&str>,
    attempt: u32,
) -> anyhow::Result<Started> {
    let execution_name = execution_name(tenant, attempt);
    let input = json!({ "tenant_id": tenant, "name": name, "email": email, "attempt": attempt });
    let result = ops
        .ctx
        .clients
        .sfn
        .start_execution()
        .state_machine_arn(&ops.onboarding_arn)
        .name(&execution_name)
        .input(input.to_string())
        .send()
        .await;
    let (execution_arn, already_running) = match result {
        Ok(out) => (out.execution_arn().to_string(), false),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_execution_already_exists()) => {
            let arn = execution_arn(&ops.onboarding_arn, &execution_name);
            let status = execution_status(ops, &arn).await?;
            if status != ExecutionStatus::Running {
                bail!(
                    "execution {execution_name} already ran and ended {} without settling tenant {tenant}; \
                     run `tenantctl offboard {tenant}` to remove what it left, then `tenantctl retry {tenant}`",
                    status.as_str()
                );
            }
            (arn, true)
        }
        Err(e) => return Err(e).with_context(|| format!("starting onboarding of {tenant}")),
    };
    Ok(Started {
        tenant_id: tenant.to_string(),
        execution_name,
        execution_arn,
        attempt,
        already_running,
    })
}

async fn execution_status(ops: &Ops, arn: &str) -> anyhow::Result<ExecutionStatus> {
    match ops.ctx.clients.sfn.describe_execution().execution_arn(arn).send().await {
        Ok(out) => Ok(out.status().clone()),
        // Gone (history expired, or never started): certainly not running.
        Err(e) if e.as_service_error().is_some_and(|se| se.is_execution_does_not_exist()) => {
            Ok(ExecutionStatus::Aborted)
        }
        Err(e) => Err(e).with_context(|| format!("describing {arn}")),
    }
}
/// The ARN of the execution that owns a record, from its name.
fn owner_arn(ops: &Ops, execution: &str) -> Option<String> {
    if execution.contains("-offboard-") {
        ops.offboarding_arn.as_deref().map(|sm| execution_arn(sm, execution))
    } else {
        Some(execution_arn(&ops.onboarding_arn, execution))
    }
}

/// Polls the execution until it leaves RUNNING.
pub async fn wait(ops: &Ops, execution_arn: &str, timeout: Duration) -> anyhow::Result<Finished> {
    let deadline = Instant::now() + timeout;
    loop {
        let out = ops
            .ctx
            .clients
            .sfn
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .with_context(|| format!("describing {execution_arn}"))?;
        if *out.status() != ExecutionStatus::Running {
            return Ok(Finished {
                execution_arn: execution_arn.to_string(),
                status: out.status().as_str().to_string(),
                error: out.error().map(str::to_string),
                cause: out.cause().map(str::to_string),
            });
        }
        if Instant::now() > deadline {
            bail!("execution {execution_arn} still RUNNING after {timeout:?}; follow it with `tenantctl status`");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts a new attempt for a FAILED (or OFFBOARDED) tenant: a new attempt number and
/// execution name; the old execution can no longer write the record.
pub async fn retry(ops: &Ops, tenant: &TenantId) -> anyhow::Result<Started> {
    let Some(current) = record::get(&ops.ctx, tenant.as_str()).await? else {
        bail!("tenant {tenant} has no record; use `tenantctl onboard {tenant}`");
    };
    match current.status {
        Status::Failed | Status::Offboarded => {}
        Status::Provisioning => {
            // Idempotent: the attempt in flight is the retry.
            return start_attempt(
                ops,
                tenant,
                current.name.as_deref(),
                current.email.as_deref(),
                current.attempt,
            )
            .await;
        }
        Status::RollbackFailed => bail!(
            "tenant {tenant} is ROLLBACK_FAILED; remaining: {}. Run `tenantctl offboard {tenant}` to remove what remains, then retry",
            current.remaining.join(", ")
        ),
        other => bail!("tenant {tenant} is {other}; only FAILED or OFFBOARDED tenants can be retried"),
    }
    start_attempt(
        ops,
        tenant,
        current.name.as_deref(),
        current.email.as_deref(),
        current.attempt + 1,
    )
    .await
}

/// Starts offboarding: removes the mapping rule, role, secret (with a recovery window),
/// objects (unless kept) and group, then records OFFBOARDED.
pub async fn offboard(
    ops: &Ops,
    tenant: &TenantId,
    keep_prefix: bool,
    secret_recovery_days: i64,
) -> anyhow::Result<Started> {
    let arn = ops.offboarding_arn.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "{} is not set",
            tenant_steps::config::env::OFFBOARDING_STATE_MACHINE_ARN
        )
    })?;
    if !(7..=30).contains(&secret_recovery_days) {
        bail!("the secret recovery window must be 7–30 days (Secrets Manager's range)");
    }
    let Some(current) = record::get(&ops.ctx, tenant.as_str()).await? else {
        bail!("tenant {tenant} has no record; nothing to offboard");
    };
    if current.status == Status::Offboarding {
        return Ok(Started {
            tenant_id: tenant.to_string(),
            execution_arn: execution_arn(arn, &current.execution),
            execution_name: current.execution,
            attempt: current.attempt,
            already_running: true,
        });
    }
    // A record left unsettled by an execution that has stopped (timed out, was stopped,
    // or crashed in its own rollback) can be taken over; a running owner cannot.
    let mut stale_owner = None;
    if !Status::Offboarding.may_follow(Some(current.status)) {
        let owner = owner_arn(ops, &current.execution)
            .ok_or_else(|| anyhow::anyhow!("cannot tell which state machine ran {}", current.execution))?;
        let status = execution_status(ops, &owner).await?;
        if status == ExecutionStatus::Running {
            bail!(
                "tenant {tenant} is {} and execution {} is still running; wait for it, or stop it with \
                 `aws stepfunctions stop-execution --execution-arn {owner}` and offboard again",
                current.status,
                current.execution
            );
        }
        stale_owner = Some(current.execution.clone());
    }
    let execution_name = format!("{tenant}-{}-offboard-{}", current.attempt, record::now());
    let input = json!({
        "tenant_id": tenant,
        "attempt": current.attempt,
        "keep_prefix": keep_prefix,
        "secret_recovery_days": secret_recovery_days,
        "stale_owner": stale_owner,
    });
    let out = ops
        .ctx
        .clients
        .sfn
        .start_execution()
        .state_machine_arn(arn)
        .name(&execution_name)
        .input(input.to_string())
        .send()
        .await
        .with_context(|| format!("starting offboarding of {tenant}"))?;
    Ok(Started {
        tenant_id: tenant.to_string(),
        execution_name,
        execution_arn: out.execution_arn().to_string(),
        attempt: current.attempt,
        already_running: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_arn_from_state_machine_arn() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:us-east-1:123456789012:stateMachine:tenant-onboarding",
                "acme-1"
            ),
            "arn:aws:states:us-east-1:123456789012:execution:tenant-onboarding:acme-1"
        );
    }
}

/// One line of an execution's progress.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub id: i64,
    pub timestamp: String,
    /// Seconds since the execution started.
    pub elapsed: f64,
    pub event: String,
    pub state: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// The tenant's latest execution, as an ARN: the record's owner, unless a newer attempt
/// has started but not yet written the record.
pub async fn current_execution(ops: &Ops, tenant: &TenantId) -> anyhow::Result<String> {
    let rec = record::get(&ops.ctx, tenant.as_str()).await?;
    let next_attempt = rec.as_ref().map_or(1, |r| r.attempt + 1);
    let next = execution_arn(&ops.onboarding_arn, &execution_name(tenant, next_attempt));
    let exists = match ops
        .ctx
        .clients
        .sfn
        .describe_execution()
        .execution_arn(&next)
        .send()
        .await
    {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|se| se.is_execution_does_not_exist()) => false,
        Err(e) => return Err(e).with_context(|| format!("describing {next}")),
    };
    match rec {
        _ if exists => Ok(next),
        Some(r) => owner_arn(ops, &r.execution)
            .ok_or_else(|| anyhow::anyhow!("cannot tell which state machine ran {}", r.execution)),
        None => bail!("tenant {tenant} has no record and no execution; start one with `tenantctl onboard {tenant}`"),
    }
}

/// Reports each history event of the execution as it happens, until it ends.
pub async fn watch(ops: &Ops, execution_arn: &str, mut report: impl FnMut(&Progress)) -> anyhow::Result<Finished> {
    let mut seen = 0i64;
    let mut started: Option<f64> = None;
    loop {
        let mut pages = ops
            .ctx
            .clients
            .sfn
            .get_execution_history()
            .execution_arn(execution_arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.with_context(|| format!("reading the history of {execution_arn}"))?;
            for e in page.events() {
                if e.id() <= seen {
                    continue;
                }
                seen = e.id();
                let (error, cause) = failure_of(e);
                let at = e.timestamp().as_secs_f64();
                let elapsed = at - *started.get_or_insert(at);
                report(&Progress {
                    id: e.id(),
                    timestamp: e.timestamp().to_string(),
                    elapsed,
                    event: e.r#type().as_str().to_string(),
                    state: e.state_entered_event_details().map(|d| d.name().to_string()),
                    error,
                    cause,
                });
            }
        }
        let status = execution_status(ops, execution_arn).await?;
        if status != ExecutionStatus::Running {
            return wait(ops, execution_arn, Duration::from_secs(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn failure_of(e: &aws_sdk_sfn::types::HistoryEvent) -> (Option<String>, Option<String>) {
    if let Some(d) = e.lambda_function_failed_event_details() {
        return (d.error().map(str::to_string), d.cause().map(str::to_string));
    }
    if let Some(d) = e.task_failed_event_details() {
        return (d.error().map(str::to_string), d.cause().map(str::to_string));
    }
    if let Some(d) = e.execution_failed_event_details() {
        return (d.error().map(str::to_string), d.cause().map(str::to_string));
    }
    (None, None)
}

/// Whether a record's owner is still working on it: an unsettled record whose execution
/// has ended is stuck, and `offboard` can take it over.
pub async fn owner_running(ops: &Ops, rec: &record::TenantRecord) -> anyhow::Result<bool> {
    match owner_arn(ops, &rec.execution) {
        Some(arn) => Ok(execution_status(ops, &arn).await? == ExecutionStatus::Running),
        None => Ok(false),
    }
}
