//! The one way tests start a local stack: the e2e suite, and (through `#[path]`) the
//! `tenantctl` package's operator, audit and hostile-input tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
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

/// A stack with the tests' defaults in the given mapping mode.
pub async fn spawn_mode(mapping_type: tenant_domain::MappingType) -> TestStack {
    spawn_stack(Options {
        iam_wait_seconds: 0,
        propagation_budget_seconds: TEST_PROPAGATION_BUDGET_SECONDS,
        mapping_type,
        ..Options::default()
    })
    .await
}

/// A stack with the tests' defaults but the given IAM wait.
pub async fn spawn_with_iam_wait(iam_wait_seconds: u32) -> TestStack {
    spawn_stack(Options {
        iam_wait_seconds,
        ..Options::default()
    })
    .await
}

pub fn tid(raw: &str) -> TenantId {
    TenantId::parse(raw).unwrap()
}

impl TestStack {
    /// Writes the stack's settings as an env file (for the `tenantctl` binary's
    /// `--env-file`) at `dir/{name}-{pid}.env`.
    pub fn write_env_file(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}-{}.env", std::process::id()));
        let text: String = self
            .stack
            .env_lines()
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        std::fs::write(&path, text).expect("env file written");
        path
    }

    /// Offboards the tenant (its secret kept 7 days, its objects if `keep_prefix`) and
    /// follows the execution to its end.
    pub async fn offboard(&self, tenant: &str, keep_prefix: bool) -> Finished {
        let started = onboard::offboard(&self.ops, &tid(tenant), keep_prefix, 7, Duration::ZERO)
            .await
            .expect("offboarding starts");
        onboard::wait(&self.ops, &started.execution_arn, Duration::from_secs(60))
            .await
            .expect("execution ends")
    }

    /// Starts the tenant's next attempt and follows it to its end.
    pub async fn retry(&self, tenant: &str) -> Finished {
        let started = onboard::retry(&self.ops, &tid(tenant)).await.expect("retry starts");
        onboard::wait(&self.ops, &started.execution_arn, Duration::from_secs(60))
            .await
            .expect("execution ends")
    }

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
