//! Lambda for the `RecordRollingBack` Task state.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tenant_steps::lambda::serve(tenant_steps::Step::RecordRollingBack).await
}
