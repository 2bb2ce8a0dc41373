//! The free-text fields a signup carries besides the id: the tenant's company name and
//! admin email. Both end up in the tenants table and in operators' terminals, so they
//! are bounded and free of control and bidirectional-override characters.

/// Longest company name, in characters.
pub const MAX_COMPANY_NAME: usize = crate::signup::COMPANY_NAME_MAX;
/// Longest address RFC 5321 allows on the wire.
pub const MAX_ADMIN_EMAIL: usize = crate::signup::EMAIL_MAX;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
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

// One set of rules for every entry point: these are the signup form's checks.
pub fn check_company_name(company_name: &str) -> Result<(), FieldError> {
    crate::signup::company_name(company_name)
        .map(drop)
        .map_err(|m| err(crate::signup::COMPANY_NAME, m))
}

pub fn check_admin_email(admin_email: &str) -> Result<(), FieldError> {
    crate::signup::admin_email(admin_email)
        .map(drop)
        .map_err(|m| err(crate::signup::ADMIN_EMAIL, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_values_pass() {
        assert!(check_company_name("Acme Labs GmbH & Co. KG").is_ok());
        assert!(check_company_name("Société Générale").is_ok());
        assert!(check_admin_email("ops@acme.example").is_ok());
    }

    #[test]
    fn hostile_values_are_refused_naming_the_field() {
        for (result, field, words) in [
            (check_company_name(&"x".repeat(101)), "company_name", "101 characters"),
            (check_company_name("a\u{0}b"), "company_name", "U+0000"),
            (check_company_name("evil\u{202E}gpj.exe"), "company_name", "U+202E"),
            (check_company_name("a\nb"), "company_name", "U+000A"),
            (check_admin_email("no-at-sign"), "admin_email", "not an address"),
            (check_admin_email("@acme.example"), "admin_email", "not an address"),
            (check_admin_email("a@b@c"), "admin_email", "not an address"),
            (check_admin_email("a b@c.example"), "admin_email", "not an address"),
            (
                check_admin_email(&format!("{}@a.example", "x".repeat(300))),
                "admin_email",
                "at most 254",
            ),
        ] {
            let e = result.unwrap_err();
            assert_eq!(e.field, field);
            assert!(e.to_string().contains(words), "{e}");
        }
    }

    proptest! {
        #[test]
        fn accepted_company_names_are_bounded_and_visible(s in "\\PC{0,120}|.{0,5}") {
            if check_company_name(&s).is_ok() {
                prop_assert!(s.chars().count() <= MAX_COMPANY_NAME);
                let bidi = '\u{202A}'..='\u{202E}';
                prop_assert!(!s.chars().any(|c| c.is_control() || bidi.contains(&c)));
            }
        }
    }
}
