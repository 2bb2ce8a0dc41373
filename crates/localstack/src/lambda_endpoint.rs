//! A local Lambda Invoke API. moto's Step Functions interpreter calls
//! `POST /2015-03-31/functions/{arn}/invocations` here; we run the step handler and keep
//! Lambda's contract: a handler error is HTTP 200 with `X-Amz-Function-Error: Unhandled`
//! and `{"errorType", "errorMessage"}`, so `Retry`/`Catch` see the same names as in AWS.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tenant_steps::{Context, Step};
use tokio::net::TcpListener;

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

/// Accepts a bare name, a partial ARN or a full ARN with an optional qualifier.
pub fn step_for(name_or_arn: &str) -> Option<Step> {
    let name = match name_or_arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => name_or_arn,
    };
    Step::from_name(name.strip_prefix(FUNCTION_PREFIX)?)
}

pub fn router(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{function}/invocations", post(invoke))
        .with_state(ctx)
}

pub async fn serve(listener: TcpListener, ctx: Arc<Context>) -> std::io::Result<()> {
    axum::serve(listener, router(ctx)).await
}

async fn invoke(State(ctx): State<Arc<Context>>, Path(function): Path<String>, body: Bytes) -> Response {
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
        Err(e) => return unhandled("InvalidRequestContentException", &format!("payload is not JSON: {e}")),
    };
    // Run on its own task so a panicking handler is reported like a crashed Lambda
    // runtime instead of taking the endpoint down.
    let task = tokio::spawn(async move { tenant_steps::dispatch::run(&ctx, step, payload).await });
    match task.await {
        Ok(Ok(out)) => (StatusCode::OK, [("X-Amz-Executed-Version", "$LATEST")], axum::Json(out)).into_response(),
        Ok(Err(e)) => unhandled(e.name(), &e.to_string()),
        Err(join) => unhandled("Runtime.ExitError", &format!("handler crashed: {join}")),
    }
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
    fn resolves_names_and_arns() {
        let arn = function_arn(Step::CreateRole);
        assert_eq!(step_for(&arn), Some(Step::CreateRole));
        assert_eq!(step_for(&format!("{arn}:$LATEST")), Some(Step::CreateRole));
        assert_eq!(step_for("tenant-record-active"), Some(Step::RecordActive));
        assert_eq!(step_for("other-function"), None);
    }
}
