//! IAM's wildcard matching for resource ARNs and `StringLike` conditions: `*` matches any
//! run of characters (including `/` and `:`), `?` exactly one; case sensitive.
//!
//! Used by the property tests to prove that no tenant's policy reaches another tenant's
//! resources.

pub fn matches(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    // Classic two-pointer wildcard match with backtracking to the last `*`.
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
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
    }
}
