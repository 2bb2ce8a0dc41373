//! What EventBridge's Lambda target does in AWS, done locally: moto delivers the
//! `TenantSignupRequested` rule's matches to an SQS queue, and this loop hands each one to
//! the same handler the signup events function runs. A handler error leaves the message
//! for redelivery (as Lambda's async retries would); anything else is deleted.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tenant_steps::Context;

pub async fn poll_signup_requests(
    ctx: Arc<Context>,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    onboarding_arn: String,
) {
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(5)
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the signup requests queue");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        for message in messages {
            let event: Value = match message.body().map(serde_json::from_str) {
                Some(Ok(v)) => v,
                _ => {
                    tracing::error!(message_id = ?message.message_id(), "signup request refused: the message is not an EventBridge event");
                    Value::Null
                }
            };
            let keep = if event.is_null() {
                false
            } else {
                match tenant_steps::signup::handle_event(&ctx, &onboarding_arn, event).await {
                    Ok(_) => false,
                    Err(e) => {
                        tracing::warn!(error = e.name(), message = %e, "signup request will be redelivered");
                        true
                    }
                }
            };
            if !keep && let Some(handle) = message.receipt_handle() {
                let _ = sqs
                    .delete_message()
                    .queue_url(&queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await;
            }
        }
    }
}
