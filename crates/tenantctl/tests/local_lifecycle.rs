//! `tenantctl local up` / `local down` after the serving process died (SIGKILL, OOM, a
//! closed terminal): `up` must not say "already up" over a dead stack, and `down` must not
//! signal a stale PID and leave the emulator running. The real binary, a real moto.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use tenant_localstack::background::alive_and_ours;
use tenant_localstack::stack::StateDir;

async fn local(dir: &Path, command: &str) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .arg("--state-dir")
        .arg(dir)
        .args(["local", command])
        .env_remove("TENANTCTL_ENV_FILE")
        .output()
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn pid(path: &Path) -> u32 {
    std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

/// Kills the serving process as a crash would (no chance to stop moto), and waits until it
/// is gone.
async fn crash(stack: u32) {
    std::process::Command::new("kill")
        .args(["-KILL", &stack.to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    while alive_and_ours(stack, "local serve") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "stack {stack} survived SIGKILL"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn up_and_down_after_the_stack_died_clean_up_and_stop_the_emulator() {
    let root = std::env::temp_dir().join(format!("tenantctl-lifecycle-{}", std::process::id()));
    let dir = StateDir(root.clone());

    let out = local(&root, "up").await;
    assert!(out.status.success(), "{}", text(&out));
    let (stack, moto) = (pid(&dir.pid_file()), pid(&dir.moto_pid_file()));
    let again = local(&root, "up").await;
    assert!(
        text(&again).contains(&format!("already up (pid {stack})")),
        "{}",
        text(&again)
    );

    crash(stack).await;
    assert!(alive_and_ours(moto, "tenant_moto"), "the crash leaves moto running");
    let out = local(&root, "up").await;
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("already up"), "{said}");
    assert!(
        said.contains(&format!("process {stack} is not running"))
            && said.contains(&format!("moto, pid {moto}) was still running and was stopped")),
        "{said}"
    );
    assert!(!alive_and_ours(moto, "tenant_moto"), "the old emulator was stopped");
    let (stack, moto) = (pid(&dir.pid_file()), pid(&dir.moto_pid_file()));
    assert!(alive_and_ours(stack, "local serve"), "a new stack serves");

    crash(stack).await;
    let out = local(&root, "down").await;
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("was not running (the stack's process {stack} is not running")),
        "{said}"
    );
    assert!(
        !alive_and_ours(moto, "tenant_moto"),
        "down stopped the emulator the dead stack left"
    );
    assert!(!dir.env_file().exists() && !dir.pid_file().exists() && !dir.moto_pid_file().exists());
    let out = local(&root, "down").await;
    assert!(text(&out).contains("local stack is not running"), "{}", text(&out));

    // A live stack still stops the normal way.
    let out = local(&root, "up").await;
    assert!(out.status.success(), "{}", text(&out));
    let (stack, moto) = (pid(&dir.pid_file()), pid(&dir.moto_pid_file()));
    let out = local(&root, "down").await;
    assert!(
        text(&out).contains(&format!("local stack stopped (pid {stack})")),
        "{}",
        text(&out)
    );
    let started = Instant::now();
    while alive_and_ours(moto, "tenant_moto") && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive_and_ours(moto, "tenant_moto"));
    let _ = std::fs::remove_dir_all(&root);
}
