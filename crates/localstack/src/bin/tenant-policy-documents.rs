//! Writes the IAM documents `tenant_domain::policy` renders (a sample tenant's policy, the
//! permissions boundary, the trust policy) as JSON files into a directory, so that the
//! reference check (`python -m tenant_moto.check --document ...`) can read them.
//!
//! Usage: tenant-policy-documents DIR

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or_else(|| anyhow::anyhow!("usage: tenant-policy-documents DIR"))?,
    );
    std::fs::create_dir_all(&dir)?;
    for (name, document) in tenant_localstack::policy_documents::rendered() {
        std::fs::write(dir.join(format!("{name}.json")), document)?;
        println!("{}", dir.join(format!("{name}.json")).display());
    }
    Ok(())
}
