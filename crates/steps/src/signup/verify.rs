//! Verify mode of the page: the admin signs up with Cognito (the password they choose) and
//! nothing is provisioned until they enter the code mailed to them; the pool's
//! post-confirmation trigger ([`super::handle_post_confirmation`]) then starts onboarding.

use aws_sdk_cognitoidentityprovider::types::AttributeType;
use serde_json::{Value, json};
use tenant_domain::signup::{RawSignup, Signup, validate};

use super::confirmed::{COMPANY_NAME_ATTRIBUTE, TENANT_ID_ATTRIBUTE};
use crate::{Context, StepError, record};

/// Environment variable (template parameter `SignupMode`) choosing how the page signs up.
pub const MODE_ENV: &str = "TENANT_SIGNUP_MODE";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A valid form starts onboarding at once (anyone can make the stack create IAM
    /// resources for any email: only behind other verification).
    Open,
    /// The admin's email is proven with a Cognito code before anything is provisioned.
    Verify,
    /// A valid form holds the id as PENDING_APPROVAL; an operator approves (onboarding
    /// starts) or rejects (the id is free again).
    Approve,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Verify, Mode::Approve, Mode::Open];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Open => "open",
            Mode::Verify => "verify",
            Mode::Approve => "approve",
        }
    }

    pub fn parse(s: &str) -> Result<Mode, StepError> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| {
            let all: Vec<_> = Mode::ALL.iter().map(|m| m.as_str()).collect();
            StepError::Misconfigured {
                message: format!("{MODE_ENV}={s:?}; use {}", all.join(", ")),
            }
        })
    }
}

/// A verify-mode request's answer: status and JSON body (the HTTP layer renders it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer { status, body }
}

fn field_error(status: u16, field: &str, message: &str) -> Answer {
    answer(status, json!({ "message": message, "errors": { field: message } }))
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// The fields of a verify-mode sign-up: the signup's three plus the password, which the
/// signup validation does not take (it never reaches a record or a log).
pub fn split_password(mut fields: Value) -> Result<(RawSignup, String), String> {
    let obj = fields.as_object_mut().ok_or("a signup must be a JSON object")?;
    let password = match obj.remove("password") {
        Some(Value::String(p)) => p,
        _ => String::new(),
    };
    Ok((RawSignup::from_json(&fields)?, password))
}

/// `POST /signup` in verify mode: Cognito SignUp, which mails the code.
pub async fn sign_up(ctx: &Context, raw: &RawSignup, password: &str) -> Answer {
    let mut signup: Option<Signup> = None;
    let mut errors = match validate(raw) {
        Ok(s) => {
            signup = Some(s);
            serde_json::Map::new()
        }
        Err(e) => {
            e.0.into_iter()
                .map(|(k, v)| (k.to_string(), Value::String(v)))
                .collect()
        }
    };
    if password.is_empty() {
        errors.insert("password".into(), "choose a password".into());
    }
    let Some(signup) = signup.filter(|_| errors.is_empty()) else {
        return answer(400, json!({ "message": "Some fields need fixing.", "errors": errors }));
    };
    // Checked here for a clear answer before the code is sent; the trigger checks again.
    match record::get(ctx, signup.tenant_id.as_str()).await {
        Ok(Some(_)) => {
            let message = format!("Workspace id {} is taken; choose another.", signup.tenant_id);
            return field_error(409, tenant_domain::signup::TENANT_ID, &message);
        }
        Ok(None) => {}
        Err(e) => return unavailable(&e),
    }
    let attr = |name: &str, value: &str| AttributeType::builder().name(name).value(value).build();
    let attributes = [
        attr("email", &signup.admin_email),
        attr(TENANT_ID_ATTRIBUTE, signup.tenant_id.as_str()),
        attr(COMPANY_NAME_ATTRIBUTE, &signup.company_name),
    ];
    let attributes: Result<Vec<_>, _> = attributes.into_iter().collect();
    let Ok(attributes) = attributes else {
        return unavailable(&StepError::Internal {
            message: "building the user attributes".into(),
        });
    };
    let send = || {
        ctx.clients
            .idp
            .sign_up()
            .client_id(&ctx.settings.user_pool_client_id)
            .username(&signup.admin_email)
            .password(password)
            .set_user_attributes(Some(attributes.clone()))
            .send()
    };
    let mut out = send().await;
    if out
        .as_ref()
        .err()
        .and_then(|e| e.as_service_error())
        .is_some_and(|se| se.is_username_exists_exception())
    {
        match remove_expired_sign_up(ctx, &signup.admin_email).await {
            // The earlier sign-up never confirmed within its lifetime: it no longer holds
            // the address, so this one goes through.
            Ok(true) => out = send().await,
            Ok(false) => {}
            Err(e) => return unavailable(&e),
        }
    }
    match out {
        Ok(_) => answer(
            202,
            json!({
                "message": format!("We sent a code to {}. Enter it to create workspace {}.", signup.admin_email, signup.tenant_id),
                "next": "confirm",
                "confirm_url": "signup/confirm",
                "tenant_id": signup.tenant_id.as_str(),
                "status": "UNCONFIRMED",
            }),
        ),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_username_exists_exception()) => field_error(
            409,
            tenant_domain::signup::ADMIN_EMAIL,
            "This email has already signed up: enter the code sent to it, or use another email.",
        ),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_invalid_password_exception()) =>
        {
            field_error(
                400,
                "password",
                "Choose a longer password: at least 12 characters with upper and lower case letters, a number and a symbol.",
            )
        }
        Err(e) => unavailable(&crate::error::classify("cognito-idp", "SignUp", &e)),
    }
}

/// Deletes the pool's user `email` if it is a sign-up that was never confirmed within the
/// deployment's signup lifetime; `true` when it did. Only self sign-ups are ever
/// UNCONFIRMED (tenant users are created by AdminCreateUser or confirmed), so no tenant's
/// user can be removed here. Cognito itself never deletes them: without this, an address
/// whose code was lost could never sign up again.
async fn remove_expired_sign_up(ctx: &Context, email: &str) -> Result<bool, StepError> {
    let pool = &ctx.settings.user_pool_id;
    let user = match ctx
        .clients
        .idp
        .admin_get_user()
        .user_pool_id(pool)
        .username(email)
        .send()
        .await
    {
        Ok(u) => u,
        Err(e) if e.as_service_error().is_some_and(|se| se.is_user_not_found_exception()) => return Ok(true),
        Err(e) => return Err(crate::error::classify("cognito-idp", "AdminGetUser", &e)),
    };
    let created = user.user_create_date().map_or(0, |d| d.secs().max(0) as u64);
    if !unconfirmed_and_expired(
        user.user_status(),
        created,
        ctx.settings.signup_lifetime_seconds,
        record::now(),
    ) {
        return Ok(false);
    }
    match ctx
        .clients
        .idp
        .admin_delete_user()
        .user_pool_id(pool)
        .username(email)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|se| se.is_user_not_found_exception()) => {}
        Err(e) => return Err(crate::error::classify("cognito-idp", "AdminDeleteUser", &e)),
    }
    tracing::info!(
        created,
        "an unconfirmed sign-up past its lifetime was removed; its address signs up again"
    );
    Ok(true)
}

/// Whether a pool user is a sign-up that was never confirmed and has outlived `lifetime`.
fn unconfirmed_and_expired(
    status: Option<&aws_sdk_cognitoidentityprovider::types::UserStatusType>,
    created: u64,
    lifetime: u64,
    now: u64,
) -> bool {
    status == Some(&aws_sdk_cognitoidentityprovider::types::UserStatusType::Unconfirmed)
        && created.saturating_add(lifetime) <= now
}

/// `POST /signup/confirm` in verify mode: `{admin_email, tenant_id, code}`.
pub async fn confirm(ctx: &Context, fields: &Value) -> Answer {
    let (Some(email), Some(tenant), Some(code)) = (
        text(fields, tenant_domain::signup::ADMIN_EMAIL),
        text(fields, tenant_domain::signup::TENANT_ID),
        text(fields, "code"),
    ) else {
        return answer(
            400,
            json!({ "message": "send admin_email, tenant_id and the code from the email", "errors": {} }),
        );
    };
    let out = ctx
        .clients
        .idp
        .confirm_sign_up()
        .client_id(&ctx.settings.user_pool_client_id)
        .username(email.trim().to_lowercase())
        .confirmation_code(code.trim())
        .send()
        .await;
    match out {
        Ok(_) => answer(
            202,
            json!({
                "message": format!("Email confirmed. Workspace {tenant} is being set up."),
                "tenant_id": tenant,
                "status_url": format!("signup/{tenant}"),
            }),
        ),
        Err(e) => {
            let Some(se) = e.as_service_error() else {
                return unavailable(&crate::error::classify("cognito-idp", "ConfirmSignUp", &e));
            };
            if se.is_code_mismatch_exception() {
                field_error(
                    400,
                    "code",
                    "That code is not the one we sent; check the email and try again.",
                )
            } else if se.is_expired_code_exception() {
                field_error(410, "code", "That code has expired; sign up again to get a new one.")
            } else if se.is_not_authorized_exception() {
                field_error(
                    409,
                    "code",
                    "This email is already confirmed; its workspace is being set up.",
                )
            } else if se.is_user_lambda_validation_exception() {
                // The trigger's refusal (e.g. the id was taken meanwhile), as Cognito words it.
                let message = se
                    .meta()
                    .message()
                    .unwrap_or("the workspace could not be started")
                    .to_string();
                field_error(409, tenant_domain::signup::TENANT_ID, &message)
            } else {
                unavailable(&crate::error::classify("cognito-idp", "ConfirmSignUp", &e))
            }
        }
    }
}

fn unavailable(e: &StepError) -> Answer {
    tracing::error!(error = e.name(), message = %e, "verify-mode signup could not reach Cognito or the table");
    answer(
        503,
        json!({ "message": "Signup is unavailable right now; please try again in a minute." }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_passwords_are_read() {
        assert_eq!(Mode::parse("verify").unwrap(), Mode::Verify);
        assert_eq!(Mode::parse("open").unwrap(), Mode::Open);
        assert_eq!(Mode::parse("approve").unwrap(), Mode::Approve);
        assert!(
            matches!(Mode::parse("Approve"), Err(StepError::Misconfigured { message }) if message.contains("verify, approve, open"))
        );
        let (raw, password) = split_password(json!({
            "tenant_id": "acme", "company_name": "Acme", "admin_email": "a@acme.io", "password": "Secr3t!Secr3t!"
        }))
        .unwrap();
        assert_eq!(password, "Secr3t!Secr3t!");
        assert!(validate(&raw).is_ok());
        assert!(split_password(json!({"tenant_id": "acme", "role": "admin"})).is_err());
    }

    #[test]
    fn only_an_unconfirmed_sign_up_past_its_lifetime_expires() {
        use aws_sdk_cognitoidentityprovider::types::UserStatusType;
        let unconfirmed = Some(&UserStatusType::Unconfirmed);
        assert!(unconfirmed_and_expired(unconfirmed, 100, 60, 160));
        assert!(!unconfirmed_and_expired(unconfirmed, 100, 60, 159));
        for other in [
            UserStatusType::Confirmed,
            UserStatusType::ForceChangePassword,
            UserStatusType::ResetRequired,
        ] {
            assert!(!unconfirmed_and_expired(Some(&other), 0, 60, 1_000_000), "{other:?}");
        }
        assert!(!unconfirmed_and_expired(None, 0, 60, 1_000_000));
    }

    #[test]
    fn invalid_sign_ups_and_confirmations_are_answered_before_any_aws_call() {
        let ctx = Context::offline();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (raw, _) = split_password(json!({"tenant_id": "Acme!", "admin_email": "x"})).unwrap();
        let a = rt.block_on(sign_up(&ctx, &raw, ""));
        assert_eq!(a.status, 400);
        for field in ["tenant_id", "company_name", "admin_email", "password"] {
            assert!(a.body["errors"][field].is_string(), "{field}: {}", a.body);
        }
        let a = rt.block_on(confirm(&ctx, &json!({"admin_email": "a@acme.io"})));
        assert_eq!(a.status, 400);
        // A valid request reaches AWS: offline, that is the 503 answer.
        let (raw, password) = split_password(json!({
            "tenant_id": "acme", "company_name": "Acme", "admin_email": "a@acme.io", "password": "Secr3t!Secr3t!"
        }))
        .unwrap();
        assert_eq!(rt.block_on(sign_up(&ctx, &raw, &password)).status, 503);
    }
}
