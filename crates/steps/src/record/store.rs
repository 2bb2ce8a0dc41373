//! Reads and conditional writes of the tenant record (see the module's documentation for
//! the ownership rules).

use std::collections::HashMap;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use tenant_domain::{Status, TenantId};

use super::attr;
use super::model::{Changes, TenantRecord, n, now, s};
use crate::error::{classify, condition_held};
use crate::{Context, StepError, StepInput};

pub async fn get(ctx: &Context, tenant: &str) -> Result<Option<TenantRecord>, StepError> {
    let out = ctx
        .clients
        .ddb
        .get_item()
        .table_name(&ctx.settings.table)
        .key(attr::TENANT_ID, s(tenant))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| classify("dynamodb", "GetItem", &e).about(table(ctx)))?;
    let now = now();
    Ok(out.item().and_then(TenantRecord::from_item).filter(|r| !r.expired(now)))
}

/// Every tenant record (the lock item and expired held signups are skipped).
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
        let page = page.map_err(|e| classify("dynamodb", "Scan", &e).about(table(ctx)))?;
        let now = now();
        out.extend(
            page.items()
                .iter()
                .filter_map(TenantRecord::from_item)
                .filter(|r| !r.expired(now)),
        );
    }
    out.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
    Ok(out)
}

/// The table, as errors name it.
pub(crate) fn table(ctx: &Context) -> String {
    format!("table {}", ctx.settings.table)
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
        .key(attr::TENANT_ID, s(tenant.as_str()))
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
    if condition_held("UpdateItem", req.send().await).map_err(|e| e.about(table(ctx)))? {
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
        (attr::EXECUTION.to_string(), s(&input.execution)),
        (attr::STARTED_AT.to_string(), n(now())),
    ]));
    let mut req = update_record(ctx, tenant)
        .expression_attribute_names("#started", attr::started(input.attempt))
        .expression_attribute_values(":started", started);
    if let Some(company_name) = &input.company_name {
        sets.push("company_name = :company_name");
        req = req.expression_attribute_values(":company_name", s(company_name));
    }
    if let Some(admin_email) = &input.admin_email {
        sets.push("admin_email = :admin_email");
        req = req.expression_attribute_values(":admin_email", s(admin_email));
    }
    let result = req
        .update_expression(format!("SET {} REMOVE failed_step, error_name, error_message, remaining", sets.join(", ")))
        // PENDING: signup wrote the record and started this attempt (or, when an ended
        // execution held the name, a later one) to claim it.
        .condition_expression(
            "attribute_not_exists(tenant_id) OR (execution = :e AND #s = :prov) OR (attempt < :a AND #s IN (:failed, :off)) \
             OR (attempt <= :a AND #s = :pending)",
        )
        .expression_attribute_names("#s", attr::STATUS)
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
    if condition_held("UpdateItem", result).map_err(|e| e.about(table(ctx)))? {
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

/// The whole request that claims a new tenant id, whichever entry point it came from
/// (signup form, event, `tenantctl onboard`): written in one conditional write, so exactly
/// one request wins an id and nothing of a loser's request is mixed into the record.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub tenant: &'a TenantId,
    pub company_name: Option<&'a str>,
    pub admin_email: Option<&'a str>,
    /// The execution the claimant is about to start (named before StartExecution).
    pub execution: &'a str,
    pub attempt: u32,
    pub source: &'a str,
}

/// Records the claim as PENDING where no record exists yet. `false`: the id is taken (the
/// caller reads the record to tell a repeated request from a conflict).
pub async fn claim(ctx: &Context, c: &Claim<'_>) -> Result<bool, StepError> {
    put_claim(ctx, c, Status::Pending).await
}

/// Records the claim as PENDING_APPROVAL (`SignupMode=approve`) where no record exists yet:
/// the id is held for the request, and nothing is started until an operator approves it.
pub async fn hold(ctx: &Context, c: &Claim<'_>) -> Result<bool, StepError> {
    put_claim(ctx, c, Status::PendingApproval).await
}

async fn put_claim(ctx: &Context, c: &Claim<'_>, status: Status) -> Result<bool, StepError> {
    debug_assert!(status.may_follow(None));
    let now = now();
    let mut req = ctx
        .clients
        .ddb
        .put_item()
        .table_name(&ctx.settings.table)
        .item(attr::TENANT_ID, s(c.tenant.as_str()))
        .item(attr::STATUS, s(status.as_str()))
        .item(attr::EXECUTION, s(c.execution))
        .item(attr::ATTEMPT, n(c.attempt))
        .item(attr::SOURCE, s(c.source))
        .item(attr::MAPPED, AttributeValue::Bool(false))
        .item(attr::CREATED_AT, n(now))
        .item(attr::UPDATED_AT, n(now));
    if let Some(company_name) = c.company_name {
        req = req.item(attr::COMPANY_NAME, s(company_name));
    }
    if let Some(admin_email) = c.admin_email {
        req = req.item(attr::ADMIN_EMAIL, s(admin_email));
    }
    if status == Status::PendingApproval {
        req = req.item(
            attr::SIGNUP_EXPIRES_AT,
            n(now.saturating_add(ctx.settings.signup_lifetime_seconds)),
        );
    }
    // A held signup past its lifetime is free for any claim: TTL deletes it only later.
    let result = req
        .condition_expression("attribute_not_exists(tenant_id) OR (#s = :held AND #x <= :now)")
        .expression_attribute_names("#s", attr::STATUS)
        .expression_attribute_names("#x", attr::SIGNUP_EXPIRES_AT)
        .expression_attribute_values(":held", s(Status::PendingApproval.as_str()))
        .expression_attribute_values(":now", n(now))
        .send()
        .await;
    condition_held("PutItem", result).map_err(|e| e.about(table(ctx)))
}

/// Records a signup as PENDING where no record exists yet (`claim` with the signup's
/// fields). `false`: the id is taken.
pub async fn put_pending(
    ctx: &Context,
    signup: &tenant_domain::signup::Signup,
    execution: &str,
    attempt: u32,
    source: &str,
) -> Result<bool, StepError> {
    let c = Claim {
        tenant: &signup.tenant_id,
        company_name: Some(&signup.company_name),
        admin_email: Some(&signup.admin_email),
        execution,
        attempt,
        source,
    };
    claim(ctx, &c).await
}

/// What became of an operator's decision on a held signup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// The record moved on (approved: now PENDING; rejected: deleted, `record` as it was).
    Done(TenantRecord),
    /// Nothing was held under the id.
    NoRecord,
    /// The record is not PENDING_APPROVAL (approved or rejected already, or never held).
    NotHeld(TenantRecord),
}

/// Approves a held signup: PENDING_APPROVAL becomes PENDING (conditional, so of two
/// operators deciding at once exactly one wins); the caller then starts the execution the
/// record names, through the same start path as a signup.
pub async fn approve(ctx: &Context, tenant: &TenantId) -> Result<Decided, StepError> {
    let result = update_record(ctx, tenant)
        // Without the expiry, so TTL never deletes an onboarding tenant's record.
        .update_expression("SET #s = :pending, updated_at = :now REMOVE #x")
        .condition_expression("#s = :held AND (attribute_not_exists(#x) OR #x > :now)")
        .expression_attribute_names("#s", attr::STATUS)
        .expression_attribute_names("#x", attr::SIGNUP_EXPIRES_AT)
        .expression_attribute_values(":pending", s(Status::Pending.as_str()))
        .expression_attribute_values(":held", s(Status::PendingApproval.as_str()))
        .expression_attribute_values(":now", n(now()))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
        .send()
        .await;
    decided(ctx, tenant, "UpdateItem", result.map(|o| o.attributes)).await
}

/// Rejects a held signup: the record is deleted (conditional on it still being held), so
/// the id is free again. Nothing was created for it, so there is nothing else to remove.
pub async fn reject(ctx: &Context, tenant: &TenantId) -> Result<Decided, StepError> {
    let result = ctx
        .clients
        .ddb
        .delete_item()
        .table_name(&ctx.settings.table)
        .key(attr::TENANT_ID, s(tenant.as_str()))
        // An expired hold is already free: nothing to reject (TTL removes it).
        .condition_expression("#s = :held AND (attribute_not_exists(#x) OR #x > :now)")
        .expression_attribute_names("#s", attr::STATUS)
        .expression_attribute_names("#x", attr::SIGNUP_EXPIRES_AT)
        .expression_attribute_values(":held", s(Status::PendingApproval.as_str()))
        .expression_attribute_values(":now", n(now()))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await;
    decided(ctx, tenant, "DeleteItem", result.map(|o| o.attributes)).await
}

/// The outcome of a conditional decision: the record it wrote, or what is there instead.
async fn decided<E>(
    ctx: &Context,
    tenant: &TenantId,
    operation: &'static str,
    result: Result<Option<HashMap<String, AttributeValue>>, aws_sdk_dynamodb::error::SdkError<E, HttpResponse>>,
) -> Result<Decided, StepError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let item = match result {
        Ok(item) => item,
        Err(e) => {
            // A failed condition answers Ok(false); any other error is classified.
            condition_held(operation, Err::<(), _>(e)).map_err(|e| e.about(table(ctx)))?;
            return Ok(match get(ctx, tenant.as_str()).await? {
                Some(r) => Decided::NotHeld(r),
                None => Decided::NoRecord,
            });
        }
    };
    match item.as_ref().and_then(TenantRecord::from_item) {
        Some(r) => Ok(Decided::Done(r)),
        None => Err(StepError::Internal {
            message: format!("{operation} of {tenant} returned no record"),
        }),
    }
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
        .expression_attribute_names("#s", attr::STATUS)
        .expression_attribute_values(":pending", s(Status::Pending.as_str()))
        .expression_attribute_values(":e", s(execution))
        .expression_attribute_values(":a", n(attempt))
        .expression_attribute_values(":now", n(now()))
        .send()
        .await;
    condition_held("UpdateItem", result)
        .map(|_| ())
        .map_err(|e| e.about(table(ctx)))
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
        .expression_attribute_names("#s", attr::STATUS)
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
        .expression_attribute_names("#s", attr::STATUS)
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

/// Sets `attribute` on a record that is ACTIVE (a repair's previous documents, the
/// template version it converged to); false when the record is not ACTIVE (any more).
pub async fn set_on_active(
    ctx: &Context,
    tenant: &TenantId,
    attribute: &'static str,
    value: AttributeValue,
) -> Result<bool, StepError> {
    let req = update_record(ctx, tenant)
        .update_expression("SET #k = :v, updated_at = :now")
        .condition_expression("#s = :active")
        .expression_attribute_names("#k", attribute)
        .expression_attribute_names("#s", attr::STATUS)
        .expression_attribute_values(":v", value)
        .expression_attribute_values(":active", s(Status::Active.as_str()))
        .expression_attribute_values(":now", n(now()));
    condition_held("UpdateItem", req.send().await)
}

/// Writes the documents a converge is about to change on an ACTIVE record, unless this
/// converge (`by`) already wrote them (a retry must not record what it already changed);
/// false when the record is not ACTIVE or already holds `by`'s documents.
pub async fn keep_previous_documents(
    ctx: &Context,
    tenant: &TenantId,
    by: &str,
    documents: &str,
) -> Result<bool, StepError> {
    let req = update_record(ctx, tenant)
        .update_expression("SET #d = :d, #b = :b, updated_at = :now")
        .condition_expression("#s = :active AND (attribute_not_exists(#b) OR #b <> :b)")
        .expression_attribute_names("#d", attr::PREVIOUS_DOCUMENTS)
        .expression_attribute_names("#b", attr::PREVIOUS_BY)
        .expression_attribute_names("#s", attr::STATUS)
        .expression_attribute_values(":d", s(documents))
        .expression_attribute_values(":b", s(by))
        .expression_attribute_values(":active", s(Status::Active.as_str()))
        .expression_attribute_values(":now", n(now()));
    condition_held("UpdateItem", req.send().await)
}
