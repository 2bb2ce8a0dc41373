//! The floor of cold init: the runtime set up the way the functions set it up (tokio's
//! multi-threaded runtime, `lambda_runtime::run`), no clients, no configuration, a
//! handler that returns null. Whatever a function adds at init on top of this is ours.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<Value, lambda_runtime::Error>(Value::Null)
    }))
    .await
}
