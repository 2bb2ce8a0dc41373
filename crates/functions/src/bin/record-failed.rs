//! Lambda for the `RecordFailed` Task state.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tenant_steps::lambda::serve(tenant_steps::Step::RecordFailed).await
}
