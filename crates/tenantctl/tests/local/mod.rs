//! Running the real `tenantctl` against a local stack in a state directory of its own:
//! shared by the tests that drive the binary (`local_deploy`, `rollout_start`, `migrate`).

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

/// `tenantctl --state-dir DIR ARGS`, with nothing of the caller's environment that would
/// point it at another deployment or template.
pub fn tenantctl(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .arg("--state-dir")
        .arg(dir)
        .args(args)
        .env_remove("TENANTCTL_ENV_FILE")
        .env_remove("TENANT_POLICY_TEMPLATE")
        .output()
        .unwrap()
}

/// What the command printed, both streams.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs it, asserts the exit code, returns stdout.
pub fn expect(dir: &Path, code: i32, args: &[&str]) -> String {
    let out = tenantctl(dir, args);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

pub fn ok(dir: &Path, args: &[&str]) -> String {
    expect(dir, 0, args)
}

/// Runs it, asserts the exit code, parses stdout as JSON.
pub fn expect_json(dir: &Path, code: i32, args: &[&str]) -> Value {
    let text = expect(dir, code, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

pub fn json(dir: &Path, args: &[&str]) -> Value {
    expect_json(dir, 0, args)
}

/// Stops the stack however the test ends.
pub struct Down(pub PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = tenantctl(&self.0, &["local", "down"]);
    }
}
