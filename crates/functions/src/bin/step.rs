//! The Lambda for every Task state. Which step it runs is deployment configuration
//! (`TENANT_STEP`, set per function in template.yaml), never event input: each function
//! is still its own Lambda with its own least-privilege role. One binary instead of one
//! per step because every binary is ~11 MB of the same SDK code and each release link
//! with LTO costs ~1.5 min: 17 binaries made `sam build` take ~30 min instead of ~5.5.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tenant_steps::lambda::serve_configured().await
}
