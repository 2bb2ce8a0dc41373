//! The local mailbox: what the extension "sends" (sign-up codes), since no email leaves
//! the machine. One JSON object per line; `tenantctl local mail` and the tests read it.

use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub code: String,
    pub sent_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    #[error("reading the local mailbox {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("line {line} of the local mailbox {path} is not a message: {source}")]
    Malformed {
        path: String,
        line: usize,
        source: serde_json::Error,
    },
}

/// The messages, oldest first; to `address` only when given (compared case-insensitively,
/// as Cognito compares emails). No mailbox yet is no mail.
pub fn read(path: &Path, address: Option<&str>) -> Result<Vec<Message>, MailboxError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(MailboxError::Read {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let message: Message = serde_json::from_str(line).map_err(|source| MailboxError::Malformed {
            path: path.display().to_string(),
            line: i + 1,
            source,
        })?;
        if address.is_none_or(|a| a.eq_ignore_ascii_case(&message.to)) {
            out.push(message);
        }
    }
    Ok(out)
}

/// The newest code sent to `address`.
pub fn latest_code(path: &Path, address: &str) -> Result<Option<String>, MailboxError> {
    Ok(read(path, Some(address))?.pop().map(|m| m.code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_messages_per_address_newest_last() {
        let path = std::env::temp_dir().join(format!("mailbox-test-{}.jsonl", std::process::id()));
        assert!(read(&path, None).unwrap().is_empty());
        let line = |to: &str, code: &str| {
            format!(
                "{{\"to\":\"{to}\",\"subject\":\"s\",\"body\":\"code {code}\",\"code\":\"{code}\",\"sent_at\":\"t\",\"username\":\"u\"}}\n"
            )
        };
        std::fs::write(
            &path,
            [
                line("a@x.io", "111111"),
                line("b@x.io", "222222"),
                line("a@x.io", "333333"),
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(read(&path, None).unwrap().len(), 3);
        assert_eq!(latest_code(&path, "A@X.io").unwrap().as_deref(), Some("333333"));
        assert_eq!(latest_code(&path, "c@x.io").unwrap(), None);
        std::fs::write(&path, "not json\n").unwrap();
        assert!(matches!(
            read(&path, None),
            Err(MailboxError::Malformed { line: 1, .. })
        ));
        std::fs::remove_file(&path).unwrap();
    }
}
