//! `KEY=value` env files, as written by the local stack.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;

pub fn read(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading {} (is the local stack up? run `tenantctl local up`)",
            path.display()
        )
    })?;
    Ok(parse(&text))
}

pub fn parse(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
        .map(|(k, v)| (k.trim().to_string(), unquote(v.trim())))
        .collect()
}

/// The local stack's single-quoted shell words (`'it'\''s'`), and plain or
/// double-quoted values as before.
fn unquote(v: &str) -> String {
    match v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        Some(inner) if v.len() >= 2 => inner.replace("'\\''", "'"),
        _ => v.trim_matches('"').to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_plain_and_exported_lines() {
        let m = super::parse("# c\nA=1\nexport B=\"two\"\n\nC=x=y\n");
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two");
        assert_eq!(m["C"], "x=y");
    }

    #[test]
    fn reads_what_the_local_stack_quotes() {
        for v in ["plain-1.2", "", "{\"Version\": \"2012-10-17\"}", "it's", "''", "a b"] {
            let line = format!("K={}\n", tenant_localstack::stack::shell_quote(v));
            assert_eq!(super::parse(&line)["K"], v, "{line}");
        }
        assert_eq!(tenant_localstack::stack::shell_quote("it's"), "'it'\\''s'");
        assert_eq!(tenant_localstack::stack::shell_quote("a-b_c"), "a-b_c");
    }
}
