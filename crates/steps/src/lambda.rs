//! Running a step as a Lambda function: the whole of every binary's `main`.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use crate::{Clients, Context, Settings, Step, StepError, aws};

/// JSON logs in Lambda, so tenant, step and execution are fields CloudWatch can query.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .init();
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
