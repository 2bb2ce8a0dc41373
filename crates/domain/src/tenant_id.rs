//! The one grammar every tenant id is checked against before any AWS call.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

pub const MIN_LEN: usize = 3;
/// The tightest limit among the names derived from the id (IAM role name `tenant-{id}`
/// must stay within 64, Cognito group names within 128) leaves room for 32.
pub const MAX_LEN: usize = 32;

/// Ids that would read as something other than a customer, or collide with names the
/// product or AWS uses for itself.
pub const RESERVED: &[&str] = &[
    "admin",
    "administrator",
    "amazon",
    "api",
    "aws",
    "default",
    "internal",
    "null",
    "root",
    "system",
    "tenant",
    "tenants",
    "undefined",
    "www",
];

/// A validated tenant id: lowercase ASCII letters, digits and single hyphens, starting
/// with a letter, not ending with a hyphen, 3–32 characters, not reserved.
///
/// Excluding `*`, `?`, `$`, `{`, `}` and `/` keeps ids inert inside IAM resource
/// patterns; excluding upper case keeps S3/Cognito (case sensitive) and IAM (case
/// insensitive) in agreement about which names are the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantIdError {
    #[error("tenant id is empty; use 3–32 lowercase letters, digits and single hyphens, starting with a letter")]
    Empty,
    #[error("tenant id {id:?} is too short ({len} characters); use at least {MIN_LEN}")]
    TooShort { id: String, len: usize },
    #[error("tenant id {id:?} is too long ({len} characters); use at most {MAX_LEN}")]
    TooLong { id: String, len: usize },
    #[error("tenant id {id:?} must start with a lowercase letter a–z")]
    BadStart { id: String },
    #[error(
        "tenant id {id:?} contains {ch:?} (U+{code:04X}) at position {pos}; only a–z, 0–9 and single hyphens are allowed",
        code = u32::from(*ch)
    )]
    BadChar { id: String, ch: char, pos: usize },
    #[error("tenant id {id:?} contains two hyphens in a row; use single hyphens")]
    DoubleHyphen { id: String },
    #[error("tenant id {id:?} must not end with a hyphen")]
    TrailingHyphen { id: String },
    #[error("tenant id {id:?} is reserved; choose another")]
    Reserved { id: String },
}

/// The most characters of a refused id an error repeats: a megabyte-long id must not
/// become a megabyte-long error message (Step Functions caps causes at 32 KiB).
pub const SHOWN_LEN: usize = 40;

/// The id as an error shows it: whole if short, otherwise its start and its length.
fn shown(raw: &str) -> String {
    let count = raw.chars().count();
    if count <= SHOWN_LEN {
        raw.to_string()
    } else {
        let head: String = raw.chars().take(SHOWN_LEN).collect();
        format!("{head}… ({count} characters)")
    }
}

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, TenantIdError> {
        let id = || shown(raw);
        if raw.is_empty() {
            return Err(TenantIdError::Empty);
        }
        // Characters are checked first so a hostile id is reported by what makes it
        // hostile, not by its length.
        for (pos, ch) in raw.chars().enumerate() {
            if !(ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-') {
                return Err(TenantIdError::BadChar { id: id(), ch, pos });
            }
        }
        let len = raw.len();
        if !raw.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(TenantIdError::BadStart { id: id() });
        }
        if len < MIN_LEN {
            return Err(TenantIdError::TooShort { id: id(), len });
        }
        if len > MAX_LEN {
            return Err(TenantIdError::TooLong { id: id(), len });
        }
        if raw.contains("--") {
            return Err(TenantIdError::DoubleHyphen { id: id() });
        }
        if raw.ends_with('-') {
            return Err(TenantIdError::TrailingHyphen { id: id() });
        }
        if RESERVED.contains(&raw) {
            return Err(TenantIdError::Reserved { id: id() });
        }
        Ok(TenantId(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TenantId {
    type Err = TenantIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// Deserializing validates too, so a TenantId inside a step's input is always valid.
impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        TenantId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_ids() {
        for ok in ["acme", "acme-labs", "a1b", "x-2-y", "abcdefghijklmnopqrstuvwxyz012345"] {
            assert_eq!(TenantId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_hostile_ids_with_a_reason() {
        type Expect = fn(&TenantIdError) -> bool;
        let cases: &[(&str, Expect)] = &[
            ("", |e| matches!(e, TenantIdError::Empty)),
            ("*", |e| matches!(e, TenantIdError::BadChar { ch: '*', .. })),
            ("acme*", |e| matches!(e, TenantIdError::BadChar { ch: '*', .. })),
            ("ac?e", |e| matches!(e, TenantIdError::BadChar { ch: '?', .. })),
            ("${aws:username}", |e| {
                matches!(e, TenantIdError::BadChar { ch: '$', .. })
            }),
            ("acme/labs", |e| matches!(e, TenantIdError::BadChar { ch: '/', .. })),
            ("..", |e| matches!(e, TenantIdError::BadChar { ch: '.', .. })),
            ("Acme", |e| matches!(e, TenantIdError::BadChar { ch: 'A', .. })),
            // Cyrillic 'а' looks like Latin 'a'.
            ("\u{0430}cme", |e| matches!(e, TenantIdError::BadChar { pos: 0, .. })),
            ("acme labs", |e| matches!(e, TenantIdError::BadChar { ch: ' ', .. })),
            ("1acme", |e| matches!(e, TenantIdError::BadStart { .. })),
            ("-acme", |e| matches!(e, TenantIdError::BadStart { .. })),
            ("acme-", |e| matches!(e, TenantIdError::TrailingHyphen { .. })),
            ("ac--me", |e| matches!(e, TenantIdError::DoubleHyphen { .. })),
            ("ab", |e| matches!(e, TenantIdError::TooShort { len: 2, .. })),
            ("abcdefghijklmnopqrstuvwxyz0123456", |e| {
                matches!(e, TenantIdError::TooLong { len: 33, .. })
            }),
            ("admin", |e| matches!(e, TenantIdError::Reserved { .. })),
        ];
        for (raw, expected) in cases {
            let err = TenantId::parse(raw).expect_err(raw);
            assert!(expected(&err), "{raw:?} gave {err:?}");
            assert!(err.to_string().contains("tenant id"), "{err}");
        }
    }

    #[test]
    fn huge_ids_are_refused_with_a_short_message() {
        let err = TenantId::parse(&"a".repeat(1_000_000)).unwrap_err();
        assert!(matches!(err, TenantIdError::TooLong { len: 1_000_000, .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.len() < 200, "{message}");
        assert!(message.contains("1000000 characters"), "{message}");
        let err = TenantId::parse(&format!("{}*", "a".repeat(100_000))).unwrap_err();
        assert!(err.to_string().contains("'*' (U+002A) at position 100000"), "{err}");
    }

    #[test]
    fn look_alikes_are_named_by_code_point() {
        // Cyrillic а, Greek ο, full-width ａ, a zero-width joiner.
        for (raw, code) in [
            ("\u{0430}cme", "U+0430"),
            ("ac\u{03BF}me", "U+03BF"),
            ("\u{FF41}cme", "U+FF41"),
            ("ac\u{200D}me", "U+200D"),
        ] {
            let err = TenantId::parse(raw).unwrap_err().to_string();
            assert!(err.contains(code), "{err}");
        }
    }

    #[test]
    fn errors_quote_the_id_and_views_agree() {
        assert_eq!(
            TenantId::parse("Acme").unwrap_err().to_string(),
            "tenant id \"Acme\" contains 'A' (U+0041) at position 0; only a–z, 0–9 and single hyphens are allowed"
        );
        let long = "b".repeat(SHOWN_LEN + 1);
        assert_eq!(
            TenantId::parse(&long).unwrap_err().to_string(),
            format!(
                "tenant id \"{}… (41 characters)\" is too long (41 characters); use at most 32",
                "b".repeat(SHOWN_LEN)
            )
        );
        let at = "c".repeat(SHOWN_LEN);
        assert_eq!(
            TenantId::parse(&at).unwrap_err(),
            TenantIdError::TooLong {
                id: at.clone(),
                len: SHOWN_LEN
            }
        );
        let id: TenantId = "acme-labs".parse().unwrap();
        let (r, d): (&str, String) = (id.as_ref(), id.to_string());
        assert_eq!((r, d.as_str(), id.as_str()), ("acme-labs", "acme-labs", "acme-labs"));
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<TenantId>("\"acme\"").is_ok());
        assert!(serde_json::from_str::<TenantId>("\"ACME\"").is_err());
    }

    proptest! {
        /// Accepted exactly when the grammar, written out independently, says so. The
        /// generator mostly draws from the id alphabet so that both answers are common.
        #[test]
        fn accepted_exactly_when_the_grammar_holds(raw in prop_oneof![
            4 => "[a-z0-9-]{0,36}",
            2 => crate::tenant_id::strategy::valid_id(),
            1 => "[a-z][a-z0-9-]{1,33}[A-Z*?/${}_. \u{0430}]?",
            1 => "\\PC{0,40}",
        ]) {
            let b = raw.as_bytes();
            let grammar = (MIN_LEN..=MAX_LEN).contains(&b.len())
                && b[0].is_ascii_lowercase()
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && !raw.contains("--")
                && !raw.ends_with('-')
                && !RESERVED.contains(&raw.as_str());
            match TenantId::parse(&raw) {
                Ok(id) => prop_assert!(grammar && id.as_str() == raw, "{:?} accepted", raw),
                Err(e) => prop_assert!(!grammar, "{:?} refused: {}", raw, e),
            }
        }

        #[test]
        fn grammar_strings_are_accepted(raw in crate::tenant_id::strategy::valid_id()) {
            prop_assert!(TenantId::parse(&raw).is_ok());
        }
    }
}

/// Generators shared by the property tests of this crate.
#[cfg(test)]
pub(crate) mod strategy {
    use proptest::prelude::*;

    pub fn valid_id() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,6}){0,3}".prop_filter("length and reserved words", |s| {
            (super::MIN_LEN..=super::MAX_LEN).contains(&s.len()) && !super::RESERVED.contains(&s.as_str())
        })
    }
}
