//! A local Lambda Invoke API. moto's Step Functions interpreter calls
//! `POST /2015-03-31/functions/{arn}/invocations` here; we run the step handler and keep
//! Lambda's contract: a handler error is HTTP 200 with `X-Amz-Function-Error: Unhandled`
//! and `{"errorType", "errorMessage"}`, so `Retry`/`Catch` see the same names as in AWS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tenant_steps::{Context, Step};
use tokio::net::TcpListener;

use crate::function_roles::FunctionContexts;

/// `TENANT_SIGNUP_HANDLER` of the function that serves the signup form and API.
pub const SIGNUP_HTTP_HANDLER: &str = "http";
/// `TENANT_SIGNUP_HANDLER` of the function that takes TenantSignupRequested events.
pub const SIGNUP_EVENTS_HANDLER: &str = "events";

/// Local function names are `tenant-{step}`; the state machine's ARNs end with them.
pub const FUNCTION_PREFIX: &str = "tenant-";

pub fn function_name(step: Step) -> String {
    format!("{FUNCTION_PREFIX}{}", step.name())
}

pub fn function_arn(step: Step) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{}",
        crate::REGION,
        crate::ACCOUNT_ID,
        function_name(step)
    )
}

/// Local name of the pre-token-generation trigger (the user pool's LambdaConfig names it).
pub const PRE_TOKEN_FUNCTION: &str = "tenant-pre-token-generation";

pub fn pre_token_function_arn() -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{PRE_TOKEN_FUNCTION}",
        crate::REGION,
        crate::ACCOUNT_ID
    )
}

/// The function name of a bare name, a partial ARN or a full ARN with an optional qualifier.
fn name_of(name_or_arn: &str) -> &str {
    match name_or_arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => name_or_arn,
    }
}

/// Accepts a bare name, a partial ARN or a full ARN with an optional qualifier.
pub fn step_for(name_or_arn: &str) -> Option<Step> {
    Step::from_name(name_of(name_or_arn).strip_prefix(FUNCTION_PREFIX)?)
}

/// Fault injection, per tenant and step. It exists only here, in the local endpoint: the
/// Lambda binaries do not depend on this crate, so deployed functions cannot be made to
/// fail on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultMode {
    /// The first invocation fails with a transient error (the state machine retries).
    FailOnce,
    /// Every invocation fails with `FaultInjected`, which is not retried.
    FailAlways,
    /// The handler panics, as a crashing function would.
    Crash,
    /// The function runs out of time (`Sandbox.Timedout`, as Lambda reports it).
    Timeout,
    /// Before the step runs, the tenant role's inline policy is replaced by one reaching
    /// every tenant's data (the boundary's whole namespace): a broken policy template.
    WidenPolicy,
    /// Before the step runs, the tenant role's inline policy is deleted: the role grants
    /// nothing, not even the tenant's own data.
    RevokePolicy,
}

impl std::str::FromStr for FaultMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(Value::String(s.to_string())).map_err(|_| {
            format!("unknown fault {s:?}; use fail-once, fail-always, crash, timeout, widen-policy or revoke-policy")
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Fault {
    pub tenant: String,
    pub step: String,
    pub mode: FaultMode,
}

#[derive(Debug, Default)]
pub struct Faults(Mutex<HashMap<(String, String), FaultMode>>);

impl Faults {
    pub fn set(&self, tenant: &str, step: Step, mode: FaultMode) {
        self.0
            .lock()
            .expect("faults lock")
            .insert((tenant.to_string(), step.name().to_string()), mode);
    }

    pub fn clear(&self) {
        self.0.lock().expect("faults lock").clear();
    }

    pub fn list(&self) -> Vec<Fault> {
        let map = self.0.lock().expect("faults lock");
        map.iter()
            .map(|((tenant, step), mode)| Fault {
                tenant: tenant.clone(),
                step: step.clone(),
                mode: *mode,
            })
            .collect()
    }

    /// The fault to apply to this invocation; a fail-once fault is used up by it.
    fn fire(&self, tenant: &str, step: Step) -> Option<FaultMode> {
        let mut map = self.0.lock().expect("faults lock");
        let key = (tenant.to_string(), step.name().to_string());
        let mode = map.get(&key).copied()?;
        if mode == FaultMode::FailOnce {
            map.remove(&key);
        }
        Some(mode)
    }
}

#[derive(Clone)]
struct AppState {
    /// The stack's admin context: fault injection only.
    ctx: Arc<Context>,
    /// Each function's context, with its own role's credentials (by handler name).
    functions: FunctionContexts,
    faults: Arc<Faults>,
    onboarding_arn: Arc<str>,
}

impl AppState {
    /// The context a handler runs with: its function's role. Without function roles (none
    /// configured) the admin context; a handler the template has no function for fails
    /// as Lambda does for an unknown function.
    fn context_for(&self, handler: &str) -> Result<Arc<Context>, String> {
        if self.functions.is_empty() {
            return Ok(self.ctx.clone());
        }
        self.functions
            .get(handler)
            .ok_or_else(|| format!("the template defines no function for handler {handler}"))
    }
}

/// The Lambda Invoke API, the local fault API, and the signup form (what API Gateway
/// serves in AWS).
pub fn router(ctx: Arc<Context>, functions: FunctionContexts, faults: Arc<Faults>, onboarding_arn: &str) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{function}/invocations", post(invoke))
        .route("/_local/faults", put(put_fault).get(get_faults).delete(delete_faults))
        // The signup page and API, as the HTTP API serves them in AWS.
        .route("/", axum::routing::get(signup))
        .route("/signup", axum::routing::get(signup).post(signup))
        .route("/signup/{id}", axum::routing::get(signup))
        .with_state(AppState {
            ctx,
            functions,
            faults,
            onboarding_arn: Arc::from(onboarding_arn),
        })
}

pub async fn serve(
    listener: TcpListener,
    ctx: Arc<Context>,
    functions: FunctionContexts,
    faults: Arc<Faults>,
    onboarding_arn: &str,
) -> std::io::Result<()> {
    axum::serve(listener, router(ctx, functions, faults, onboarding_arn)).await
}

async fn signup(
    State(state): State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = tenant_steps::signup::Request {
        method: method.as_str().to_string(),
        path: uri.path().to_string(),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: body.to_vec(),
    };
    let ctx = match state.context_for(SIGNUP_HTTP_HANDLER) {
        Ok(ctx) => ctx,
        Err(message) => return (StatusCode::INTERNAL_SERVER_ERROR, message).into_response(),
    };
    let out = tenant_steps::signup::handle(&ctx, &state.onboarding_arn, request).await;
    let status = StatusCode::from_u16(out.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("content-type", out.content_type)], out.body).into_response()
}

async fn put_fault(State(state): State<AppState>, axum::Json(fault): axum::Json<Fault>) -> Response {
    match Step::from_name(&fault.step) {
        Some(step) => {
            state.faults.set(&fault.tenant, step, fault.mode);
            (StatusCode::OK, axum::Json(fault)).into_response()
        }
        None => (StatusCode::BAD_REQUEST, format!("unknown step {:?}", fault.step)).into_response(),
    }
}

async fn get_faults(State(state): State<AppState>) -> Response {
    axum::Json(state.faults.list()).into_response()
}

async fn delete_faults(State(state): State<AppState>) -> Response {
    state.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn invoke(State(state): State<AppState>, Path(function): Path<String>, body: Bytes) -> Response {
    if name_of(&function) == PRE_TOKEN_FUNCTION {
        return pre_token(&body);
    }
    let Some(step) = step_for(&function) else {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amzn-ErrorType",
            HeaderValue::from_static("ResourceNotFoundException"),
        );
        let body = json!({ "Type": "User", "Message": format!("Function not found: {function}") });
        return (StatusCode::NOT_FOUND, headers, axum::Json(body)).into_response();
    };
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        // What lambda_runtime answers for an event it cannot deserialize (same parser, same limits).
        Err(e) => {
            return unhandled(
                tenant_steps::error::PAYLOAD_UNREADABLE,
                &format!("failed to deserialize the incoming data into the function's payload type: {e}"),
            );
        }
    };
    let tenant = payload
        .get("tenant_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let fault = state.faults.fire(&tenant, step);
    let what = format!("injected fault in {} for tenant {tenant}", step.name());
    match fault {
        Some(FaultMode::FailOnce) => return unhandled("ServiceUnavailable", &format!("{what} (fail once)")),
        Some(FaultMode::FailAlways) => return unhandled("FaultInjected", &format!("{what} (fail always)")),
        Some(FaultMode::Timeout) => {
            tokio::time::sleep(Duration::from_millis(500)).await;
            return unhandled(
                "Sandbox.Timedout",
                &format!("Task timed out after 0.50 seconds ({what})"),
            );
        }
        Some(mode @ (FaultMode::WidenPolicy | FaultMode::RevokePolicy)) => {
            if let Err(e) = tamper_policy(&state.ctx, &tenant, mode).await {
                return unhandled(
                    "FaultInjected",
                    &format!("{what}: could not tamper with the policy: {e}"),
                );
            }
        }
        Some(FaultMode::Crash) | None => {}
    }
    let ctx = match state.context_for(step.name()) {
        Ok(ctx) => ctx,
        Err(message) => return unhandled("Runtime.HandlerNotFound", &message),
    };
    let crash = fault == Some(FaultMode::Crash);
    // Run on its own task so a panicking handler is reported like a crashed Lambda
    // runtime instead of taking the endpoint down.
    let task = tokio::spawn(async move {
        if crash {
            panic!("{what} (crash)");
        }
        tenant_steps::dispatch::run(&ctx, step, payload).await
    });
    match task.await {
        Ok(Ok(out)) => (StatusCode::OK, [("X-Amz-Executed-Version", "$LATEST")], axum::Json(out)).into_response(),
        Ok(Err(e)) => unhandled(e.name(), &e.to_string()),
        Err(join) => unhandled("Runtime.ExitError", &format!("handler crashed: {join}")),
    }
}

/// The trigger Cognito calls while issuing tokens: the same handler its binary serves.
/// It makes no AWS call, so it needs no function context.
fn pre_token(body: &[u8]) -> Response {
    let payload: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return unhandled(tenant_steps::error::PAYLOAD_UNREADABLE, &e.to_string()),
    };
    match tenant_steps::token::handle(payload) {
        Ok(out) => (StatusCode::OK, [("X-Amz-Executed-Version", "$LATEST")], axum::Json(out)).into_response(),
        Err(e) => unhandled(e.name(), &e.to_string()),
    }
}

/// Breaks the tenant role's inline policy with the local stack's admin credentials.
async fn tamper_policy(ctx: &Context, tenant: &str, mode: FaultMode) -> Result<(), String> {
    let tenant = tenant_domain::TenantId::parse(tenant).map_err(|e| e.to_string())?;
    let names = tenant_domain::TenantNames::new(&tenant);
    let iam = &ctx.clients.iam;
    let policy = tenant_domain::names::INLINE_POLICY_NAME;
    if mode == FaultMode::WidenPolicy {
        let wide = tenant_domain::policy::boundary_policy(&ctx.settings.deployment()).to_json();
        iam.put_role_policy()
            .role_name(&names.role_name)
            .policy_name(policy)
            .policy_document(wide)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
    } else {
        let _ = iam
            .delete_role_policy()
            .role_name(&names.role_name)
            .policy_name(policy)
            .send()
            .await;
    }
    Ok(())
}

fn unhandled(error_type: &str, message: &str) -> Response {
    let body = json!({ "errorType": error_type, "errorMessage": message });
    (
        StatusCode::OK,
        [
            ("X-Amz-Function-Error", "Unhandled"),
            ("X-Amz-Executed-Version", "$LATEST"),
        ],
        axum::Json(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_once_fires_once() {
        let f = Faults::default();
        f.set("acme", Step::CreateRole, FaultMode::FailOnce);
        f.set("acme", Step::CreateGroup, FaultMode::FailAlways);
        assert_eq!(f.fire("acme", Step::CreateRole), Some(FaultMode::FailOnce));
        assert_eq!(f.fire("acme", Step::CreateRole), None);
        assert_eq!(f.fire("acme", Step::CreateGroup), Some(FaultMode::FailAlways));
        assert_eq!(f.fire("acme", Step::CreateGroup), Some(FaultMode::FailAlways));
        assert_eq!(f.fire("other", Step::CreateGroup), None);
        assert_eq!("crash".parse::<FaultMode>(), Ok(FaultMode::Crash));
    }

    /// Deployed functions must not be able to inject faults: the binaries' dependency
    /// tree never includes this crate.
    #[test]
    fn lambda_binaries_cannot_reach_fault_injection() {
        for manifest in [
            include_str!("../../functions/Cargo.toml"),
            include_str!("../../steps/Cargo.toml"),
        ] {
            assert!(!manifest.contains("tenant-localstack"), "{manifest}");
        }
    }

    #[test]
    fn resolves_names_and_arns() {
        let arn = function_arn(Step::CreateRole);
        assert_eq!(step_for(&arn), Some(Step::CreateRole));
        assert_eq!(step_for(&format!("{arn}:$LATEST")), Some(Step::CreateRole));
        assert_eq!(step_for("tenant-record-active"), Some(Step::RecordActive));
        assert_eq!(step_for("other-function"), None);
    }
}
