//! Starting an onboarding and following it to the end.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_sdk_sfn::types::ExecutionStatus;
use serde::Serialize;
use serde_json::json;
use tenant_domain::{Status, TenantId};
use tenant_steps::record;

use crate::Ops;
use crate::exit::{CliError, Exit, not_found, refused};

#[derive(Debug, Clone, Serialize)]
pub struct Finished {
    pub execution_arn: String,
    pub status: String,
    pub error: Option<String>,
    pub cause: Option<String>,
}

pub use tenant_steps::launch::{execution_arn, execution_name};

/// `Started` is what the shared launcher reports.
pub type Started = tenant_steps::launch::Launched;

/// Where `tenantctl onboard` requests come from, as the record keeps it.
pub const SOURCE: &str = "tenantctl";

/// Starts the first attempt for a new tenant. A new id is claimed first, like a signup
/// claims it: one conditional write with the whole request, so of a signup, an event and
/// this command racing for one id exactly one wins, and the others are refused naming it.
pub async fn start(
    ops: &Ops,
    tenant: &TenantId,
    company_name: Option<&str>,
    admin_email: Option<&str>,
) -> anyhow::Result<Started> {
    let current = record::get(&ops.ctx, tenant.as_str()).await?;
    match &current {
        None => {
            let execution = execution_name(tenant, 1);
            let claim = record::Claim {
                tenant,
                company_name,
                admin_email,
                execution: &execution,
                attempt: 1,
                source: SOURCE,
            };
            if !record::claim(&ops.ctx, &claim).await? {
                let winner = record::get(&ops.ctx, tenant.as_str()).await?;
                if let Some(r) = winner.as_ref().filter(|r| joinable(r, company_name, admin_email)) {
                    return join(ops, tenant, r).await;
                }
                return Err(refused(tenant.as_str(), claimed_by(tenant, winner.as_ref()))
                    .next(format!("`tenantctl status {tenant}`"))
                    .into());
            }
            // An earlier first attempt refused before it wrote a record left an ended
            // execution under the first name: the launcher moves on to the next attempt.
            let launched = start_attempt(ops, tenant, company_name, admin_email, 1, true).await?;
            if launched.attempt != 1 {
                record::set_pending_execution(&ops.ctx, tenant, &launched.execution_name, launched.attempt).await?;
            }
            Ok(launched)
        }
        // Resuming is for the same request only: another request's onboarding is not ours.
        Some(r) if joinable(r, company_name, admin_email) => join(ops, tenant, r).await,
        Some(r) => Err(refused(
            tenant.as_str(),
            format!(
                "tenant {tenant} is already {} (attempt {}, execution {}, company name {}, admin email {}); nothing to onboard",
                r.status,
                r.attempt,
                r.execution,
                r.company_name.as_deref().unwrap_or("-"),
                r.admin_email.as_deref().unwrap_or("-")
            ),
        )
        .next(match r.status {
            Status::Failed => format!("`tenantctl retry {tenant}`"),
            Status::PendingApproval => format!("`tenantctl approve {tenant}` or `tenantctl reject {tenant}`"),
            _ => format!("`tenantctl status {tenant}`"),
        })
        .into()),
    }
}

/// Approves a signup held for an operator (`SignupMode=approve`): the record moves from
/// PENDING_APPROVAL to PENDING in one conditional write, then its onboarding starts through
/// the start path a signup uses (same execution name and input). If the start fails after
/// the approval, the record is a PENDING one whose execution never ran: `status` shows it
/// stuck and `retry` starts it.
pub async fn approve(ops: &Ops, tenant: &TenantId) -> anyhow::Result<Started> {
    let r = match record::approve(&ops.ctx, tenant).await? {
        record::Decided::Done(r) => r,
        other => return Err(undecidable(tenant, "approve", other).into()),
    };
    let launched = start_attempt(
        ops,
        tenant,
        r.company_name.as_deref(),
        r.admin_email.as_deref(),
        r.attempt,
        true,
    )
    .await?;
    if launched.attempt != r.attempt {
        record::set_pending_execution(&ops.ctx, tenant, &launched.execution_name, launched.attempt).await?;
    }
    Ok(launched)
}

/// A held signup an operator rejected: what it asked for (the record is gone).
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub tenant_id: String,
    pub company_name: Option<String>,
    pub admin_email: Option<String>,
    pub message: String,
}

/// Rejects a signup held for an operator: its record is deleted (conditional on it still
/// being held), so the id is free again; nothing was created for it.
pub async fn reject(ops: &Ops, tenant: &TenantId) -> anyhow::Result<Rejected> {
    match record::reject(&ops.ctx, tenant).await? {
        record::Decided::Done(r) => Ok(Rejected {
            tenant_id: tenant.to_string(),
            message: format!(
                "rejected the signup of {tenant} (company name {}, admin email {}); nothing was created and the id {tenant} is free again",
                r.company_name.as_deref().unwrap_or("-"),
                r.admin_email.as_deref().unwrap_or("-")
            ),
            company_name: r.company_name,
            admin_email: r.admin_email,
        }),
        other => Err(undecidable(tenant, "reject", other).into()),
    }
}

/// Why an approval or a rejection was refused: no held signup under the id (exit 3), or
/// the record is not waiting for an operator (exit 5, naming its status).
fn undecidable(tenant: &TenantId, verb: &str, d: record::Decided) -> CliError {
    match d {
        record::Decided::NotHeld(r) => refused(
            tenant.as_str(),
            format!(
                "tenant {tenant} is {} (attempt {}, execution {}), not PENDING_APPROVAL; nothing to {verb}",
                r.status, r.attempt, r.execution
            ),
        )
        .next(format!("`tenantctl status {tenant}`")),
        record::Decided::NoRecord | record::Decided::Done(_) => not_found(
            tenant.as_str(),
            format!("no signup of {tenant} is waiting for approval; nothing to {verb}"),
        )
        .next("`tenantctl list --status pending-approval`"),
    }
}

/// An onboarding in flight that a repeat of its request joins (idempotent, as a repeated
/// signup is).
fn joinable(r: &record::TenantRecord, company_name: Option<&str>, admin_email: Option<&str>) -> bool {
    matches!(r.status, Status::Pending | Status::Provisioning) && same_request(r, company_name, admin_email)
}

/// Joins the record's own attempt with the record's own request, so the start is the very
/// same StartExecution (same name, same input) whoever sends it first.
async fn join(ops: &Ops, tenant: &TenantId, r: &record::TenantRecord) -> anyhow::Result<Started> {
    start_attempt(
        ops,
        tenant,
        r.company_name.as_deref(),
        r.admin_email.as_deref(),
        r.attempt,
        false,
    )
    .await
}

/// Whether a request asks for what the record holds (a field left out asks for nothing).
fn same_request(r: &record::TenantRecord, company_name: Option<&str>, admin_email: Option<&str>) -> bool {
    company_name.is_none_or(|n| r.company_name.as_deref() == Some(n))
        && admin_email.is_none_or(|e| r.admin_email.as_deref() == Some(e))
}

/// The refusal of a claim that lost: who holds the id now.
fn claimed_by(tenant: &TenantId, winner: Option<&record::TenantRecord>) -> String {
    match winner {
        Some(r) => format!(
            "tenant {tenant} was claimed by another request first: {}; nothing of this request was recorded",
            tenant_steps::signup::held_by(r)
        ),
        None => format!(
            "tenant {tenant} was claimed by another request and removed again; nothing of this request was recorded"
        ),
    }
}

pub async fn start_attempt(
    ops: &Ops,
    tenant: &TenantId,
    company_name: Option<&str>,
    admin_email: Option<&str>,
    attempt: u32,
    skip_ended: bool,
) -> anyhow::Result<Started> {
    Ok(tenant_steps::launch::start_onboarding(
        &ops.ctx,
        &ops.onboarding_arn,
        tenant,
        company_name,
        admin_email,
        attempt,
        skip_ended,
    )
    .await?)
}

/// The execution's status and when it stopped; None if it does not exist (a signup whose
/// StartExecution failed left a PENDING record naming an execution that never ran).
async fn execution_state(ops: &Ops, arn: &str) -> anyhow::Result<Option<(ExecutionStatus, Option<f64>)>> {
    match ops.ctx.clients.sfn.describe_execution().execution_arn(arn).send().await {
        Ok(out) => Ok(Some((out.status().clone(), out.stop_date().map(|d| d.as_secs_f64())))),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_execution_does_not_exist()) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("describing {arn}")),
    }
}

async fn execution_status(ops: &Ops, arn: &str) -> anyhow::Result<Option<ExecutionStatus>> {
    Ok(execution_state(ops, arn).await?.map(|s| s.0))
}

/// Seconds since the record was last written: how long a PENDING record has waited for
/// the execution its writer was about to start.
fn record_age(rec: &record::TenantRecord) -> f64 {
    record::now().saturating_sub(rec.updated_at) as f64
}

/// The ARN of the execution that owns a record, from its name.
fn owner_arn(ops: &Ops, tenant: &str, execution: &str) -> Option<String> {
    if tenant_steps::launch::is_offboarding_execution(tenant, execution) {
        ops.offboarding_arn.as_deref().map(|sm| execution_arn(sm, execution))
    } else {
        Some(execution_arn(&ops.onboarding_arn, execution))
    }
}

/// Polls the execution until it leaves RUNNING.
pub async fn wait(ops: &Ops, execution_arn: &str, timeout: Duration) -> anyhow::Result<Finished> {
    let deadline = Instant::now() + timeout;
    // Polls back off: many waiters at 5 Hz each would load the service more than the
    // executions they follow.
    let mut pause = Duration::from_millis(200);
    loop {
        let result = ops
            .ctx
            .clients
            .sfn
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await;
        match result {
            Ok(out) if *out.status() != ExecutionStatus::Running => {
                return Ok(Finished {
                    execution_arn: execution_arn.to_string(),
                    status: out.status().as_str().to_string(),
                    error: out.error().map(str::to_string),
                    cause: out.cause().map(str::to_string),
                });
            }
            Ok(_) => {}
            // A poll that does not get through says nothing about the execution: keep
            // following it until the deadline.
            Err(e)
                if Instant::now() < deadline
                    && tenant_steps::error::classify("states", "DescribeExecution", &e).is_transient() => {}
            Err(e) => return Err(e).with_context(|| format!("describing {execution_arn}")),
        }
        if Instant::now() > deadline {
            let tenant = execution_arn.rsplit(':').next().unwrap_or_default();
            return Err(CliError::new(
                Exit::StillRunning,
                None,
                format!("execution {execution_arn} is still RUNNING after {timeout:?}"),
            )
            .next(format!(
                "`tenantctl watch` the tenant of execution {tenant} to keep following it"
            ))
            .into());
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 3 / 2).min(Duration::from_secs(2));
    }
}

/// Starts a new attempt for a FAILED (or OFFBOARDED) tenant: a new attempt number and
/// execution name; the old execution can no longer write the record.
pub async fn retry(ops: &Ops, tenant: &TenantId) -> anyhow::Result<Started> {
    let Some(current) = record::get(&ops.ctx, tenant.as_str()).await? else {
        return Err(not_found(tenant.as_str(), format!("tenant {tenant} has no record"))
            .next(format!("`tenantctl onboard {tenant}`"))
            .into());
    };
    let (company_name, admin_email) = (current.company_name.as_deref(), current.admin_email.as_deref());
    match current.status {
        Status::Failed | Status::Offboarded => start_attempt(ops, tenant, company_name, admin_email, current.attempt + 1, true).await,
        // Idempotent: the attempt in flight is the retry (or it died, and the launcher says so).
        Status::Provisioning => start_attempt(ops, tenant, company_name, admin_email, current.attempt, false).await,
        // A PENDING record whose execution never started (its StartExecution failed):
        // start it, once its writer has had time to. Running: the retry is in flight.
        Status::Pending => {
            let owner = execution_arn(&ops.onboarding_arn, &current.execution);
            match execution_status(ops, &owner).await? {
                None if record_age(&current) < TAKEOVER_GRACE.as_secs_f64() => Err(refused(
                    tenant.as_str(),
                    format!(
                        "tenant {tenant} is PENDING and execution {} has not started yet; its signup may still be \
                         starting it",
                        current.execution
                    ),
                )
                .next(format!(
                    "`tenantctl retry {tenant}` again in {:.0} s",
                    TAKEOVER_GRACE.as_secs_f64() - record_age(&current)
                ))
                .into()),
                None => start_attempt(ops, tenant, company_name, admin_email, current.attempt, true).await,
                Some(ExecutionStatus::Running) => {
                    start_attempt(ops, tenant, company_name, admin_email, current.attempt, false).await
                }
                // Ended without claiming the record (it failed before RecordProvisioning,
                // e.g. an input an earlier version built): nothing was created, since
                // every resource step follows the claim. The next attempt (a new execution
                // name) may claim a PENDING record.
                Some(_) => start_attempt(ops, tenant, company_name, admin_email, current.attempt, true).await,
            }
        }
        Status::RollbackFailed => Err(refused(
            tenant.as_str(),
            format!(
                "tenant {tenant} is ROLLBACK_FAILED; remaining: {}",
                current.remaining.join(", ")
            ),
        )
        .next(format!(
            "`tenantctl offboard {tenant} --keep-prefix` removes what remains (keeping any objects), then `tenantctl retry {tenant}`"
        ))
        .into()),
        other => Err(refused(
            tenant.as_str(),
            format!("tenant {tenant} is {other}; only FAILED or OFFBOARDED tenants can be retried"),
        )
        .next(format!("`tenantctl status {tenant}`"))
        .into()),
    }
}

/// How long after an execution stopped its last Lambda may still be running: Step
/// Functions stops the workflow, not an invocation in flight (function timeout 30 s).
pub const TAKEOVER_GRACE: Duration = Duration::from_secs(45);

/// Starts offboarding: removes the mapping rule, role, secret (with a recovery window),
/// objects (unless kept) and group, then records OFFBOARDED. A record left unsettled by an
/// execution that has stopped is taken over once `grace` has passed since it stopped.
pub async fn offboard(
    ops: &Ops,
    tenant: &TenantId,
    keep_prefix: bool,
    secret_recovery_days: i64,
    grace: Duration,
) -> anyhow::Result<Started> {
    let arn = ops.offboarding_arn.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "{} is not set",
            tenant_steps::config::env::OFFBOARDING_STATE_MACHINE_ARN
        )
    })?;
    if !(7..=30).contains(&secret_recovery_days) {
        return Err(CliError::new(
            Exit::Usage,
            Some(tenant.as_str()),
            "the secret recovery window must be 7–30 days (Secrets Manager's range)",
        )
        .into());
    }
    let Some(current) = record::get(&ops.ctx, tenant.as_str()).await? else {
        // Right after `onboard --no-wait` the execution runs before its first step wrote
        // the record: say what to wait for rather than "no record".
        let first = execution_arn(&ops.onboarding_arn, &execution_name(tenant, 1));
        if execution_status(ops, &first).await? == Some(ExecutionStatus::Running) {
            return Err(refused(
                tenant.as_str(),
                format!(
                    "tenant {tenant} has no record yet: onboarding execution {} is starting",
                    execution_name(tenant, 1)
                ),
            )
            .next(format!(
                "`tenantctl watch {tenant}` until it ends, then `tenantctl offboard {tenant} --keep-prefix`"
            ))
            .into());
        }
        return Err(not_found(
            tenant.as_str(),
            format!("tenant {tenant} has no record; nothing to offboard"),
        )
        .into());
    };
    let mut stale_owner = None;
    match current.status {
        Status::Active | Status::Failed | Status::RollbackFailed => {}
        Status::Offboarded => {
            return Err(refused(tenant.as_str(), format!("tenant {tenant} is already OFFBOARDED")).into());
        }
        Status::PendingApproval => {
            return Err(refused(
                tenant.as_str(),
                format!("tenant {tenant} is a signup waiting for approval; nothing was created to offboard"),
            )
            .next(format!("`tenantctl reject {tenant}` frees the id"))
            .into());
        }
        Status::Pending | Status::Provisioning | Status::RollingBack | Status::Offboarding => {
            let owner = owner_arn(ops, tenant.as_str(), &current.execution)
                .ok_or_else(|| anyhow::anyhow!("cannot tell which state machine ran {}", current.execution))?;
            // An execution that never started is treated as stopped when the record was
            // last written (the grace then covers a writer about to start it).
            let (status, stopped) = execution_state(ops, &owner)
                .await?
                .unwrap_or((ExecutionStatus::Aborted, Some(current.updated_at as f64)));
            if status == ExecutionStatus::Running {
                if current.status == Status::Offboarding {
                    return Ok(Started {
                        tenant_id: tenant.to_string(),
                        execution_arn: owner,
                        execution_name: current.execution,
                        attempt: current.attempt,
                        already_running: true,
                    });
                }
                return Err(refused(
                    tenant.as_str(),
                    format!(
                        "tenant {tenant} is {} and execution {} is still running",
                        current.status, current.execution
                    ),
                )
                .next(format!(
                    "`tenantctl watch {tenant}` until it ends, or stop it with \
                     `aws stepfunctions stop-execution --execution-arn {owner}` and offboard again"
                ))
                .into());
            }
            let since = stopped.map(|t| record::now() as f64 - t).unwrap_or(f64::MAX);
            if !grace.is_zero() && since < grace.as_secs_f64() {
                return Err(refused(
                    tenant.as_str(),
                    format!(
                        "execution {} of {tenant} stopped {since:.0} s ago; a step it started may still be running",
                        current.execution
                    ),
                )
                .next(format!(
                    "the same `tenantctl offboard {tenant} …` again in {:.0} s",
                    grace.as_secs_f64() - since
                ))
                .into());
            }
            stale_owner = Some(current.execution.clone());
        }
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
        Some(r) => owner_arn(ops, tenant.as_str(), &r.execution)
            .ok_or_else(|| anyhow::anyhow!("cannot tell which state machine ran {}", r.execution)),
        None => Err(not_found(
            tenant.as_str(),
            format!("tenant {tenant} has no record and no execution"),
        )
        .next(format!("`tenantctl onboard {tenant}`"))
        .into()),
    }
}

/// Whether a record's owner is still working on it: an unsettled record whose execution
/// has ended is stuck, and `offboard` can take it over.
pub async fn owner_running(ops: &Ops, rec: &record::TenantRecord) -> anyhow::Result<bool> {
    match owner_arn(ops, &rec.tenant_id, &rec.execution) {
        Some(arn) => Ok(execution_status(ops, &arn).await? == Some(ExecutionStatus::Running)),
        None => Ok(false),
    }
}
