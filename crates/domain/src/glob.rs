//! IAM's wildcard matching for resource ARNs and `StringLike` conditions: `*` matches any
//! run of characters (including `/` and `:`), `?` exactly one; case sensitive.
//!
//! Used by the property tests to prove that no tenant's policy reaches another tenant's
//! resources.

pub fn matches(pattern: &str, value: &str) -> bool {
    let v: Vec<char> = value.chars().collect();
    // reach[j]: the pattern read so far matches the value's first j characters exactly.
    let mut reach = vec![false; v.len() + 1];
    reach[0] = true;
    for c in pattern.chars() {
        reach = if c == '*' {
            // A run of any length extends the shortest prefix reached so far, and so every longer one.
            let shortest = reach.iter().position(|&r| r);
            (0..=v.len()).map(|j| shortest.is_some_and(|s| j >= s)).collect()
        } else {
            let mut next = vec![false; v.len() + 1];
            for (j, &ch) in v.iter().enumerate() {
                next[j + 1] = reach[j] && (c == '?' || c == ch);
            }
            next
        };
    }
    reach[v.len()]
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn iam_wildcards() {
        assert!(matches(
            "arn:aws:s3:::b/tenants/acme/*",
            "arn:aws:s3:::b/tenants/acme/x/y"
        ));
        assert!(!matches(
            "arn:aws:s3:::b/tenants/acme/*",
            "arn:aws:s3:::b/tenants/acme-labs/x"
        ));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*", ""));
        assert!(matches("tenants/acme/", "tenants/acme/"));
        assert!(!matches("tenants/acme/", "tenants/acme/x"));
        assert!(!matches("Acme", "acme"));
        assert!(matches("*a*b*", "xxaxxbxx"));
        assert!(!matches("*a*b*", "xxbxxaxx"));
        // A star must give characters back to let the rest match.
        assert!(matches("*ab", "aab"));
        assert!(matches("a*b", "ab"));
        assert!(matches("a*", "a"));
        assert!(!matches("a*", ""));
        assert!(!matches("", "a"));
        assert!(matches("", ""));
        assert!(matches("?", "é"));
        assert!(!matches("??", "a"));
        assert!(matches("x*?", "xy"));
        assert!(!matches("x*?", "x"));
        assert!(!matches("*x", "xy"));
        assert!(matches("**", "anything"));
    }
}
