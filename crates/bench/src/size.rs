//! Deployment zips as `make package` (cargo lambda) leaves them:
//! `target/lambda/<function>/bootstrap.zip`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Package {
    pub function: String,
    pub zip: PathBuf,
    pub zip_bytes: u64,
    /// `bootstrap`, extracted from the zip: the binary the cold-init figures run.
    pub binary: PathBuf,
    pub binary_bytes: u64,
    /// The architecture the binary was built for (its ELF header).
    pub arch: String,
}

/// Every function's zip, each extracted under `scratch/<function>/`.
pub fn packages(lambda_dir: &Path, python: &Path, scratch: &Path) -> anyhow::Result<Vec<Package>> {
    let mut out = vec![];
    let entries = std::fs::read_dir(lambda_dir)
        .with_context(|| format!("reading {} (run `make package`)", lambda_dir.display()))?;
    for entry in entries {
        let dir = entry?.path();
        let zip = dir.join("bootstrap.zip");
        if !zip.is_file() {
            continue;
        }
        let function = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let binary = extract_bootstrap(python, &zip, &scratch.join(&function))?;
        let header = std::fs::read(&binary)?;
        out.push(Package {
            function,
            zip_bytes: std::fs::metadata(&zip)?.len(),
            binary_bytes: header.len() as u64,
            arch: elf_arch(&header).unwrap_or("not ELF").to_string(),
            zip,
            binary,
        });
    }
    if out.is_empty() {
        bail!("no */bootstrap.zip under {}: run `make package`", lambda_dir.display());
    }
    out.sort_by(|a, b| a.function.cmp(&b.function));
    Ok(out)
}

/// Extracts `bootstrap` with the venv's Python (which the local stack needs anyway), so
/// the measured binary is byte for byte the deployed one.
pub fn extract_bootstrap(python: &Path, zip: &Path, into: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(into)?;
    let status = std::process::Command::new(python)
        .args(["-m", "zipfile", "-e"])
        .arg(zip)
        .arg(into)
        .status()
        .with_context(|| format!("extracting {}", zip.display()))?;
    if !status.success() {
        bail!("extracting {} failed", zip.display());
    }
    let bin = into.join("bootstrap");
    // zipfile does not restore the mode bits.
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("{} has no bootstrap", zip.display()))?;
    Ok(bin)
}

/// The ELF header's machine field.
pub fn elf_arch(header: &[u8]) -> Option<&'static str> {
    if header.len() < 20 || &header[..4] != b"\x7fELF" {
        return None;
    }
    match u16::from_le_bytes([header[18], header[19]]) {
        0x3e => Some("x86_64"),
        0xb7 => Some("arm64"),
        _ => Some("other"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_machines() {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[18] = 0x3e;
        assert_eq!(elf_arch(&h), Some("x86_64"));
        h[18] = 0xb7;
        assert_eq!(elf_arch(&h), Some("arm64"));
        assert_eq!(elf_arch(b"not an elf file at all"), None);
    }
}
