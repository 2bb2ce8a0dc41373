//! Cognito pre-token-generation trigger: the `tenant_id` claim in every token.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tenant_steps::lambda::serve_pre_token().await
}
