//! Lambda for the `DeletePrefix` Task state.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tenant_steps::lambda::serve(tenant_steps::Step::DeletePrefix).await
}
