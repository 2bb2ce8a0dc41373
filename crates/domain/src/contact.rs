//! The free-text fields a signup carries besides the id: the tenant's display name and
//! contact email. Both end up in the tenants table and in operators' terminals, so they
//! are bounded and free of control and bidirectional-override characters.

/// Longest display name, in characters.
pub const MAX_NAME: usize = 100;
/// Longest address RFC 5321 allows on the wire.
pub const MAX_EMAIL: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct FieldError {
    pub field: &'static str,
    pub problem: String,
}

fn err(field: &'static str, problem: impl Into<String>) -> FieldError {
    FieldError {
        field,
        problem: problem.into(),
    }
}

/// Characters that change how text around them is displayed without being visible
/// (bidirectional overrides and isolates): a name could otherwise read differently in
/// a terminal than it is stored.
fn is_invisible_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), FieldError> {
    let count = value.chars().count();
    if count > max {
        return Err(err(field, format!("is {count} characters long; use at most {max}")));
    }
    if let Some((pos, c)) = value.chars().enumerate().find(|(_, c)| is_invisible_control(*c)) {
        return Err(err(
            field,
            format!(
                "contains the control character U+{:04X} at position {pos}; remove it",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

pub fn check_name(name: &str) -> Result<(), FieldError> {
    check_text("name", name, MAX_NAME)
}

/// A plausible address: one `@` with something on both sides and no spaces. Whether it
/// receives mail is for the invitation to find out.
pub fn check_email(email: &str) -> Result<(), FieldError> {
    check_text("email", email, MAX_EMAIL)?;
    if email.chars().any(char::is_whitespace) {
        return Err(err("email", "contains white space; give one address"));
    }
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => Ok(()),
        _ => Err(err("email", "is not an address (name@domain)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_values_pass() {
        assert!(check_name("Acme Labs GmbH & Co. KG").is_ok());
        assert!(check_name("Société Générale").is_ok());
        assert!(check_email("ops@acme.example").is_ok());
    }

    #[test]
    fn hostile_values_are_refused_naming_the_field() {
        for (result, field, words) in [
            (check_name(&"x".repeat(101)), "name", "101 characters"),
            (check_name("a\u{0}b"), "name", "U+0000"),
            (check_name("evil\u{202E}gpj.exe"), "name", "U+202E"),
            (check_name("a\nb"), "name", "U+000A"),
            (check_email("no-at-sign"), "email", "not an address"),
            (check_email("@acme.example"), "email", "not an address"),
            (check_email("a@b@c"), "email", "not an address"),
            (check_email("a b@c"), "email", "white space"),
            (
                check_email(&format!("{}@a.example", "x".repeat(300))),
                "email",
                "at most 254",
            ),
        ] {
            let e = result.unwrap_err();
            assert_eq!(e.field, field);
            assert!(e.to_string().starts_with(field), "{e}");
            assert!(e.to_string().contains(words), "{e}");
        }
    }

    proptest! {
        #[test]
        fn accepted_names_are_bounded_and_visible(s in "\\PC{0,120}|.{0,5}") {
            if check_name(&s).is_ok() {
                prop_assert!(s.chars().count() <= MAX_NAME);
                prop_assert!(!s.chars().any(is_invisible_control));
            }
        }
    }
}
