//! Lambda behind the public signup form (API Gateway HTTP API).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tenant_steps::lambda::serve_signup().await
}
