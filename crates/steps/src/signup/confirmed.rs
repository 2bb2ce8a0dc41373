//! The user pool's post-confirmation trigger: Cognito has proven the admin's email (the
//! person entered the code sent to it), so the signup goes through the same validation and
//! start path as the form and the event. Nothing is provisioned before this point.

use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPostConfirmationTriggerSource,
};
use serde_json::Value;
use tenant_domain::signup::{RawSignup, validate};

use super::submit::{SignupOutcome, Source, submit};
use crate::{Context, StepError};

/// The pool's custom attributes the page sets at SignUp (immutable once written).
pub const TENANT_ID_ATTRIBUTE: &str = "custom:tenant_id";
pub const COMPANY_NAME_ATTRIBUTE: &str = "custom:company_name";

/// What the trigger saw in the event, before any AWS call.
#[derive(Debug, PartialEq, Eq)]
enum Judged {
    /// A confirmation that is not a sign-up (a forgotten password): nothing to start.
    NotASignup,
    Start(tenant_domain::signup::Signup),
}

fn judge(event: &Value) -> Result<Judged, StepError> {
    let parsed: CognitoEventUserPoolsPostConfirmation =
        serde_json::from_value(event.clone()).map_err(|e| StepError::InvalidInput {
            message: format!("not a Cognito post-confirmation event: {e}"),
        })?;
    let header = &parsed.cognito_event_user_pools_header;
    if header.trigger_source != Some(CognitoEventUserPoolsPostConfirmationTriggerSource::ConfirmSignUp) {
        return Ok(Judged::NotASignup);
    }
    let attributes = &parsed.request.user_attributes;
    // Only an address Cognito verified is an admin email: the whole point of verify mode.
    if attributes.get("email_verified").map(String::as_str) != Some("true") {
        return Err(StepError::InvalidInput {
            message: "the confirmed user's email is not verified; nothing was started".into(),
        });
    }
    let pairs = [
        (TENANT_ID_ATTRIBUTE, tenant_domain::signup::TENANT_ID),
        (COMPANY_NAME_ATTRIBUTE, tenant_domain::signup::COMPANY_NAME),
        ("email", tenant_domain::signup::ADMIN_EMAIL),
    ];
    let raw = RawSignup::from_pairs(
        pairs
            .iter()
            .filter_map(|(attribute, field)| attributes.get(*attribute).map(|v| (*field, v.as_str()))),
    );
    let signup = validate(&raw).map_err(|errors| StepError::InvalidInput {
        message: format!("the confirmed sign-up is invalid: {errors}; nothing was started"),
    })?;
    Ok(Judged::Start(signup))
}

/// Starts onboarding for a confirmed sign-up and hands the event back, as Cognito expects
/// of a trigger. An error fails the person's ConfirmSignUp with its message (the user stays
/// confirmed; the page shows the message), so a taken id is an error here, not a log line.
pub async fn handle_post_confirmation(ctx: &Context, onboarding_arn: &str, event: Value) -> Result<Value, StepError> {
    let signup = match judge(&event)? {
        Judged::NotASignup => return Ok(event),
        Judged::Start(signup) => signup,
    };
    match submit(ctx, onboarding_arn, &signup, Source::Confirmed).await? {
        SignupOutcome::Accepted { .. } => Ok(event),
        SignupOutcome::Taken { tenant_id, .. } => Err(StepError::ResourceConflict {
            tenant: tenant_id.clone(),
            message: format!("workspace id {tenant_id} is taken; sign up again with another id"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(source: &str, attributes: Value) -> Value {
        json!({
            "version": "1",
            "region": "us-east-1",
            "userPoolId": "us-east-1_abc",
            "userName": "3f1c",
            "callerContext": { "awsSdkVersion": "x", "clientId": "page" },
            "triggerSource": source,
            "request": { "userAttributes": attributes },
            "response": {}
        })
    }

    fn confirmed(attributes: Value) -> Value {
        event("PostConfirmation_ConfirmSignUp", attributes)
    }

    #[test]
    fn a_confirmed_sign_up_is_judged_from_its_verified_attributes() {
        let ok = confirmed(json!({
            "email": "ops@acme.example", "email_verified": "true",
            "custom:tenant_id": "acme", "custom:company_name": "Acme Inc"
        }));
        match judge(&ok).unwrap() {
            Judged::Start(s) => {
                assert_eq!(s.tenant_id.as_str(), "acme");
                assert_eq!(s.company_name, "Acme Inc");
                assert_eq!(s.admin_email, "ops@acme.example");
            }
            other => panic!("{other:?}"),
        }
        let forgot = event(
            "PostConfirmation_ConfirmForgotPassword",
            json!({ "email": "ops@acme.example", "email_verified": "true", "custom:tenant_id": "acme" }),
        );
        assert_eq!(judge(&forgot).unwrap(), Judged::NotASignup);
    }

    #[test]
    fn unverified_or_invalid_sign_ups_start_nothing() {
        let unverified = confirmed(json!({
            "email": "ops@acme.example", "email_verified": "false",
            "custom:tenant_id": "acme", "custom:company_name": "Acme"
        }));
        assert!(
            matches!(judge(&unverified), Err(StepError::InvalidInput { message }) if message.contains("not verified"))
        );
        let bad_id = confirmed(json!({
            "email": "ops@acme.example", "email_verified": "true",
            "custom:tenant_id": "Acme!", "custom:company_name": "Acme"
        }));
        assert!(matches!(judge(&bad_id), Err(StepError::InvalidInput { message }) if message.contains("invalid")));
        assert!(matches!(
            judge(&json!({"triggerSource": 3})),
            Err(StepError::InvalidInput { .. })
        ));
        // Refused before any AWS call: the offline context would fail one.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let out = rt.block_on(handle_post_confirmation(&Context::offline(), "arn", bad_id));
        assert!(matches!(out, Err(StepError::InvalidInput { .. })), "{out:?}");
        let forgot = event("PostConfirmation_ConfirmForgotPassword", json!({}));
        assert_eq!(
            rt.block_on(handle_post_confirmation(&Context::offline(), "arn", forgot.clone()))
                .unwrap(),
            forgot
        );
    }
}
