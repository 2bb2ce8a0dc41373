//! The `TenantSignupRequested` EventBridge entry into the same validation and start path.

use serde_json::{Value, json};
use tenant_domain::signup::{RawSignup, validate};

use super::submit::{SignupOutcome, Source, submit};
use crate::events::TENANT_SIGNUP_REQUESTED;
use crate::{Context, StepError};

/// The `TenantSignupRequested` handler: the event's `detail` goes through the same
/// validation and start path as the form. Invalid and conflicting requests are refused
/// with an error log and nothing created, and answered `Ok` (redelivering them would not
/// help); only a failure to record or start is an error, so EventBridge retries.
pub async fn handle_event(ctx: &Context, onboarding_arn: &str, event: Value) -> Result<Value, StepError> {
    let detail_type = event.get("detail-type").and_then(Value::as_str).unwrap_or_default();
    let event_id = event.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    if detail_type != TENANT_SIGNUP_REQUESTED {
        tracing::error!(
            event_id,
            detail_type,
            "event refused: not a {TENANT_SIGNUP_REQUESTED} event; check the rule's pattern"
        );
        return Ok(
            json!({ "outcome": "refused", "reason": format!("detail-type {detail_type:?} is not {TENANT_SIGNUP_REQUESTED}") }),
        );
    }
    let raw = match RawSignup::from_json(event.get("detail").unwrap_or(&Value::Null)) {
        Ok(raw) => raw,
        Err(reason) => {
            tracing::error!(
                event_id,
                reason,
                "{TENANT_SIGNUP_REQUESTED} refused: the detail must be a JSON object with tenant_id, company_name and admin_email; nothing was created"
            );
            return Ok(json!({ "outcome": "refused", "reason": reason }));
        }
    };
    let signup = match validate(&raw) {
        Ok(s) => s,
        Err(errors) => {
            let tenant = match &raw.tenant_id {
                tenant_domain::signup::RawField::Text(t) => t.chars().take(64).collect::<String>(),
                _ => String::new(),
            };
            tracing::error!(event_id, tenant, errors = %errors, "{TENANT_SIGNUP_REQUESTED} refused: invalid fields; nothing was created; the sender must correct and resend");
            return Ok(json!({ "outcome": "refused", "errors": errors.0 }));
        }
    };
    let outcome = submit(ctx, onboarding_arn, &signup, Source::Event).await?;
    if let SignupOutcome::Taken { tenant_id, held_by } = &outcome {
        tracing::error!(event_id, tenant = %tenant_id, held_by, "{TENANT_SIGNUP_REQUESTED} refused: workspace id {tenant_id} is held by another request, {held_by}; the sender must choose another id");
    }
    Ok(json!(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_events_are_refused_before_any_aws_call() {
        let ctx = Context::offline();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for event in [
            json!({}),
            json!({"detail-type": "Other", "detail": {}}),
            json!({"detail-type": "TenantSignupRequested", "detail": "tenant_id=acme"}),
            json!({"detail-type": "TenantSignupRequested", "detail": {"tenant_id": "acme", "company_name": "Acme", "admin_email": "x@y"}}),
        ] {
            let out = rt.block_on(handle_event(&ctx, "arn", event.clone())).unwrap();
            assert_eq!(out["outcome"], "refused", "{event}");
        }
    }
}
