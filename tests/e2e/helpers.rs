use std::collections::HashMap;
use std::time::Duration;

use tenant_domain::TenantId;
use tenant_localstack::{LocalStack, Options};
use tenantctl::Ops;
use tenantctl::onboard::{self, Finished};

pub struct TestStack {
    pub stack: LocalStack,
    pub ops: Ops,
}

/// Starts a fresh local stack for one test; it stops when the test's runtime drops it.
pub async fn spawn_stack(options: Options) -> TestStack {
    let stack = LocalStack::start(options, None)
        .await
        .expect("local stack starts (run `make test` to create the venv)");
    let env: HashMap<String, String> = stack.env_lines().into_iter().collect();
    let ops = Ops::from_lookup(|k| env.get(k).cloned())
        .await
        .expect("ops from the stack's env");
    TestStack { stack, ops }
}

/// Verify's propagation budget in the tests: the emulator has no lag unless one is
/// simulated, so a refusal older than this is a broken role, not propagation.
pub const TEST_PROPAGATION_BUDGET_SECONDS: u64 = 8;

/// A stack with the defaults the tests use: Rules mapping, no IAM wait.
pub async fn spawn() -> TestStack {
    spawn_stack(Options {
        iam_wait_seconds: 0,
        propagation_budget_seconds: TEST_PROPAGATION_BUDGET_SECONDS,
        ..Options::default()
    })
    .await
}

pub fn tid(raw: &str) -> TenantId {
    TenantId::parse(raw).unwrap()
}

impl TestStack {
    pub async fn onboard(&self, tenant: &str) -> Finished {
        let started = onboard::start(
            &self.ops,
            &tid(tenant),
            Some(tenant),
            Some(&format!("ops@{tenant}.example")),
        )
        .await
        .expect("start");
        onboard::wait(&self.ops, &started.execution_arn, Duration::from_secs(120))
            .await
            .expect("execution ends")
    }
}
