//! EventBridge events the workflow publishes (`TenantOnboarded`, `TenantOnboardingFailed`)
//! and the one it consumes (`TenantSignupRequested`). Details carry the execution name so
//! consumers can drop the duplicates an at-least-once publish may produce.

use serde_json::{Value, json};
use tenant_domain::TenantId;

use crate::error::{classify, classify_code};
use crate::{Context, StepError, StepInput};

/// The `source` of every event this product publishes.
pub const SOURCE: &str = "tenant.onboarding";
pub const TENANT_ONBOARDED: &str = "TenantOnboarded";
pub const TENANT_ONBOARDING_FAILED: &str = "TenantOnboardingFailed";
/// Sent by other systems (a marketplace, a CRM) to start an onboarding.
pub const TENANT_SIGNUP_REQUESTED: &str = "TenantSignupRequested";

pub fn onboarded_detail(tenant: &TenantId, input: &StepInput, admin_email: Option<&str>) -> Value {
    json!({
        "tenant_id": tenant,
        "attempt": input.attempt,
        "execution": input.execution,
        "company_name": input.company_name,
        "admin_email": admin_email,
    })
}

pub fn failed_detail(tenant: &TenantId, input: &StepInput) -> Value {
    json!({
        "tenant_id": tenant,
        "attempt": input.attempt,
        "execution": input.execution,
        "failed_step": input.failed_step,
        "error": input.failure.as_ref().map(|f| f.error.clone()),
        "message": input.failure.as_ref().map(|f| f.message()),
    })
}

/// Puts one event on the deployment's bus; a per-entry failure is an error like any other.
pub async fn publish(ctx: &Context, detail_type: &str, detail: &Value) -> Result<(), StepError> {
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(&ctx.settings.event_bus)
        .source(SOURCE)
        .detail_type(detail_type)
        .detail(detail.to_string())
        .build();
    let out = ctx
        .clients
        .events
        .put_events()
        .entries(entry)
        .send()
        .await
        .map_err(|e| classify("events", "PutEvents", &e))?;
    if out.failed_entry_count() > 0 {
        let failed = out.entries().iter().find(|e| e.error_code().is_some());
        let code = failed.and_then(|e| e.error_code()).unwrap_or("Unknown");
        let message = failed.and_then(|e| e.error_message()).unwrap_or_default();
        return Err(classify_code(
            "events",
            "PutEvents",
            code,
            None,
            format!("{code}: {message}"),
        ));
    }
    tracing::info!(detail_type, bus = %ctx.settings.event_bus, "event published");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Failure;

    #[test]
    fn failure_details_name_the_step_and_the_error() {
        let input = StepInput {
            tenant_id: "acme".into(),
            company_name: Some("Acme".into()),
            admin_email: None,
            execution: "acme-2".into(),
            attempt: 2,
            failed_step: Some("CreateRole".into()),
            failure: Some(Failure {
                error: "AccessDenied".into(),
                cause: Some(r#"{"errorType":"AccessDenied","errorMessage":"iam CreateRole was denied"}"#.into()),
            }),
            rollback_failure: None,
            offboard: None,
            retry_count: None,
            changed_at: None,
            template_version: None,
            wave: None,
        };
        let tenant = input.tenant().unwrap();
        let d = failed_detail(&tenant, &input);
        assert_eq!(d["tenant_id"], "acme");
        assert_eq!(d["attempt"], 2);
        assert_eq!(d["failed_step"], "CreateRole");
        assert_eq!(d["error"], "AccessDenied");
        assert_eq!(d["message"], "iam CreateRole was denied");
        let d = onboarded_detail(&tenant, &input, Some("ops@acme.io"));
        assert_eq!(
            (
                d["execution"].as_str(),
                d["company_name"].as_str(),
                d["admin_email"].as_str()
            ),
            (Some("acme-2"), Some("Acme"), Some("ops@acme.io"))
        );
    }
}
