//! The one validation of a signup request, shared by the public form and the
//! `TenantSignupRequested` event: the same fields, the same rules, the same messages.
//! Pure: it names every bad field, never just the first.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::TenantId;

/// Field names, as the form posts them, the JSON API takes them and events carry them.
pub const TENANT_ID: &str = "tenant_id";
pub const COMPANY_NAME: &str = "company_name";
pub const ADMIN_EMAIL: &str = "admin_email";
/// Every key a signup object may carry. `name`/`email` are the older spelling (the admin
/// CLI's and the execution input's before they took the public names), still accepted from
/// callers written against it.
const KNOWN_FIELDS: [&str; 5] = [TENANT_ID, COMPANY_NAME, ADMIN_EMAIL, "name", "email"];

pub const COMPANY_NAME_MAX: usize = 100;
/// RFC 5321's limit on a forward path, and Cognito's on the email attribute.
pub const EMAIL_MAX: usize = 254;
const EMAIL_LOCAL_MAX: usize = 64;
/// Anything longer is not echoed back in full: a message quoting 1 MB helps no one.
const ECHO_MAX: usize = 64;

/// What arrived, before any check: each field present as text, present as something
/// else, or absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawSignup {
    pub tenant_id: RawField,
    pub company_name: RawField,
    pub admin_email: RawField,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RawField {
    #[default]
    Missing,
    Text(String),
    /// A number, object, list, boolean or null where text was expected.
    NotText,
}

impl RawSignup {
    /// From a JSON object (the API and the event's `detail`). `name` and `email` are
    /// accepted as the older spelling (see `KNOWN_FIELDS`).
    pub fn from_json(v: &Value) -> Result<RawSignup, String> {
        let obj = v.as_object().ok_or("a signup must be a JSON object")?;
        // A field the caller believes it set (a role, an execution) but signup does not
        // take is refused rather than ignored.
        if let Some(k) = obj.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
            return Err(format!(
                "unknown field {}; a signup takes {TENANT_ID}, {COMPANY_NAME} and {ADMIN_EMAIL}",
                echo(k)
            ));
        }
        let field = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| obj.get(*k))
                .map_or(RawField::Missing, |v| match v {
                    Value::String(s) => RawField::Text(s.clone()),
                    _ => RawField::NotText,
                })
        };
        Ok(RawSignup {
            tenant_id: field(&[TENANT_ID]),
            company_name: field(&[COMPANY_NAME, "name"]),
            admin_email: field(&[ADMIN_EMAIL, "email"]),
        })
    }

    /// From form pairs (`application/x-www-form-urlencoded`); a repeated field is refused
    /// rather than silently picking one of its values.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> RawSignup {
        let mut out = RawSignup::default();
        for (k, v) in pairs {
            let slot = match k {
                TENANT_ID => &mut out.tenant_id,
                COMPANY_NAME | "name" => &mut out.company_name,
                ADMIN_EMAIL | "email" => &mut out.admin_email,
                _ => continue,
            };
            *slot = match slot {
                RawField::Missing => RawField::Text(v.to_string()),
                _ => RawField::NotText,
            };
        }
        out
    }
}

/// A request that passed every check, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signup {
    pub tenant_id: TenantId,
    pub company_name: String,
    /// Lower-cased: Cognito compares the email username case-insensitively, and the same
    /// request sent twice must be recognised as the same.
    pub admin_email: String,
}

/// Every bad field with its message, keyed by field name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", summary(.0))]
pub struct FieldErrors(pub BTreeMap<&'static str, String>);

fn summary(errors: &BTreeMap<&'static str, String>) -> String {
    errors
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn echo(s: &str) -> String {
    if s.chars().count() > ECHO_MAX {
        let head: String = s.chars().take(ECHO_MAX).collect();
        format!("{head:?}…")
    } else {
        format!("{s:?}")
    }
}

/// Characters that are invisible or reorder text (zero-width, bidi controls, BOM), line
/// and paragraph separators, private use and non-characters: a company name shown to
/// operators and in emails must read as what it is.
fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFF}'
            | '\u{E000}'..='\u{F8FF}'
            | '\u{E0000}'..='\u{E0FFF}'
            | '\u{F0000}'..='\u{10FFFF}')
}

fn check_tenant_id(raw: &RawField) -> Result<TenantId, String> {
    match raw {
        RawField::Missing => Err("tenant id is required".into()),
        RawField::NotText => Err("tenant id must be given once, as text".into()),
        RawField::Text(s) => {
            let s = s.trim_matches(' ');
            if s.chars().count() > 4 * crate::tenant_id::MAX_LEN {
                return Err(format!(
                    "tenant id {} is too long; use at most {} characters",
                    echo(s),
                    crate::tenant_id::MAX_LEN
                ));
            }
            TenantId::parse(s).map_err(|e| e.to_string())
        }
    }
}

fn check_company_name(raw: &RawField) -> Result<String, String> {
    match raw {
        RawField::Missing => Err("company name is required".into()),
        RawField::NotText => Err("company name must be given once, as text".into()),
        RawField::Text(s) => company_name(s),
    }
}

/// The company name rules on text (also applied by the workflow and the CLI to `--company-name`);
/// surrounding ASCII spaces are dropped.
pub fn company_name(s: &str) -> Result<String, String> {
    let s = s.trim_matches(' ');
    if s.is_empty() {
        return Err("company name is required".into());
    }
    let len = s.chars().count();
    if len > COMPANY_NAME_MAX {
        return Err(format!(
            "company name is {len} characters long; use at most {COMPANY_NAME_MAX}"
        ));
    }
    if let Some((pos, c)) = s.chars().enumerate().find(|(_, c)| is_deceptive(*c)) {
        return Err(format!(
            "company name contains an invisible or control character (U+{:04X}) at position {pos}; remove it",
            c as u32
        ));
    }
    if s.chars().any(|c| c.is_whitespace() && c != ' ') {
        return Err("company name may contain spaces but no tabs, line breaks or other white space".into());
    }
    Ok(s.to_string())
}

fn local_part_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c)
}

fn check_admin_email(raw: &RawField) -> Result<String, String> {
    match raw {
        RawField::Missing => Err("admin email is required".into()),
        RawField::NotText => Err("admin email must be given once, as text".into()),
        RawField::Text(s) => admin_email(s),
    }
}

/// The admin email rules on text (also applied by the workflow and the CLI to `--admin-email`);
/// the address comes back lower-cased.
pub fn admin_email(s: &str) -> Result<String, String> {
    let s = s.trim_matches(' ');
    if s.is_empty() {
        return Err("admin email is required".into());
    }
    let len = s.chars().count();
    if len > EMAIL_MAX {
        return Err(format!("admin email is {len} characters long; use at most {EMAIL_MAX}"));
    }
    let bad = || {
        Err(format!(
            "admin email {} is not an address like name@example.com",
            echo(s)
        ))
    };
    let Some((local, domain)) = s.rsplit_once('@') else {
        return bad();
    };
    // Plain ASCII addresses only: quoted local parts, IP literals and internationalised
    // addresses are valid mail but a poor fit for a sign-in name.
    if local.is_empty()
        || local.len() > EMAIL_LOCAL_MAX
        || !local.chars().all(local_part_char)
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
    {
        return bad();
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()));
    if labels.len() < 2 || !labels.iter().all(label_ok) || !tld_ok {
        return bad();
    }
    Ok(s.to_ascii_lowercase())
}

/// Checks every field; on failure names each bad one.
pub fn validate(raw: &RawSignup) -> Result<Signup, FieldErrors> {
    let id = check_tenant_id(&raw.tenant_id);
    let company_name = check_company_name(&raw.company_name);
    let admin_email = check_admin_email(&raw.admin_email);
    match (id, company_name, admin_email) {
        (Ok(tenant_id), Ok(company_name), Ok(admin_email)) => Ok(Signup {
            tenant_id,
            company_name,
            admin_email,
        }),
        (id, company_name, admin_email) => {
            let mut errors = BTreeMap::new();
            for (field, result) in [
                (TENANT_ID, id.err()),
                (COMPANY_NAME, company_name.err()),
                (ADMIN_EMAIL, admin_email.err()),
            ] {
                if let Some(message) = result {
                    errors.insert(field, message);
                }
            }
            Err(FieldErrors(errors))
        }
    }
}

/// The id the form suggests for a company name (the page does the same in JavaScript):
/// lower-cased ASCII letters and digits, anything else collapsed into single hyphens.
pub fn suggest_tenant_id(company_name: &str) -> String {
    let mut out = String::new();
    for c in company_name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    let mut out: String = out.chars().take(crate::tenant_id::MAX_LEN).collect();
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn raw(id: &str, name: &str, email: &str) -> RawSignup {
        RawSignup {
            tenant_id: RawField::Text(id.into()),
            company_name: RawField::Text(name.into()),
            admin_email: RawField::Text(email.into()),
        }
    }

    #[test]
    fn a_good_request_is_normalised() {
        let s = validate(&raw(" acme-labs ", "  Acme Labs  ", "Ops@AcmeLabs.Example")).unwrap();
        assert_eq!(s.tenant_id.as_str(), "acme-labs");
        assert_eq!(s.company_name, "Acme Labs");
        assert_eq!(s.admin_email, "ops@acmelabs.example");
    }

    #[test]
    fn every_bad_field_is_named() {
        let e = validate(&RawSignup::default()).unwrap_err();
        assert_eq!(e.0.len(), 3, "{e}");
        let e = validate(&raw("Acme", "", "not-an-email")).unwrap_err();
        assert!(e.0[TENANT_ID].contains("tenant id"), "{e}");
        assert!(e.0[COMPANY_NAME].contains("required"), "{e}");
        assert!(e.0[ADMIN_EMAIL].contains("not an address"), "{e}");
        let e = validate(&raw("acme", "Acme", "a@b")).unwrap_err();
        assert_eq!(e.0.keys().copied().collect::<Vec<_>>(), vec![ADMIN_EMAIL]);
    }

    #[test]
    fn hostile_values_are_refused() {
        for email in [
            "a@b.c",
            "a@@b.com",
            "a b@c.com",
            "<script>@x.com",
            "a@-x.com",
            "a@x..com",
            ".a@x.com",
            "a@x.com\n",
            "a@x.com\u{0}",
            "a@[127.0.0.1]",
            "ä@x.com",
        ] {
            assert!(validate(&raw("acme", "Acme", email)).is_err(), "{email:?} accepted");
        }
        for name in [
            "Acme\u{202E}snaL",
            "Ac\u{200B}me",
            "Acme\nLabs",
            "Acme\tLabs",
            "\u{FEFF}Acme",
            &"x".repeat(101),
        ] {
            assert!(validate(&raw("acme", name, "a@acme.io")).is_err(), "{name:?} accepted");
        }
        let e = validate(&raw(&"a".repeat(10_000), "Acme", "a@acme.io")).unwrap_err();
        assert!(e.0[TENANT_ID].len() < 200, "echo is bounded: {}", e.0[TENANT_ID]);
    }

    #[test]
    fn json_and_form_fields() {
        let r =
            RawSignup::from_json(&json!({"tenant_id": 3, "company_name": "Acme", "admin_email": "a@acme.io"})).unwrap();
        assert_eq!(r.tenant_id, RawField::NotText);
        assert_eq!(r.admin_email, RawField::Text("a@acme.io".into()));
        assert!(RawSignup::from_json(&json!([1])).is_err());
        let unknown = RawSignup::from_json(&json!({"tenant_id": "acme", "role": "admin"})).unwrap_err();
        assert!(unknown.contains("unknown field \"role\""), "{unknown}");
        let r = RawSignup::from_pairs([("tenant_id", "a"), ("tenant_id", "b"), ("company_name", "Acme")]);
        assert_eq!(r.tenant_id, RawField::NotText);
        assert_eq!(r.company_name, RawField::Text("Acme".into()));
        assert_eq!(r.admin_email, RawField::Missing);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest_tenant_id("Acme Labs, Inc."), "acme-labs-inc");
        assert_eq!(suggest_tenant_id("3M"), "m");
        assert_eq!(suggest_tenant_id("Ünïcode Ltd"), "n-code-ltd");
    }

    #[test]
    fn length_limits_are_exact() {
        // Company name: 100 characters (not bytes) pass, 101 do not.
        let hundred = "é".repeat(COMPANY_NAME_MAX);
        assert_eq!(company_name(&hundred).unwrap(), hundred);
        assert_eq!(
            company_name(&format!("{hundred}x")).unwrap_err(),
            "company name is 101 characters long; use at most 100"
        );
        // Email: 254 characters pass, 255 do not; the local part 64, not 65; a label 63, not 64.
        let local = "l".repeat(EMAIL_LOCAL_MAX);
        let domain_254 = format!("{}.{}.{}.com", "a".repeat(63), "b".repeat(63), "c".repeat(57));
        let at_max = format!("{local}@{domain_254}");
        assert_eq!(at_max.len(), EMAIL_MAX);
        assert_eq!(admin_email(&at_max).unwrap(), at_max);
        let over = format!("{local}@{}.{}.{}.com", "a".repeat(63), "b".repeat(63), "c".repeat(58));
        assert_eq!(
            admin_email(&over).unwrap_err(),
            "admin email is 255 characters long; use at most 254"
        );
        assert!(admin_email(&format!("{local}@x.com")).is_ok());
        let long_local = format!("{local}l@x.com");
        assert_eq!(
            admin_email(&long_local).unwrap_err(),
            format!(
                "admin email {} is not an address like name@example.com",
                echo(&long_local)
            )
        );
        assert!(admin_email(&format!("a@{}.com", "d".repeat(63))).is_ok());
        assert!(
            admin_email(&format!("a@{}.com", "d".repeat(64)))
                .unwrap_err()
                .contains("not an address")
        );
    }

    #[test]
    fn overlong_ids_are_cut_short_before_the_grammar() {
        // Up to four times the limit the grammar speaks (naming the length); past it the
        // message is signup's own and the echo is bounded.
        let e = check_tenant_id(&RawField::Text("a".repeat(4 * crate::tenant_id::MAX_LEN))).unwrap_err();
        assert!(e.contains("is too long (128 characters); use at most 32"), "{e}");
        let e = check_tenant_id(&RawField::Text("a".repeat(4 * crate::tenant_id::MAX_LEN + 1))).unwrap_err();
        assert!(e.ends_with("\"… is too long; use at most 32 characters"), "{e}");
        assert!(e.starts_with(&format!("tenant id \"{}", "a".repeat(ECHO_MAX))), "{e}");
        assert!(!e.contains(&"a".repeat(ECHO_MAX + 1)), "{e}");
    }

    #[test]
    fn echo_keeps_short_values_whole() {
        let at = "x".repeat(ECHO_MAX);
        assert_eq!(echo(&at), format!("{at:?}"));
        let over = "x".repeat(ECHO_MAX + 1);
        assert_eq!(echo(&over), format!("{at:?}…"));
    }

    #[test]
    fn email_rules_one_by_one() {
        let ok = |e: &str| {
            assert_eq!(
                admin_email(e).as_deref(),
                Ok(e.to_ascii_lowercase().as_str()),
                "{e:?} refused"
            )
        };
        let refused = |e: &str| {
            assert_eq!(
                admin_email(e).unwrap_err(),
                format!(
                    "admin email {:?} is not an address like name@example.com",
                    e.trim_matches(' ')
                ),
                "{e:?}"
            )
        };
        ok("a.b+tag@x-y.example.co");
        ok("a!#$%&'*+/=?^_`{|}~-b@x.io");
        ok("O'Brien@Example.COM");
        ok("a@b.c.io");
        ok("a@1x.io");
        for bad in [
            "no-at-sign.io",
            "@x.io",
            "a@",
            "a.@x.io",
            ".a@x.io",
            "a..b@x.io",
            "a@b@x.io",
            "a\"b@x.io",
            "a@localhost",
            "a@x-.io",
            "a@-x.io",
            "a@x..io",
            "a@.x.io",
            "a@x.io.",
            "a@x.c",
            "a@x.c0m",
            "a@x.i-o",
            "a@x_y.io",
            "a@x.io:25",
        ] {
            refused(bad);
        }
        assert_eq!(admin_email("  ").unwrap_err(), "admin email is required");
        assert_eq!(admin_email("  A@X.IO ").unwrap(), "a@x.io");
    }

    #[test]
    fn company_name_rules_one_by_one() {
        assert_eq!(company_name("  ").unwrap_err(), "company name is required");
        assert_eq!(company_name(" Acme & Co. ").unwrap(), "Acme & Co.");
        assert_eq!(
            company_name("Acme\u{00A0}Labs").unwrap_err(),
            "company name may contain spaces but no tabs, line breaks or other white space"
        );
        assert_eq!(
            company_name("Ac\u{200B}me").unwrap_err(),
            "company name contains an invisible or control character (U+200B) at position 2; remove it"
        );
        // Every range of invisible characters is refused; its neighbours are not.
        for c in [
            '\u{0007}',
            '\u{00AD}',
            '\u{034F}',
            '\u{061C}',
            '\u{115F}',
            '\u{1160}',
            '\u{17B4}',
            '\u{17B5}',
            '\u{180B}',
            '\u{180F}',
            '\u{200B}',
            '\u{200F}',
            '\u{2028}',
            '\u{202E}',
            '\u{2060}',
            '\u{206F}',
            '\u{3164}',
            '\u{FE00}',
            '\u{FE0F}',
            '\u{FEFF}',
            '\u{FFA0}',
            '\u{FFF0}',
            '\u{FFFF}',
            '\u{E000}',
            '\u{F8FF}',
            '\u{E0000}',
            '\u{E0FFF}',
            '\u{F0000}',
            '\u{10FFFF}',
        ] {
            assert!(is_deceptive(c), "U+{:04X}", c as u32);
        }
        for c in [
            'a',
            'é',
            '\u{00AC}',
            '\u{2027}',
            '\u{202F}',
            '\u{FDFF}',
            '\u{E1000}',
            '語',
        ] {
            assert!(!is_deceptive(c), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn missing_and_non_text_fields_say_so() {
        let none = RawSignup::default();
        let e = validate(&none).unwrap_err();
        assert_eq!(e.0[TENANT_ID], "tenant id is required");
        assert_eq!(e.0[COMPANY_NAME], "company name is required");
        assert_eq!(e.0[ADMIN_EMAIL], "admin email is required");
        let not_text = RawSignup {
            tenant_id: RawField::NotText,
            company_name: RawField::NotText,
            admin_email: RawField::NotText,
        };
        let e = validate(&not_text).unwrap_err();
        assert_eq!(e.0[TENANT_ID], "tenant id must be given once, as text");
        assert_eq!(e.0[COMPANY_NAME], "company name must be given once, as text");
        assert_eq!(e.0[ADMIN_EMAIL], "admin email must be given once, as text");
        assert_eq!(
            e.to_string(),
            "admin_email: admin email must be given once, as text; company_name: company name must be given once, as text; tenant_id: tenant id must be given once, as text"
        );
    }

    #[test]
    fn older_spellings_and_form_pairs_fill_the_same_fields() {
        let r = RawSignup::from_json(&json!({"tenant_id": "acme", "name": "Acme", "email": "a@acme.io"})).unwrap();
        assert_eq!(r, raw("acme", "Acme", "a@acme.io"));
        let r = RawSignup::from_json(&json!({"tenant_id": "acme", "company_name": "Acme", "admin_email": "a@acme.io"}))
            .unwrap();
        assert_eq!(r, raw("acme", "Acme", "a@acme.io"));
        let r = RawSignup::from_pairs([
            ("name", "Acme"),
            ("email", "a@acme.io"),
            ("tenant_id", "acme"),
            ("other", "x"),
        ]);
        assert_eq!(r, raw("acme", "Acme", "a@acme.io"));
        let r = RawSignup::from_pairs([("admin_email", "a@acme.io"), ("email", "b@acme.io")]);
        assert_eq!(r.admin_email, RawField::NotText);
        assert_eq!(
            RawSignup::from_json(&json!("acme")).unwrap_err(),
            "a signup must be a JSON object"
        );
    }

    proptest! {
        /// Whatever arrives, validation answers (never panics), and what it accepts is
        /// within every bound.
        #[test]
        fn accepted_requests_are_within_bounds(
            id in prop_oneof![3 => " ?[a-z][a-z0-9]{1,10}(-[a-z0-9]{1,8}){0,3}-? ?", 1 => ".{0,80}"],
            name in prop_oneof![3 => " ?[A-Za-z0-9 .,&'\u{00C0}-\u{00FF}-]{0,102} ?", 1 => ".{0,120}"],
            email in prop_oneof![
                3 => " ?[A-Za-z0-9_+'-]{1,20}(\\.[A-Za-z0-9_+'-]{1,20}){0,2}@[A-Za-z0-9]{1,10}(-[A-Za-z0-9]{1,10})?(\\.[A-Za-z0-9-]{1,12}){0,2}\\.[a-zA-Z]{1,4} ?",
                1 => ".{0,300}",
            ],
        ) {
            // Half of each field is drawn near the rules so that acceptance is common.
            if let Ok(s) = validate(&raw(&id, &name, &email)) {
                prop_assert!(TenantId::parse(s.tenant_id.as_str()).is_ok());
                prop_assert!(!s.company_name.is_empty() && s.company_name.chars().count() <= COMPANY_NAME_MAX);
                prop_assert!(!s.company_name.chars().any(is_deceptive));
                prop_assert!(s.admin_email.len() <= EMAIL_MAX && s.admin_email.is_ascii());
                prop_assert_eq!(s.admin_email.matches('@').count(), 1);
            }
        }

        /// Validation is idempotent: a normalised request validates to itself.
        #[test]
        fn normalisation_is_stable(id in "[a-z][a-z0-9]{2,20}", name in "[A-Za-z0-9 .,&'-]{1,100}", user in "[a-z0-9._+-]{1,20}", host in "[a-z0-9]{1,10}\\.[a-z]{2,6}") {
            let email = format!("{user}@{host}");
            if let Ok(s) = validate(&raw(&id, &name, &email)) {
                let again = validate(&raw(s.tenant_id.as_str(), &s.company_name, &s.admin_email)).unwrap();
                prop_assert_eq!(again, s);
            }
        }

        /// A suggestion is either empty or a valid id (unless it is a reserved word).
        #[test]
        fn suggestions_fit_the_grammar(name in ".{0,80}") {
            let s = suggest_tenant_id(&name);
            if s.len() >= crate::tenant_id::MIN_LEN && !crate::tenant_id::RESERVED.contains(&s.as_str()) {
                prop_assert!(TenantId::parse(&s).is_ok(), "{:?}", s);
            }
        }
    }
}
