//! The Verify step: proof of isolation with real credentials at the end of onboarding.
//!
//! A probe user in the tenant's group signs in and gets credentials from the identity
//! pool. With them it must read its own secret and write, then read, an object in its own
//! prefix; and it must be refused on the tenant's canary (`tenants/{id}_canary/`, see
//! `tenant_domain::probe`): a write, a listing and a secret read. The probe user is
//! deleted whatever happens.
//!
//! Right after onboarding created the role and mapping, IAM and Cognito may still refuse
//! the tenant's own access: that is `IamNotPropagated`, and the state machine retries with
//! backoff — the proof by real credentials replaces a long fixed wait. On the last
//! attempt (`$$.State.RetryCount` = [`PROPAGATION_RETRIES`]) the same refusal is a failed
//! proof, `IsolationNotProven`, as is a canary that is NOT refused; both go to
//! compensation.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};
use tenant_domain::probe::{canary_prefix, canary_secret_name};
use tenant_domain::{TenantId, TenantNames};
use tracing::{info, warn};

use crate::error::classify;
use crate::probe::{self, TenantSession};
use crate::{Context, StepError, StepInput};

/// How often the state machine retries `IamNotPropagated` at the Verify state (its
/// `MaxAttempts`; a test checks the ASL agrees).
pub const PROPAGATION_RETRIES: u32 = 6;

/// Why a proof did not succeed.
enum Failed {
    /// The tenant's own access was refused: IAM may still be propagating.
    OwnAccessRefused(String),
    /// The proof ran and isolation does not hold.
    NotIsolated(String),
    /// Anything else (throttling, a 5xx, a setup error): classified as usual.
    Step(StepError),
}

impl From<StepError> for Failed {
    fn from(e: StepError) -> Self {
        match e {
            StepError::IamNotPropagated { operation, message, .. } => {
                Failed::OwnAccessRefused(format!("{operation}: {message}"))
            }
            other => Failed::Step(other),
        }
    }
}

pub async fn verify(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    if !ctx.settings.verify {
        warn!("isolation proof skipped: verification is switched off (TENANT_VERIFY=false)");
        return Ok(json!({ "verified": false, "skipped": "verification is switched off" }));
    }
    let retries = input.retry_count.unwrap_or(0);
    // A retried attempt may have crashed before deleting its user. (A proof that failed
    // for good is followed by compensation, whose DeleteGroup sweeps the same way.)
    if retries > 0 {
        probe::sweep(ctx, &tenant).await?;
    }
    let (user, session) = match probe::sign_in(ctx, &tenant).await {
        Ok(signed_in) => signed_in,
        Err(e) => return Err(verdict(&tenant, retries, Failed::from(e))),
    };
    let proof = prove(ctx, &tenant, &session, &user.email).await;
    // Always: the probe user and its identity go, whatever the proof said.
    let deleted = probe::delete_user(ctx, &user).await;
    probe::forget_identity(ctx, &session.identity_id).await;
    let checks = proof.map_err(|f| verdict(&tenant, retries, f))?;
    deleted?;
    info!(retries, "isolation proven with the tenant's own credentials");
    Ok(json!({ "verified": true, "checks": checks }))
}

/// The error the state machine sees for a failed proof.
fn verdict(tenant: &TenantId, retries: u32, failed: Failed) -> StepError {
    match failed {
        Failed::OwnAccessRefused(message) if retries < PROPAGATION_RETRIES => StepError::IamNotPropagated {
            service: "verify",
            operation: "OwnAccess",
            message,
        },
        Failed::OwnAccessRefused(message) => StepError::IsolationNotProven {
            tenant: tenant.to_string(),
            message: format!(
                "its own credentials were still refused after {retries} retries ({message}); check the role's inline policy, boundary and trust (`tenantctl audit`), then `tenantctl retry {tenant}`"
            ),
        },
        Failed::NotIsolated(message) => StepError::IsolationNotProven {
            tenant: tenant.to_string(),
            message: format!(
                "{message}; the role's policy reaches beyond the tenant — fix the policy template, then `tenantctl retry {tenant}`"
            ),
        },
        Failed::Step(e) => e,
    }
}

enum Access {
    Allowed,
    Denied(String),
}

fn outcome<T, E>(
    service: &'static str,
    operation: &'static str,
    result: Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> Result<(Access, Option<T>), StepError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(v) => Ok((Access::Allowed, Some(v))),
        Err(e) if matches!(e.code(), Some("AccessDenied" | "AccessDeniedException")) => {
            let detail = format!("{}: {}", e.code().unwrap_or(""), e.message().unwrap_or(""));
            Ok((Access::Denied(detail), None))
        }
        Err(e) => Err(classify(service, operation, &e)),
    }
}

/// Own access must be allowed; a refusal may be IAM lag.
fn must_allow<T>(what: &str, r: (Access, Option<T>)) -> Result<T, Failed> {
    match r {
        (Access::Allowed, Some(v)) => Ok(v),
        (Access::Denied(detail), _) => Err(Failed::OwnAccessRefused(format!("{what}: {detail}"))),
        (Access::Allowed, None) => Err(Failed::OwnAccessRefused(format!("{what}: no result"))),
    }
}

async fn prove(
    ctx: &Context,
    tenant: &TenantId,
    session: &TenantSession,
    probe_email: &str,
) -> Result<Vec<String>, Failed> {
    let names = TenantNames::new(tenant);
    let bucket = &ctx.settings.bucket;
    let mut checks = vec![];

    // Own secret.
    let r = session
        .secrets
        .get_secret_value()
        .secret_id(&names.secret_name)
        .send()
        .await;
    must_allow(
        &format!("secretsmanager:GetSecretValue on {}", names.secret_name),
        outcome("secretsmanager", "GetSecretValue", r)?,
    )?;
    checks.push(format!("allowed secretsmanager:GetSecretValue {}", names.secret_name));

    // Own prefix: write, read back, remove.
    let key = format!("{}.verify/{probe_email}", names.prefix);
    let body = format!("isolation proof for {tenant}");
    let r = session
        .s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(ByteStream::from(body.clone().into_bytes()))
        .send()
        .await;
    must_allow(&format!("s3:PutObject on {key}"), outcome("s3", "PutObject", r)?)?;
    let r = session.s3.get_object().bucket(bucket).key(&key).send().await;
    let got = must_allow(&format!("s3:GetObject on {key}"), outcome("s3", "GetObject", r)?)?;
    let read = got
        .body
        .collect()
        .await
        .map_err(|e| {
            Failed::Step(StepError::ServiceUnavailable {
                service: "s3",
                operation: "GetObject",
                message: e.to_string(),
            })
        })?
        .into_bytes();
    if read.as_ref() != body.as_bytes() {
        return Err(Failed::NotIsolated(format!(
            "the object it wrote to {key} read back different content"
        )));
    }
    let r = session.s3.delete_object().bucket(bucket).key(&key).send().await;
    must_allow(&format!("s3:DeleteObject on {key}"), outcome("s3", "DeleteObject", r)?)?;
    checks.push(format!("allowed s3:PutObject, s3:GetObject, s3:DeleteObject {key}"));

    // The canary: inside the boundary, outside the tenant's policy. Each call is one whose
    // refusal does not depend on the target existing.
    let canary = canary_prefix(tenant);
    let canary_key = format!("{canary}{probe_email}");
    let r = session
        .s3
        .put_object()
        .bucket(bucket)
        .key(&canary_key)
        .body(ByteStream::from_static(b"must be refused"))
        .send()
        .await;
    if let (Access::Allowed, _) = outcome("s3", "PutObject", r)? {
        // Remove what the wrongly allowed write left, with the function's own role.
        let _ = ctx
            .clients
            .s3
            .delete_object()
            .bucket(bucket)
            .key(&canary_key)
            .send()
            .await;
        return Err(Failed::NotIsolated(format!(
            "its credentials were allowed s3:PutObject on the canary {canary_key}"
        )));
    }
    let r = session.s3.list_objects_v2().bucket(bucket).prefix(&canary).send().await;
    if let (Access::Allowed, _) = outcome("s3", "ListObjectsV2", r)? {
        return Err(Failed::NotIsolated(format!(
            "its credentials were allowed s3:ListBucket on the canary prefix {canary}"
        )));
    }
    let canary_secret = canary_secret_name(tenant);
    let r = session
        .secrets
        .get_secret_value()
        .secret_id(&canary_secret)
        .send()
        .await;
    match r {
        Err(e) if e.code() == Some("AccessDeniedException") => {}
        // Not found means IAM let the call through to the service: not refused.
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) =>
        {
            return Err(Failed::NotIsolated(format!(
                "its credentials were allowed secretsmanager:GetSecretValue on the canary {canary_secret}"
            )));
        }
        Ok(_) => {
            return Err(Failed::NotIsolated(format!(
                "its credentials read the canary secret {canary_secret}"
            )));
        }
        Err(e) => return Err(Failed::Step(classify("secretsmanager", "GetSecretValue", &e))),
    }
    checks.push(format!(
        "denied s3:PutObject, s3:ListBucket {canary} and secretsmanager:GetSecretValue {canary_secret}"
    ));
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    #[test]
    fn own_refusals_are_lag_until_the_last_retry() {
        let lag = verdict(
            &acme(),
            0,
            Failed::OwnAccessRefused("s3:PutObject: AccessDenied".into()),
        );
        assert_eq!(lag.name(), "IamNotPropagated");
        assert!(lag.is_transient());
        let last = verdict(
            &acme(),
            PROPAGATION_RETRIES,
            Failed::OwnAccessRefused("s3:PutObject: AccessDenied".into()),
        );
        assert_eq!(last.name(), "IsolationNotProven");
        assert!(!last.is_transient());
        assert!(last.to_string().contains("tenant acme"), "{last}");
        assert!(last.to_string().contains("tenantctl retry acme"), "{last}");
    }

    #[test]
    fn a_reachable_canary_fails_at_once() {
        let e = verdict(&acme(), 0, Failed::NotIsolated("allowed on the canary".into()));
        assert_eq!(e.name(), "IsolationNotProven");
    }

    #[test]
    fn other_errors_keep_their_names() {
        let e = verdict(
            &acme(),
            PROPAGATION_RETRIES,
            Failed::Step(StepError::Throttled {
                service: "s3",
                operation: "PutObject",
                message: "slow down".into(),
            }),
        );
        assert_eq!(e.name(), "Throttled");
    }
}
