//! Step errors. Each variant's name is the error name the state machine sees (Lambda's
//! `errorType`), so `Retry` and `Catch` in `statemachine/*.asl.json` match on these
//! names. AWS SDK errors are classified here, in one place.

use std::error::Error as StdError;

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// The tenant id does not fit the grammar. Not retried.
    #[error("{message}")]
    InvalidTenantId { message: String },
    /// The step's input is malformed. Not retried.
    #[error("invalid step input: {message}")]
    InvalidInput { message: String },
    /// A Rules-type mapping is full. Not retried.
    #[error("tenant {tenant}: {message}")]
    RuleLimitReached { tenant: String, message: String },
    /// The tenant record belongs to another execution or is in a state this step may not
    /// leave. Not retried: a newer attempt owns the tenant.
    #[error("tenant {tenant}: {message}")]
    StaleExecution { tenant: String, message: String },
    /// A resource with the tenant's name exists but is not ours to converge (wrong path,
    /// wrong tag). Not retried: a person must look.
    #[error("tenant {tenant}: {message}")]
    ResourceConflict { tenant: String, message: String },
    /// AWS throttled the call. Retried with backoff and jitter.
    #[error("{service} {operation} was throttled: {message}")]
    Throttled {
        service: &'static str,
        operation: &'static str,
        message: String,
    },
    /// A 5xx, a timeout or a connection failure. Retried with backoff and jitter.
    #[error("{service} {operation} failed on the service side: {message}")]
    ServiceUnavailable {
        service: &'static str,
        operation: &'static str,
        message: String,
    },
    /// IAM has not propagated a just-created role yet. Retried with backoff and jitter.
    #[error("{service} {operation}: IAM change not visible yet: {message}")]
    IamNotPropagated {
        service: &'static str,
        operation: &'static str,
        message: String,
    },
    /// Another execution holds the role-mapping lock. Retried with backoff and jitter.
    #[error("role mapping is being updated by {holder}; will retry")]
    MappingLockBusy { holder: String },
    /// The functions' own role may not do this. Not retried: fix the deployment.
    #[error("{service} {operation} was denied: {message}")]
    AccessDenied {
        service: &'static str,
        operation: &'static str,
        message: String,
    },
    /// Any other error the service returned. Not retried.
    #[error("{service} {operation} failed ({code}): {message}")]
    AwsRequestFailed {
        service: &'static str,
        operation: &'static str,
        code: String,
        message: String,
    },
    /// The Verify step's proof failed: the tenant's own credentials were still refused
    /// after every retry, or they reached the canary outside the tenant. Not retried:
    /// compensation removes the tenant.
    #[error("tenant {tenant}: isolation not proven: {message}")]
    IsolationNotProven { tenant: String, message: String },
    /// The function's environment is incomplete. Not retried.
    #[error("misconfigured: {message}")]
    Misconfigured { message: String },
    /// An SDK request could not be built (a required field left unset): a bug in the
    /// step, not in its input. Not retried.
    #[error("internal error: {message}")]
    Internal { message: String },
}

/// `name()` and `NAMES` from the variant identifiers themselves: the error name the state
/// machine matches on cannot drift from the variant. A variant missing here is a
/// non-exhaustive match (compile error); a misspelt one names no variant.
macro_rules! error_names {
    ($($variant:ident),* $(,)?) => {
        impl StepError {
            /// Every error name a step can report, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($variant)),*];

            /// The Step Functions error name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(StepError::$variant { .. } => stringify!($variant),)*
                }
            }
        }
    };
}

error_names!(
    InvalidTenantId,
    InvalidInput,
    RuleLimitReached,
    StaleExecution,
    ResourceConflict,
    Throttled,
    ServiceUnavailable,
    IamNotPropagated,
    MappingLockBusy,
    AccessDenied,
    AwsRequestFailed,
    IsolationNotProven,
    Misconfigured,
    Internal,
);

/// The `errorType` `lambda_runtime` reports when it cannot read an event at all (JSON
/// nested deeper than serde_json's limit of 128, say): `std::any::type_name` of its
/// deserialize error, before any handler runs. The onboarding state machine refuses the
/// request on it like on `InvalidInput`; the local Lambda endpoint reports the same name.
pub const PAYLOAD_UNREADABLE: &str = "lambda_runtime::deserializer::DeserializeError";

impl StepError {
    /// Step errors the state machine retries (it also retries `Lambda.*` service errors);
    /// other errors are not retried: refusals at the first step end the execution, any
    /// later failure goes to compensation.
    pub const TRANSIENT: [&'static str; 4] = ["Throttled", "ServiceUnavailable", "IamNotPropagated", "MappingLockBusy"];

    /// Errors the onboarding state machine catches at its first step and ends on without
    /// compensation (nothing was created; `RuleLimitReached` is recorded as refused). Every
    /// other non-transient name falls to `States.ALL`, i.e. compensation.
    pub const REFUSED: [&'static str; 4] = ["InvalidTenantId", "InvalidInput", "StaleExecution", "RuleLimitReached"];

    pub fn is_transient(&self) -> bool {
        Self::TRANSIENT.contains(&self.name())
    }

    /// Names the resource the failed request was about: DynamoDB's and Step Functions'
    /// "requested resource not found" does not say which table or state machine.
    pub fn about(mut self, resource: impl std::fmt::Display) -> StepError {
        match &mut self {
            StepError::Throttled { message, .. }
            | StepError::ServiceUnavailable { message, .. }
            | StepError::IamNotPropagated { message, .. }
            | StepError::AccessDenied { message, .. }
            | StepError::AwsRequestFailed { message, .. } => *message = format!("{resource}: {message}"),
            _ => {}
        }
        self
    }

    /// A request builder refused: the code left a required field unset.
    pub fn internal(e: impl std::fmt::Display) -> StepError {
        StepError::Internal { message: e.to_string() }
    }
}

impl From<StepError> for lambda_runtime::Diagnostic {
    fn from(e: StepError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.name().to_string(),
            error_message: e.to_string(),
        }
    }
}

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "PriorRequestNotComplete",
    // IAM answers concurrent writes to one entity with this; it clears on retry.
    "ConcurrentModification",
    "ConcurrentModificationException",
];

const SERVER_SIDE: &[&str] = &[
    "InternalFailure",
    "InternalError",
    "InternalErrorException",
    "InternalServerError",
    "InternalServiceError",
    "InternalServiceErrorException",
    "ServiceFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "NotAuthorizedException",
];

/// Classifies any SDK error by its error code and HTTP status; the one place AWS errors
/// become step errors.
pub fn classify<E>(service: &'static str, operation: &'static str, err: &SdkError<E, HttpResponse>) -> StepError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let message = describe(err);
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            return StepError::ServiceUnavailable {
                service,
                operation,
                message,
            };
        }
        _ => {}
    }
    let code = err.code().unwrap_or("Unknown");
    let status = err.raw_response().map(|r| r.status().as_u16());
    classify_code(service, operation, code, status, message)
}

/// The result of a conditional DynamoDB write: `true` if written, `false` if its condition
/// did not hold; any other error is classified.
pub fn condition_held<T, E>(
    operation: &'static str,
    result: Result<T, SdkError<E, HttpResponse>>,
) -> Result<bool, StepError>
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(classify("dynamodb", operation, &e)),
    }
}

/// Classifies an error code (and HTTP status, when there is one), e.g. a per-key error
/// inside a successful S3 DeleteObjects response.
pub fn classify_code(
    service: &'static str,
    operation: &'static str,
    code: &str,
    status: Option<u16>,
    message: String,
) -> StepError {
    if THROTTLING.contains(&code) || status == Some(429) {
        StepError::Throttled {
            service,
            operation,
            message,
        }
    } else if SERVER_SIDE.contains(&code) || status.is_some_and(|s| s >= 500) {
        StepError::ServiceUnavailable {
            service,
            operation,
            message,
        }
    } else if DENIED.contains(&code) {
        StepError::AccessDenied {
            service,
            operation,
            message,
        }
    } else {
        StepError::AwsRequestFailed {
            service,
            operation,
            code: code.to_string(),
            message,
        }
    }
}

fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match (err.code(), err.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.to_string(),
        _ => {
            // Walk the source chain: the top-level Display of SdkError is terse.
            let mut out = err.to_string();
            let mut src = StdError::source(err);
            while let Some(s) = src {
                out.push_str(": ");
                out.push_str(&s.to_string());
                src = s.source();
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use aws_sdk_iam::error::ErrorMetadata;
    use aws_sdk_iam::operation::create_role::CreateRoleError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn service_error(code: &str, status: u16) -> SdkError<CreateRoleError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message("details").build();
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(CreateRoleError::generic(meta), raw)
    }

    #[test]
    fn an_aws_error_names_the_resource_it_was_about() {
        let e =
            classify("dynamodb", "GetItem", &service_error("ResourceNotFoundException", 400)).about("table tenants");
        assert_eq!(e.name(), "AwsRequestFailed");
        assert_eq!(
            e.to_string(),
            "dynamodb GetItem failed (ResourceNotFoundException): table tenants: ResourceNotFoundException: details"
        );
        let refused = StepError::InvalidInput { message: "bad".into() };
        assert_eq!(refused.clone().about("table tenants"), refused);
    }
    #[test]
    fn classifies_by_code_and_status() {
        let name = |code, status| classify("iam", "CreateRole", &service_error(code, status)).name();
        assert_eq!(name("Throttling", 400), "Throttled");
        assert_eq!(name("TooManyRequestsException", 400), "Throttled");
        assert_eq!(name("Whatever", 429), "Throttled");
        assert_eq!(name("ServiceFailure", 500), "ServiceUnavailable");
        assert_eq!(name("Unknown", 503), "ServiceUnavailable");
        assert_eq!(name("AccessDenied", 403), "AccessDenied");
        assert_eq!(name("MalformedPolicyDocument", 400), "AwsRequestFailed");
        let e = classify("iam", "CreateRole", &service_error("MalformedPolicyDocument", 400));
        assert!(
            e.to_string()
                .contains("iam CreateRole failed (MalformedPolicyDocument): MalformedPolicyDocument: details"),
            "{e}"
        );
    }

    #[test]
    fn timeouts_are_transient() {
        let e: SdkError<CreateRoleError, HttpResponse> = SdkError::timeout_error("slow");
        assert!(classify("iam", "CreateRole", &e).is_transient());
    }

    #[test]
    fn names_are_the_variant_names() {
        let e = StepError::MappingLockBusy { holder: "x".into() };
        assert_eq!(e.name(), "MappingLockBusy");
        assert!(e.is_transient());
        let d: lambda_runtime::Diagnostic = StepError::InvalidTenantId { message: "bad".into() }.into();
        assert_eq!(d.error_type, "InvalidTenantId");
        assert_eq!(d.error_message, "bad");
        let e = StepError::internal("role_name is required");
        assert_eq!(e.name(), "Internal");
        assert!(!e.is_transient());
    }

    /// The hand-written lists name real variants.
    #[test]
    fn the_name_lists_name_variants() {
        for n in StepError::TRANSIENT.iter().chain(&StepError::REFUSED) {
            assert!(StepError::NAMES.contains(n), "{n} is no StepError variant");
        }
        assert_eq!(StepError::NAMES.len(), 14);
        assert_eq!(StepError::NAMES[0], "InvalidTenantId");
    }
}
