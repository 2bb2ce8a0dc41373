//! What a tenant's own credentials reach: the data-plane calls each resource module
//! makes with an identity-pool session ([`super::TenantResource::reach`]). Verify makes
//! them on the tenant's own resources (all allowed) and on its canary (all refused);
//! `tenantctl check-isolation` on every other tenant's (all refused). IAM decides, not us.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use tenant_domain::TenantId;

use crate::StepError;
use crate::error::classify;
use crate::probe::TenantSession;

/// Whose resource a session tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// The session's own tenant: every call must be allowed.
    Own,
    /// The session tenant's canary (`tenant_domain::canary`): inside the boundary,
    /// outside the tenant's policy. Only calls whose refusal does not depend on the
    /// target existing, since the canary never exists.
    Canary,
    /// Another tenant, which exists: every call must be refused.
    Other,
}

/// Who tries, with which credentials, on whose resources.
pub struct Reach<'a> {
    pub session: &'a TenantSession,
    /// Names the objects the session writes, so concurrent proofs never collide.
    pub actor: &'a str,
    /// The one tenant the session may reach (none for a user of several tenants or none).
    pub own: Option<&'a TenantId>,
    /// The tenant whose resources are tried (for `Canary`, the session's own tenant).
    pub target: &'a TenantId,
    pub whose: Whose,
}

/// What the service answered one call.
#[derive(Debug)]
pub enum Answer {
    /// IAM let the call through: it succeeded, or the service looked and found nothing.
    Allowed(String),
    /// IAM refused it: the code and message.
    Denied(String),
    /// Allowed, but the data read back was not what the session wrote.
    Wrong(String),
    /// Neither allowed nor refused (throttling, a 5xx, a missing bucket).
    Failed(StepError),
}

impl Answer {
    /// What the answer said, for a report.
    pub fn detail(&self) -> String {
        match self {
            Answer::Allowed(d) | Answer::Denied(d) | Answer::Wrong(d) => d.clone(),
            Answer::Failed(e) => e.to_string(),
        }
    }

    /// Sorts a call's result: IAM's refusal codes are `Denied`; a not-found answer means
    /// IAM let the call reach the service, so it is `Allowed`.
    pub fn of<T, E>(
        service: &'static str,
        operation: &'static str,
        result: &Result<T, SdkError<E, HttpResponse>>,
    ) -> Answer
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let e = match result {
            Ok(_) => return Answer::Allowed("ok".into()),
            Err(e) => e,
        };
        let detail = format!("{}: {}", e.code().unwrap_or("Unknown"), e.message().unwrap_or(""));
        match e.code() {
            Some("AccessDenied" | "AccessDeniedException") => Answer::Denied(detail),
            Some("NoSuchKey" | "NotFound" | "ResourceNotFoundException") => {
                Answer::Allowed(format!("reached the service ({detail})"))
            }
            _ => Answer::Failed(classify(service, operation, e)),
        }
    }
}

/// One call a session made on a resource, and the answer.
#[derive(Debug)]
pub struct Attempt {
    /// The IAM action, e.g. `s3:PutObject` (with how it was made, where that matters).
    pub action: &'static str,
    /// What it was made on: a key, a prefix, a secret name.
    pub resource: String,
    pub answer: Answer,
}

impl Attempt {
    pub fn new(action: &'static str, resource: impl Into<String>, answer: Answer) -> Attempt {
        Attempt {
            action,
            resource: resource.into(),
            answer,
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    #[derive(Debug)]
    struct Refused(ErrorMetadata);
    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", self.0.code())
        }
    }
    impl std::error::Error for Refused {}
    impl ProvideErrorMetadata for Refused {
        fn meta(&self) -> &ErrorMetadata {
            &self.0
        }
    }

    fn answer(code: &str, status: u16) -> Answer {
        let raw = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        let e = Refused(ErrorMetadata::builder().code(code).message("m").build());
        let r: Result<(), _> = Err(SdkError::service_error(e, raw));
        Answer::of("s3", "GetObject", &r)
    }

    #[test]
    fn refusals_are_denied_not_found_is_reached_and_the_rest_failed() {
        assert!(matches!(answer("AccessDenied", 403), Answer::Denied(d) if d == "AccessDenied: m"));
        assert!(matches!(answer("AccessDeniedException", 400), Answer::Denied(_)));
        for code in ["NoSuchKey", "NotFound", "ResourceNotFoundException"] {
            let a = answer(code, 404);
            assert!(matches!(a, Answer::Allowed(_)), "{code}: {a:?}");
            assert!(a.detail().contains(code), "{a:?}");
        }
        match answer("SlowDown", 503) {
            Answer::Failed(e) => assert_eq!(e.name(), "Throttled"),
            other => panic!("{other:?}"),
        }
        let ok: Result<(), SdkError<Refused, HttpResponse>> = Ok(());
        assert!(matches!(Answer::of("s3", "GetObject", &ok), Answer::Allowed(d) if d == "ok"));
    }
}
