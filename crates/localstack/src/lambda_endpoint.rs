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

/// `TENANT_SIGNUP_HANDLER` of the user pool's post-confirmation trigger.
pub const SIGNUP_CONFIRMED_HANDLER: &str = "post-confirmation";
/// The local name of that trigger (template.yaml: `${AWS::StackName}-signup-confirmed`).
pub const SIGNUP_CONFIRMED_FUNCTION: &str = "tenant-signup-confirmed";

pub fn post_confirmation_arn() -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{SIGNUP_CONFIRMED_FUNCTION}",
        crate::REGION,
        crate::ACCOUNT_ID
    )
}

/// The function part of a name or ARN (`...:function:{name}[:qualifier]`).
fn function_part(name_or_arn: &str) -> &str {
    match name_or_arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => name_or_arn,
    }
}

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

/// Accepts a bare name, a partial ARN or a full ARN with an optional qualifier.
pub fn step_for(name_or_arn: &str) -> Option<Step> {
    Step::from_name(function_part(name_or_arn).strip_prefix(FUNCTION_PREFIX)?)
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
    /// For the post-confirmation trigger, which starts onboarding.
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

/// The Lambda Invoke API (moto's Step Functions calls it) and the local fault API: the
/// stack's internal port. The public signup page is served by [`signup_router`] on its
/// own port, so a visitor of the page cannot reach fault injection (which can widen a
/// tenant's policy).
pub fn router(ctx: Arc<Context>, functions: FunctionContexts, faults: Arc<Faults>, onboarding_arn: &str) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{function}/invocations", post(invoke))
        .route("/_local/faults", put(put_fault).get(get_faults).delete(delete_faults))
        .route("/_local/template", put(put_template))
        .route("/_local/mapping-type", put(put_mapping_type))
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

/// API Gateway's payload limit for HTTP APIs (10 MB); it answers 413 above it. Smaller
/// bodies reach the handler, which refuses more than `signup::MAX_BODY` itself.
pub const PAYLOAD_LIMIT: usize = 10 * 1024 * 1024;

/// How long the local page waits for a request body. API Gateway does not hold a slow
/// client for long before the integration runs; locally an unbounded read held a
/// connection (and its task) for as long as the client trickled bytes.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct SignupState {
    ctx: Arc<Context>,
    functions: FunctionContexts,
    onboarding_arn: Arc<str>,
    body_timeout: Duration,
    mode: tenant_steps::signup::Mode,
}

/// The public signup page and API, as the HTTP API serves them in AWS: every method and
/// path goes to the handler, which answers unknown ones with JSON 404/405 (`Allow`).
pub fn signup_router(
    ctx: Arc<Context>,
    functions: FunctionContexts,
    onboarding_arn: &str,
    body_timeout: Duration,
    mode: tenant_steps::signup::Mode,
) -> Router {
    Router::new().fallback(signup).with_state(SignupState {
        ctx,
        functions,
        onboarding_arn: Arc::from(onboarding_arn),
        body_timeout,
        mode,
    })
}

pub async fn serve_signup(
    listener: TcpListener,
    ctx: Arc<Context>,
    functions: FunctionContexts,
    onboarding_arn: &str,
    mode: tenant_steps::signup::Mode,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        signup_router(ctx, functions, onboarding_arn, BODY_READ_TIMEOUT, mode)
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await
}

fn json_error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// Why a request body was not read.
#[derive(Debug, thiserror::Error)]
enum BodyRefused {
    #[error("the request body is larger than {PAYLOAD_LIMIT} bytes")]
    TooLarge,
    #[error("the request body could not be read: {0}")]
    Unreadable(axum::Error),
}

/// Reads the body up to `PAYLOAD_LIMIT`, stopping as soon as it is exceeded.
async fn read_limited(mut body: axum::body::Body) -> Result<Vec<u8>, BodyRefused> {
    use axum::body::HttpBody as _;
    let mut out = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(BodyRefused::Unreadable)?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > PAYLOAD_LIMIT {
                return Err(BodyRefused::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

async fn signup(State(state): State<SignupState>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A declared length over the limit is refused before waiting for any of it.
    let read = if declared.is_some_and(|n| n > PAYLOAD_LIMIT as u64) {
        Ok(Err(BodyRefused::TooLarge))
    } else {
        tokio::time::timeout(state.body_timeout, read_limited(body)).await
    };
    let body = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e @ BodyRefused::TooLarge)) => return json_error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        Ok(Err(e @ BodyRefused::Unreadable(_))) => return json_error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(_) => {
            return json_error(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    state.body_timeout.as_secs_f32()
                ),
            );
        }
    };
    let request = tenant_steps::signup::Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        content_type: parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body,
        source: parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
    };
    let ctx = if state.functions.is_empty() {
        state.ctx.clone()
    } else {
        match state.functions.get(SIGNUP_HTTP_HANDLER) {
            Some(ctx) => ctx,
            None => {
                return json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the template defines no function for handler {SIGNUP_HTTP_HANDLER}"),
                );
            }
        }
    };
    let out = tenant_steps::signup::handle_mode(&ctx, &state.onboarding_arn, state.mode, request).await;
    let status = StatusCode::from_u16(out.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(out.content_type));
    for (name, value) in &out.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(*name, value);
        }
    }
    (status, headers, out.body).into_response()
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

/// `tenantctl local deploy --tenant-template`: the body is the template's JSON text. Every
/// function runs with it from its next invocation; records and resources stay.
async fn put_template(State(state): State<AppState>, body: Bytes) -> Response {
    if state.functions.is_empty() {
        // Without function roles every handler runs with the stack's admin context, which
        // is fixed when the stack starts.
        return json_error(
            StatusCode::CONFLICT,
            "this stack runs its functions without their roles: restart it with `tenantctl local up --tenant-template PATH`".into(),
        );
    }
    let template = match std::str::from_utf8(&body)
        .map_err(|e| e.to_string())
        .and_then(|text| tenant_domain::template::TenantTemplate::parse(text).map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, message),
    };
    match state.functions.set_template(&template) {
        Ok(version) => axum::Json(json!({ "template_version": version })).into_response(),
        Err(e) => json_error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// `tenantctl local deploy --mapping-type`: the functions' `MappingType` changes in place.
async fn put_mapping_type(State(state): State<AppState>, body: Bytes) -> Response {
    if state.functions.is_empty() {
        return json_error(
            StatusCode::CONFLICT,
            "this stack runs its functions without their roles: restart it with `tenantctl local up --mapping-type ...`"
                .into(),
        );
    }
    let mode = match std::str::from_utf8(&body)
        .map_err(|e| e.to_string())
        .and_then(|text| text.trim().parse::<tenant_domain::MappingType>())
    {
        Ok(m) => m,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, message),
    };
    state.functions.set_mapping_type(mode);
    axum::Json(json!({ "mapping_type": format!("{mode:?}") })).into_response()
}

async fn get_faults(State(state): State<AppState>) -> Response {
    axum::Json(state.faults.list()).into_response()
}

async fn delete_faults(State(state): State<AppState>) -> Response {
    state.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn invoke(State(state): State<AppState>, Path(function): Path<String>, body: Bytes) -> Response {
    if function_part(&function) == PRE_TOKEN_FUNCTION {
        return pre_token(&body);
    }
    if function_part(&function) == SIGNUP_CONFIRMED_FUNCTION {
        return post_confirmation(&state, &body).await;
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

/// The user pool's trigger, as Cognito invokes it (the extension's ConfirmSignUp calls it
/// here), under its template role.
async fn post_confirmation(state: &AppState, body: &[u8]) -> Response {
    let event: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return unhandled(
                tenant_steps::error::PAYLOAD_UNREADABLE,
                &format!("failed to deserialize the incoming data into the function's payload type: {e}"),
            );
        }
    };
    let ctx = match state.context_for(SIGNUP_CONFIRMED_HANDLER) {
        Ok(ctx) => ctx,
        Err(message) => return unhandled("Runtime.HandlerNotFound", &message),
    };
    match tenant_steps::signup::handle_post_confirmation(&ctx, &state.onboarding_arn, event).await {
        Ok(out) => (StatusCode::OK, [("X-Amz-Executed-Version", "$LATEST")], axum::Json(out)).into_response(),
        Err(e) => unhandled(e.name(), &e.to_string()),
    }
}

/// Breaks the tenant role's inline policy with the local stack's admin credentials (in
/// Abac mode the shared role's: the one the tenant's sessions get).
async fn tamper_policy(ctx: &Context, tenant: &str, mode: FaultMode) -> Result<(), String> {
    let tenant = tenant_domain::TenantId::parse(tenant).map_err(|e| e.to_string())?;
    let mut names = tenant_domain::TenantNames::new(&tenant);
    if !ctx.settings.mapping_type.has_tenant_role() {
        names.role_name = crate::bootstrap::SHARED_ROLE.to_string();
    }
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

    /// Serves `router` on a loopback port; sends `head` (and `body`, then waits without
    /// closing) and returns the raw response.
    async fn exchange(router: Router, head: String, body: &[u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut response = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut response)).await;
        server.abort();
        read.expect("the server answers within 20 s").unwrap();
        String::from_utf8_lossy(&response).into_owned()
    }

    fn page(timeout: Duration) -> Router {
        signup_router(
            Arc::new(Context::offline()),
            FunctionContexts::default(),
            "arn:aws:states:us-east-1:123456789012:stateMachine:onboarding",
            timeout,
            tenant_steps::signup::Mode::Open,
        )
    }

    fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
        let head = response.split("\r\n\r\n").next()?;
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn json_body(response: &str) -> Value {
        serde_json::from_str(response.split_once("\r\n\r\n").unwrap().1).unwrap()
    }

    #[tokio::test]
    async fn a_slow_body_is_answered_408_at_the_timeout() {
        let started = std::time::Instant::now();
        let head = "POST /signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
        let r = exchange(page(Duration::from_millis(300)), head.into(), b"{\"tenant_id\"").await;
        assert!(r.starts_with("HTTP/1.1 408"), "{r}");
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        assert!(
            json_body(&r)["message"]
                .as_str()
                .unwrap()
                .contains("did not arrive within 0.3 s")
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn bodies_over_the_payload_limit_are_413() {
        let head = format!(
            "POST /signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            PAYLOAD_LIMIT + 1
        );
        let r = exchange(page(BODY_READ_TIMEOUT), head, b"").await;
        assert!(r.starts_with("HTTP/1.1 413"), "{r}");
        assert!(json_body(&r)["message"].as_str().unwrap().contains("larger than"));
        // Without a declared length (chunked), reading stops at the limit.
        let big = axum::body::Body::from(vec![b' '; PAYLOAD_LIMIT + 1]);
        assert!(matches!(read_limited(big).await, Err(BodyRefused::TooLarge)));
        let fits = axum::body::Body::from(vec![b' '; 10]);
        assert_eq!(read_limited(fits).await.unwrap().len(), 10);
    }

    #[tokio::test]
    async fn the_page_answers_like_an_api_and_serves_no_admin_route() {
        let r = exchange(
            page(BODY_READ_TIMEOUT),
            "DELETE /signup HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
            b"",
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 405"), "{r}");
        assert_eq!(header(&r, "allow"), Some("GET, HEAD, POST"));
        assert_eq!(json_body(&r)["allow"], "GET, HEAD, POST");
        let body = b"tenant_id=acme";
        let head = format!(
            "POST /signup HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let r = exchange(page(BODY_READ_TIMEOUT), head, body).await;
        assert!(r.starts_with("HTTP/1.1 415"), "{r}");
        assert_eq!(
            header(&r, "accept-post"),
            Some("application/json, application/x-www-form-urlencoded")
        );
        for path in ["/_local/faults", "/2015-03-31/functions/tenant-create-role/invocations"] {
            let head = format!("PUT {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
            let r = exchange(page(BODY_READ_TIMEOUT), head, b"").await;
            assert!(r.starts_with("HTTP/1.1 404"), "{path}: {r}");
            assert_eq!(header(&r, "content-type"), Some("application/json"), "{path}");
        }
        // And the internal port serves no page.
        let internal = router(
            Arc::new(Context::offline()),
            FunctionContexts::default(),
            Arc::new(Faults::default()),
            "arn:aws:states:us-east-1:123456789012:stateMachine:onboarding",
        );
        let r = exchange(
            internal,
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
            b"",
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    }

    #[test]
    fn resolves_names_and_arns() {
        let arn = function_arn(Step::CreateRole);
        assert_eq!(step_for(&arn), Some(Step::CreateRole));
        assert_eq!(step_for(&format!("{arn}:$LATEST")), Some(Step::CreateRole));
        assert_eq!(step_for("tenant-record-active"), Some(Step::RecordActive));
        assert_eq!(step_for("other-function"), None);
        assert_eq!(function_part(&post_confirmation_arn()), SIGNUP_CONFIRMED_FUNCTION);
        assert_eq!(step_for(&post_confirmation_arn()), None);
    }
}
