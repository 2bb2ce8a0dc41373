//! The tenant record in DynamoDB. Writes are conditional: status changes on the status
//! model's allowed predecessors, and every write of onboarding and compensation on the
//! execution that owns the record, so a stale execution can never overwrite a newer
//! attempt. Offboarding takes ownership of a settled record (`take_over`), or of a stuck
//! one whose owner the caller has checked is gone.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use tenant_domain::{Status, TenantId};

use crate::error::{classify, condition_held};
use crate::{Context, StepError, StepInput};

/// The role-mapping lock lives in the tenants table under a key no tenant id can take.
pub const LOCK_KEY: &str = "#role-mapping-lock";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantRecord {
    pub tenant_id: String,
    pub status: Status,
    pub execution: String,
    pub attempt: u32,
    pub name: Option<String>,
    pub email: Option<String>,
    pub mapped: bool,
    pub role_arn: Option<String>,
    pub failed_step: Option<String>,
    pub error_name: Option<String>,
    pub error_message: Option<String>,
    pub remaining: Vec<String>,
    /// Set once offboarded: the tenant's secret and kept objects outlive its attempts.
    pub retain_data: bool,
    pub created_at: u64,
    pub updated_at: u64,
    /// What each onboarding attempt did, oldest first (attempts written before this was
    /// recorded are absent).
    pub attempts: Vec<AttemptRecord>,
}

/// One onboarding attempt: written when it starts (`attempt_{n}_started`) and when it
/// settles (`attempt_{n}_ended`). One top-level attribute per attempt and event, so each
/// write is idempotent under re-delivery and needs no map to exist beforehand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub execution: Option<String>,
    pub started_at: Option<u64>,
    pub ended_at: Option<u64>,
    /// The status the attempt settled in (ACTIVE, FAILED, ROLLBACK_FAILED); None while running
    /// or if it never settled.
    pub outcome: Option<Status>,
    pub failed_step: Option<String>,
    pub error_name: Option<String>,
    pub error_message: Option<String>,
}

fn started_key(attempt: u32) -> String {
    format!("attempt_{attempt}_started")
}

fn ended_key(attempt: u32) -> String {
    format!("attempt_{attempt}_ended")
}

fn attempts_of(item: &HashMap<String, AttributeValue>, last: u32) -> Vec<AttemptRecord> {
    let map = |k: String| item.get(&k).and_then(|v| v.as_m().ok()).cloned();
    (1..=last)
        .filter_map(|n| {
            let started = map(started_key(n));
            let ended = map(ended_key(n));
            if started.is_none() && ended.is_none() {
                return None;
            }
            let started = started.unwrap_or_default();
            let ended = ended.unwrap_or_default();
            let num = |m: &HashMap<String, AttributeValue>, k| Some(get_n(m, k)).filter(|v| *v > 0);
            Some(AttemptRecord {
                attempt: n,
                execution: get_s(&started, "execution").or_else(|| get_s(&ended, "execution")),
                started_at: num(&started, "started_at"),
                ended_at: num(&ended, "ended_at"),
                outcome: get_s(&ended, "status").and_then(|s| Status::parse(&s)),
                failed_step: get_s(&ended, "failed_step"),
                error_name: get_s(&ended, "error_name"),
                error_message: get_s(&ended, "error_message"),
            })
        })
        .collect()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s(item: &HashMap<String, AttributeValue>, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &HashMap<String, AttributeValue>, k: &str) -> u64 {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl TenantRecord {
    pub fn from_item(item: &HashMap<String, AttributeValue>) -> Option<Self> {
        Some(TenantRecord {
            tenant_id: get_s(item, "tenant_id")?,
            status: Status::parse(&get_s(item, "status")?)?,
            execution: get_s(item, "execution").unwrap_or_default(),
            attempt: get_n(item, "attempt") as u32,
            name: get_s(item, "display_name"),
            email: get_s(item, "email"),
            mapped: item
                .get("mapped")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
            role_arn: get_s(item, "role_arn"),
            failed_step: get_s(item, "failed_step"),
            error_name: get_s(item, "error_name"),
            error_message: get_s(item, "error_message"),
            remaining: item
                .get("remaining")
                .and_then(|v| v.as_l().ok())
                .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
                .unwrap_or_default(),
            retain_data: item
                .get("retain_data")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
            created_at: get_n(item, "created_at"),
            updated_at: get_n(item, "updated_at"),
            attempts: attempts_of(item, get_n(item, "attempt") as u32),
        })
    }
}

pub async fn get(ctx: &Context, tenant: &str) -> Result<Option<TenantRecord>, StepError> {
    let out = ctx
        .clients
        .ddb
        .get_item()
        .table_name(&ctx.settings.table)
        .key("tenant_id", s(tenant))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| classify("dynamodb", "GetItem", &e))?;
    Ok(out.item().and_then(TenantRecord::from_item))
}

/// Every tenant record (the lock item is skipped).
pub async fn list(ctx: &Context) -> Result<Vec<TenantRecord>, StepError> {
    let mut out = vec![];
    let mut pages = ctx
        .clients
        .ddb
        .scan()
        .table_name(&ctx.settings.table)
        .consistent_read(true)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("dynamodb", "Scan", &e))?;
        out.extend(page.items().iter().filter_map(TenantRecord::from_item));
    }
    out.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
    Ok(out)
}

/// Explains a failed condition by reading what is there now.
async fn stale(ctx: &Context, tenant: &TenantId, execution: &str, wanted: Status) -> StepError {
    let message = match get(ctx, tenant.as_str()).await {
        Ok(Some(r)) if r.execution != execution => format!(
            "record is owned by execution {} (attempt {}, status {}); execution {execution} may not set {wanted}",
            r.execution, r.attempt, r.status
        ),
        Ok(Some(r)) => format!("record is {}; {wanted} may not follow it", r.status),
        Ok(None) => format!("no record exists; {wanted} needs one"),
        Err(e) => format!("conditional write of {wanted} failed and the record could not be read: {e}"),
    };
    StepError::StaleExecution {
        tenant: tenant.to_string(),
        message,
    }
}

/// An UpdateItem of the tenant's record.
fn update_record(ctx: &Context, tenant: &TenantId) -> UpdateItemFluentBuilder {
    ctx.clients
        .ddb
        .update_item()
        .table_name(&ctx.settings.table)
        .key("tenant_id", s(tenant.as_str()))
}

/// Sends a write conditional on `execution` owning the record; a failed condition is
/// explained (by reading the record) as a stale execution that wanted `wanted`.
async fn send_owned(
    ctx: &Context,
    tenant: &TenantId,
    execution: &str,
    wanted: Status,
    req: UpdateItemFluentBuilder,
) -> Result<(), StepError> {
    if condition_held("UpdateItem", req.send().await)? {
        Ok(())
    } else {
        Err(stale(ctx, tenant, execution, wanted).await)
    }
}

/// Starts (or re-enters) an attempt: creates the record, or takes it over from a settled
/// earlier attempt that is FAILED or OFFBOARDED.
pub async fn start_attempt(ctx: &Context, tenant: &TenantId, input: &StepInput) -> Result<(), StepError> {
    let mut sets = vec![
        "#s = :prov",
        "execution = :e",
        "attempt = :a",
        "updated_at = :now",
        "created_at = if_not_exists(created_at, :now)",
        "mapped = if_not_exists(mapped, :f)",
        "#started = if_not_exists(#started, :started)",
    ];
    let started = AttributeValue::M(HashMap::from([
        ("execution".to_string(), s(&input.execution)),
        ("started_at".to_string(), n(now())),
    ]));
    let mut req = update_record(ctx, tenant)
        .expression_attribute_names("#started", started_key(input.attempt))
        .expression_attribute_values(":started", started);
    if let Some(name) = &input.name {
        sets.push("display_name = :name");
        req = req.expression_attribute_values(":name", s(name));
    }
    if let Some(email) = &input.email {
        sets.push("email = :email");
        req = req.expression_attribute_values(":email", s(email));
    }
    let result = req
        .update_expression(format!("SET {} REMOVE failed_step, error_name, error_message, remaining", sets.join(", ")))
        // PENDING: signup wrote the record and started this attempt (or, when an ended
        // execution held the name, a later one) to claim it.
        .condition_expression(
            "attribute_not_exists(tenant_id) OR (execution = :e AND #s = :prov) OR (attempt < :a AND #s IN (:failed, :off)) \
             OR (attempt <= :a AND #s = :pending)",
        )
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":pending", s(Status::Pending.as_str()))
        .expression_attribute_values(":prov", s(Status::Provisioning.as_str()))
        .expression_attribute_values(":failed", s(Status::Failed.as_str()))
        .expression_attribute_values(":off", s(Status::Offboarded.as_str()))
        .expression_attribute_values(":e", s(&input.execution))
        .expression_attribute_values(":a", n(input.attempt))
        .expression_attribute_values(":now", n(now()))
        .expression_attribute_values(":f", AttributeValue::Bool(false))
        .send()
        .await;
    if condition_held("UpdateItem", result)? {
        Ok(())
    } else {
        // A late re-delivery within the same attempt, which has moved on: converge
        // without moving the status backwards.
        if let Ok(Some(r)) = get(ctx, tenant.as_str()).await
            && r.execution == input.execution
            && r.attempt == input.attempt
        {
            return Ok(());
        }
        Err(stale(ctx, tenant, &input.execution, Status::Provisioning).await)
    }
}

/// Records a signup as PENDING where no record exists yet. `false`: the id is taken (the
/// caller reads the record to tell a repeated request from a conflict).
pub async fn put_pending(
    ctx: &Context,
    signup: &tenant_domain::signup::Signup,
    execution: &str,
    attempt: u32,
    source: &str,
) -> Result<bool, StepError> {
    let now = now();
    let result = ctx
        .clients
        .ddb
        .put_item()
        .table_name(&ctx.settings.table)
        .item("tenant_id", s(signup.tenant_id.as_str()))
        .item("status", s(Status::Pending.as_str()))
        .item("execution", s(execution))
        .item("attempt", n(attempt))
        .item("display_name", s(&signup.company_name))
        .item("email", s(&signup.admin_email))
        .item("source", s(source))
        .item("mapped", AttributeValue::Bool(false))
        .item("created_at", n(now))
        .item("updated_at", n(now))
        .condition_expression("attribute_not_exists(tenant_id)")
        .send()
        .await;
    condition_held("PutItem", result)
}

/// Points a PENDING record at the execution signup actually started (a later attempt
/// when an ended execution held the first name). Once the execution has claimed the
/// record this is a no-op.
pub async fn set_pending_execution(
    ctx: &Context,
    tenant: &TenantId,
    execution: &str,
    attempt: u32,
) -> Result<(), StepError> {
    let result = update_record(ctx, tenant)
        .update_expression("SET execution = :e, attempt = :a, updated_at = :now")
        .condition_expression("#s = :pending AND attempt < :a")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":pending", s(Status::Pending.as_str()))
        .expression_attribute_values(":e", s(execution))
        .expression_attribute_values(":a", n(attempt))
        .expression_attribute_values(":now", n(now()))
        .send()
        .await;
    condition_held("UpdateItem", result).map(|_| ())
}

/// Extra attributes written together with a status change.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    pub set: Vec<(&'static str, AttributeValue)>,
    pub remove: Vec<&'static str>,
    /// Attributes whose names are computed (per-attempt history).
    pub set_named: Vec<(String, AttributeValue)>,
}

impl Changes {
    pub fn set(mut self, k: &'static str, v: AttributeValue) -> Self {
        self.set.push((k, v));
        self
    }
    pub fn set_s(self, k: &'static str, v: impl Into<String>) -> Self {
        self.set(k, s(v))
    }
    pub fn remove(mut self, k: &'static str) -> Self {
        self.remove.push(k);
        self
    }
    /// Records how the input's onboarding attempt ended: `status` plus the failed step and
    /// error the state machine's Catch passed in. Offboarding is not an attempt: no entry.
    pub fn attempt_ended(mut self, input: &StepInput, status: Status) -> Self {
        if input.offboard.is_some() {
            return self;
        }
        let mut entry = HashMap::from([
            ("status".to_string(), s(status.as_str())),
            ("execution".to_string(), s(&input.execution)),
            ("ended_at".to_string(), n(now())),
        ]);
        if let Some(step) = &input.failed_step {
            entry.insert("failed_step".into(), s(step));
        }
        if let Some(f) = &input.failure {
            entry.insert("error_name".into(), s(&f.error));
            entry.insert("error_message".into(), s(f.message()));
        }
        self.set_named
            .push((ended_key(input.attempt), AttributeValue::M(entry)));
        self
    }
}

/// Binds each status as `:p{i}` and returns the placeholders for an `IN (...)` condition.
fn bind_statuses(
    mut req: UpdateItemFluentBuilder,
    statuses: impl Iterator<Item = Status>,
) -> (UpdateItemFluentBuilder, Vec<String>) {
    let mut placeholders = vec![];
    for (i, status) in statuses.enumerate() {
        let key = format!(":p{i}");
        req = req.expression_attribute_values(&key, s(status.as_str()));
        placeholders.push(key);
    }
    (req, placeholders)
}

/// Moves the record to `to` if the caller owns it and its status allows it.
pub async fn transition(
    ctx: &Context,
    tenant: &TenantId,
    execution: &str,
    to: Status,
    changes: Changes,
) -> Result<(), StepError> {
    let preds = to.predecessors();
    let req = update_record(ctx, tenant)
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":to", s(to.as_str()))
        .expression_attribute_values(":e", s(execution))
        .expression_attribute_values(":now", n(now()));
    let (mut req, placeholders) = bind_statuses(req, preds.iter().copied());
    let mut sets = vec!["#s = :to".to_string(), "updated_at = :now".to_string()];
    for (i, (k, v)) in changes.set.into_iter().enumerate() {
        sets.push(format!("{k} = :c{i}"));
        req = req.expression_attribute_values(format!(":c{i}"), v);
    }
    for (i, (k, v)) in changes.set_named.into_iter().enumerate() {
        sets.push(format!("#n{i} = :n{i}"));
        req = req
            .expression_attribute_names(format!("#n{i}"), k)
            .expression_attribute_values(format!(":n{i}"), v);
    }
    let mut expr = format!("SET {}", sets.join(", "));
    if !changes.remove.is_empty() {
        expr.push_str(&format!(" REMOVE {}", changes.remove.join(", ")));
    }
    let req = req
        .update_expression(expr)
        .condition_expression(format!("execution = :e AND #s IN ({})", placeholders.join(", ")));
    send_owned(ctx, tenant, execution, to, req).await
}

/// Marks whether the tenant belongs in the role mapping, without changing its status.
pub async fn set_mapped(
    ctx: &Context,
    tenant: &TenantId,
    execution: &str,
    mapped: bool,
    role_arn: &str,
) -> Result<(), StepError> {
    let req = update_record(ctx, tenant)
        .update_expression("SET mapped = :m, role_arn = :r, updated_at = :now")
        .condition_expression("execution = :e")
        .expression_attribute_values(":m", AttributeValue::Bool(mapped))
        .expression_attribute_values(":r", s(role_arn))
        .expression_attribute_values(":e", s(execution))
        .expression_attribute_values(":now", n(now()));
    send_owned(ctx, tenant, execution, Status::Provisioning, req).await
}

/// Makes `execution` the owner of a settled record and moves it to `to` (offboarding).
/// Re-entering by the same execution converges.
pub async fn take_over(
    ctx: &Context,
    tenant: &TenantId,
    execution: &str,
    attempt: u32,
    to: Status,
    stale_owner: Option<&str>,
) -> Result<(), StepError> {
    let req = update_record(ctx, tenant)
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":to", s(to.as_str()))
        .expression_attribute_values(":e", s(execution))
        .expression_attribute_values(":a", n(attempt))
        .expression_attribute_values(":now", n(now()));
    let (mut req, placeholders) = bind_statuses(req, to.predecessors().iter().copied().filter(|p| p.is_settled()));
    // An owner that is known to have stopped (checked by the caller) may be replaced
    // whatever state it left the record in.
    let mut condition = format!("#s IN ({}) OR (execution = :e AND #s = :to)", placeholders.join(", "));
    if let Some(owner) = stale_owner {
        condition.push_str(" OR execution = :stale");
        req = req.expression_attribute_values(":stale", s(owner));
    }
    let req = req
        .update_expression("SET #s = :to, execution = :e, attempt = :a, updated_at = :now")
        .condition_expression(condition);
    send_owned(ctx, tenant, execution, to, req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, AttributeValue)]) -> AttributeValue {
        AttributeValue::M(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    /// Attempts are read back from their per-attempt attributes, in order; a running
    /// attempt has a start and no outcome; records written before attempts were kept have
    /// none.
    #[test]
    fn attempts_are_read_from_their_attributes() {
        let mut item = HashMap::from([
            ("tenant_id".to_string(), s("acme")),
            ("status".to_string(), s("PROVISIONING")),
            ("execution".to_string(), s("acme-2")),
            ("attempt".to_string(), n(2)),
        ]);
        assert!(TenantRecord::from_item(&item).unwrap().attempts.is_empty());
        item.insert(started_key(1), m(&[("execution", s("acme-1")), ("started_at", n(100))]));
        item.insert(
            ended_key(1),
            m(&[
                ("status", s("FAILED")),
                ("execution", s("acme-1")),
                ("ended_at", n(104)),
                ("failed_step", s("CreateSecret")),
                ("error_name", s("Throttled")),
                ("error_message", s("slow down")),
            ]),
        );
        item.insert(started_key(2), m(&[("execution", s("acme-2")), ("started_at", n(200))]));
        let attempts = TenantRecord::from_item(&item).unwrap().attempts;
        assert_eq!(
            attempts,
            [
                AttemptRecord {
                    attempt: 1,
                    execution: Some("acme-1".into()),
                    started_at: Some(100),
                    ended_at: Some(104),
                    outcome: Some(Status::Failed),
                    failed_step: Some("CreateSecret".into()),
                    error_name: Some("Throttled".into()),
                    error_message: Some("slow down".into()),
                },
                AttemptRecord {
                    attempt: 2,
                    execution: Some("acme-2".into()),
                    started_at: Some(200),
                    ..AttemptRecord::default()
                },
            ]
        );
    }

    #[test]
    fn an_ended_attempt_carries_the_failure_and_offboarding_adds_none() {
        let input: StepInput = serde_json::from_value(serde_json::json!({
            "tenant_id": "acme", "execution": "acme-3", "attempt": 3,
            "failed_step": "CreateRole", "failure": {"Error": "IamDenied", "Cause": "{\"errorMessage\": \"no\"}"}
        }))
        .unwrap();
        let c = Changes::default().attempt_ended(&input, Status::Failed);
        assert_eq!(c.set_named.len(), 1);
        let (k, v) = &c.set_named[0];
        assert_eq!(k, "attempt_3_ended");
        let v = v.as_m().unwrap();
        assert_eq!(v["status"], s("FAILED"));
        assert_eq!(v["failed_step"], s("CreateRole"));
        assert_eq!(v["error_name"], s("IamDenied"));
        assert_eq!(v["error_message"], s("no"));
        let off: StepInput = serde_json::from_value(serde_json::json!({
            "tenant_id": "acme", "execution": "acme-3-offboard-1", "attempt": 3, "offboard": {}
        }))
        .unwrap();
        assert!(
            Changes::default()
                .attempt_ended(&off, Status::RollbackFailed)
                .set_named
                .is_empty()
        );
    }
}
