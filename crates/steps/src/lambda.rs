//! Running a step as a Lambda function: the whole of every binary's `main`.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::HeaderValue;
use base64::Engine as _;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;

use crate::{Clients, Context, Settings, Step, StepError, aws};

/// JSON logs in Lambda, so tenant, step and execution are fields CloudWatch can query.
pub fn init_tracing() {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    tracing::subscriber::set_global_default(json_subscriber(filter, std::io::stdout)).ok();
    crate::metrics::enable();
}

/// `RUST_LOG` (the template's `LogLevel`) as `target=level` directives, e.g. `info` or
/// `tenant_steps=debug,info`; `info` when unset or unreadable. A `Targets` filter rather
/// than `EnvFilter`: it needs no regex engine, which is deployment size in every function.
pub fn log_filter(directives: Option<&str>) -> Targets {
    directives
        .and_then(|d| d.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// The Lambda log format: one JSON object per event, carrying the current span's fields
/// (step, tenant, execution).
pub fn json_subscriber<W>(filter: Targets, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .with_writer(writer)
        .finish()
        .with(filter)
}

/// Environment variable naming the step a function runs.
pub const STEP_ENV: &str = "TENANT_STEP";

/// Resolves the step from `TENANT_STEP` and serves it.
pub async fn serve_configured() -> Result<(), lambda_runtime::Error> {
    let step = step_from(std::env::var(STEP_ENV).ok().as_deref())?;
    serve(step).await
}

pub fn step_from(name: Option<&str>) -> Result<Step, StepError> {
    let names: Vec<_> = Step::ALL.iter().map(|s| s.name()).collect();
    match name {
        Some(n) => Step::from_name(n).ok_or_else(|| StepError::Misconfigured {
            message: format!("{STEP_ENV}={n:?} is not a step; one of: {}", names.join(", ")),
        }),
        None => Err(StepError::Misconfigured {
            message: format!("{STEP_ENV} is not set; one of: {}", names.join(", ")),
        }),
    }
}

/// Builds the context once per cold start, then serves events with the step's handler.
pub async fn serve(step: Step) -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let settings = Settings::from_env()?;
    let clients = Clients::new(&aws::sdk_config(None).await);
    let ctx = Context { settings, clients };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(&ctx, step, event))).await
}

pub async fn handle(ctx: &Context, step: Step, event: LambdaEvent<Value>) -> Result<Value, StepError> {
    crate::dispatch::run(ctx, step, event.payload).await
}

/// The signup binary: the form's HTTP API, (`TENANT_SIGNUP_HANDLER=events`) the
/// `TenantSignupRequested` EventBridge target, or (`post-confirmation`) the user pool's
/// post-confirmation trigger. Which one is deployment configuration, like
/// `TENANT_STEP`: each is its own function with its own role, both run one binary.
pub async fn serve_signup() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let settings = Settings::from_env()?;
    let arn = std::env::var(crate::config::env::STATE_MACHINE_ARN)
        .map_err(|_| format!("{} is not set", crate::config::env::STATE_MACHINE_ARN))?;
    let handler = std::env::var(crate::config::env::SIGNUP_HANDLER).unwrap_or_else(|_| "http".into());
    let clients = Clients::new(&aws::sdk_config(None).await);
    let ctx = Context { settings, clients };
    match handler.as_str() {
        "http" => {
            // The template's SignupMode; verify when unset, as its default.
            let mode = crate::signup::Mode::parse(
                &std::env::var(crate::signup::MODE_ENV).unwrap_or_else(|_| "verify".into()),
            )?;
            lambda_runtime::run(service_fn(|event: LambdaEvent<ApiGatewayV2httpRequest>| {
                handle_signup(&ctx, &arn, mode, event)
            }))
            .await
        }
        "events" => {
            lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
                crate::signup::handle_event(&ctx, &arn, event.payload)
            }))
            .await
        }
        "post-confirmation" => {
            lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
                crate::signup::handle_post_confirmation(&ctx, &arn, event.payload)
            }))
            .await
        }
        other => Err(StepError::Misconfigured {
            message: format!(
                "{}={other:?}; use http, events or post-confirmation",
                crate::config::env::SIGNUP_HANDLER
            ),
        }
        .into()),
    }
}

/// The pre-token-generation trigger: pure, so no settings and no clients to build.
pub async fn serve_pre_token() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        crate::token::handle(event.payload)
    }))
    .await
}

pub async fn handle_signup(
    ctx: &Context,
    onboarding_arn: &str,
    mode: crate::signup::Mode,
    event: LambdaEvent<ApiGatewayV2httpRequest>,
) -> Result<ApiGatewayV2httpResponse, std::convert::Infallible> {
    let req = event.payload;
    let raw = req.body.unwrap_or_default();
    // HTTP APIs base64-encode bodies they do not consider text.
    let body = if req.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(raw.as_bytes())
            .unwrap_or_default()
    } else {
        raw.into_bytes()
    };
    let request = crate::signup::Request {
        method: req.request_context.http.method.as_str().to_string(),
        path: req.raw_path.clone().unwrap_or_default(),
        content_type: req
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body,
        source: req.request_context.http.source_ip.clone(),
    };
    let out = crate::signup::handle_mode(ctx, onboarding_arn, mode, request).await;
    let mut resp = ApiGatewayV2httpResponse::default();
    resp.status_code = i64::from(out.status);
    resp.headers
        .insert("content-type", HeaderValue::from_static(out.content_type));
    for (name, value) in &out.headers {
        // The handler's values are ASCII it wrote itself; a value that is not is left out.
        if let Ok(value) = HeaderValue::from_str(value) {
            resp.headers.insert(*name, value);
        }
    }
    resp.body = Some(Body::Text(out.body));
    Ok(resp)
}

/// The JSON log lines a closure writes at `info`, as the functions log them.
#[cfg(test)]
pub(crate) fn capture_logs<R>(f: impl FnOnce() -> R) -> (R, String) {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let buf = Buffer::default();
    let out = buf.clone();
    let subscriber = json_subscriber(log_filter(Some("info")), move || out.clone());
    let result = tracing::subscriber::with_default(subscriber, || {
        // Another test may have registered a callsite while no subscriber of its own was
        // in scope (interest cached as "never"): recompute it with this one.
        tracing::callsite::rebuild_interest_cache();
        f()
    });
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (result, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every log line of a step carries the tenant, the step and the execution.
    #[test]
    fn logs_carry_tenant_step_and_execution() {
        let ctx = Context::offline();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // An invalid id fails before any AWS call, and is logged inside the step's span.
        let payload = serde_json::json!({ "tenant_id": "Not*Valid", "execution": "acme-7" });
        let (result, text) = capture_logs(|| rt.block_on(crate::dispatch::run(&ctx, Step::CreateGroup, payload)));
        assert_eq!(result.unwrap_err().name(), "InvalidTenantId");
        let line: serde_json::Value = serde_json::from_str(text.lines().last().expect("a log line")).unwrap();
        assert_eq!(line["span"]["tenant"], "Not*Valid", "{text}");
        assert_eq!(line["span"]["step"], "create-group", "{text}");
        assert_eq!(line["span"]["execution"], "acme-7", "{text}");
        assert_eq!(line["span"]["attempt"], 1, "{text}");
        assert_eq!(line["fields"]["error"], "InvalidTenantId", "{text}");
    }

    #[test]
    fn log_level_directives() {
        use tracing::Level;
        assert_eq!(log_filter(None).default_level(), Some(LevelFilter::INFO));
        assert_eq!(log_filter(Some("debug")).default_level(), Some(LevelFilter::DEBUG));
        let scoped = log_filter(Some("tenant_steps=debug,warn"));
        assert!(scoped.would_enable("tenant_steps::mapping", &Level::DEBUG));
        assert!(!scoped.would_enable("aws_smithy_runtime", &Level::INFO));
        assert_eq!(
            log_filter(Some("=not a level=")).default_level(),
            Some(LevelFilter::INFO)
        );
    }

    #[test]
    fn the_step_comes_from_configuration() {
        assert_eq!(step_from(Some("delete-role")).unwrap(), Step::DeleteRole);
        let err = step_from(Some("drop-tables")).unwrap_err();
        assert_eq!(err.name(), "Misconfigured");
        assert!(err.to_string().contains("create-role"));
        assert!(step_from(None).is_err());
    }
}
