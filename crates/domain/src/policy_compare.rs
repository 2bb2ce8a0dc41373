//! Comparing IAM policy documents by meaning. IAM returns documents URL-encoded and
//! reformatted, and a statement's `Action: "x"` means the same as `Action: ["x"]`; a
//! textual comparison would report drift where there is none.

use serde_json::Value;

/// Keys whose value is a set of strings, however it is written.
const SET_KEYS: &[&str] = &["Action", "NotAction", "Resource", "NotResource"];

/// A policy document as IAM returns it (`GetRolePolicy`, `GetRole`'s trust policy):
/// URL-encoded JSON; plain JSON is accepted too.
pub fn decode_document(raw: &str) -> Option<Value> {
    serde_json::from_str(raw)
        .ok()
        .or_else(|| serde_json::from_str(&crate::percent::decode(raw)).ok())
}

/// One representation per meaning: statements as a sorted list, string-or-list values as
/// sorted lists (actions lower-cased: IAM action names are case-insensitive), condition
/// values as sorted lists.
pub fn canonical(doc: &Value) -> Value {
    let mut doc = doc.clone();
    if let Some(obj) = doc.as_object_mut()
        && let Some(st) = obj.get_mut("Statement")
    {
        let mut statements: Vec<Value> = as_list(st).iter().map(canonical_statement).collect();
        statements.sort_by_key(|s| s.to_string());
        *st = Value::Array(statements);
    }
    doc
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

fn sorted_set(v: &Value, lower: bool) -> Value {
    let mut items: Vec<Value> = as_list(v)
        .into_iter()
        .map(|x| match (&x, lower) {
            (Value::String(s), true) => Value::String(s.to_ascii_lowercase()),
            _ => x,
        })
        .collect();
    items.sort_by_key(|x| x.to_string());
    items.dedup();
    Value::Array(items)
}

fn canonical_statement(st: &Value) -> Value {
    let Some(obj) = st.as_object() else {
        return st.clone();
    };
    let mut out = serde_json::Map::new();
    for (k, v) in obj {
        let v = if SET_KEYS.contains(&k.as_str()) {
            sorted_set(v, k.ends_with("Action"))
        } else if k == "Condition" || k == "Principal" || k == "NotPrincipal" {
            // {operator: {key: value-or-list}} and {kind: value-or-list}
            nested_sets(v)
        } else {
            v.clone()
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

fn nested_sets(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = if v.is_object() {
                        nested_sets(v)
                    } else {
                        sorted_set(v, false)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether two documents grant the same thing as written (no policy evaluation: a
/// reordered or re-encoded document is equal, a widened one is not).
pub fn same_policy(a: &Value, b: &Value) -> bool {
    canonical(a) == canonical(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantId;
    use crate::policy::{Deployment, tenant_policy, trust_policy};
    use crate::tenant_id::strategy::valid_id;
    use proptest::prelude::*;
    use serde_json::json;

    fn deployment() -> Deployment {
        Deployment::example()
    }

    /// What IAM does to a document: every byte outside the unreserved set percent-encoded.
    fn url_encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect()
    }

    #[test]
    fn url_encoded_documents_decode() {
        let trust = trust_policy("us-east-1:abc");
        let decoded = decode_document(&url_encode(&trust.to_string())).unwrap();
        assert_eq!(decoded, trust);
        assert_eq!(decode_document(&trust.to_string()).unwrap(), trust);
        assert!(decode_document("%zz").is_none());
    }

    #[test]
    fn scalar_and_list_forms_are_the_same_policy() {
        let a = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:x"}});
        let b = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["S3:GetObject"], "Resource": ["arn:x"]}]});
        assert!(same_policy(&a, &b));
    }

    #[test]
    fn a_widened_policy_is_different() {
        let d = deployment();
        let t = TenantId::parse("acme").unwrap();
        let expected: Value = serde_json::from_str(&tenant_policy(&t, &d).to_json()).unwrap();
        let mut widened = expected.clone();
        widened["Statement"][0]["Resource"] = json!(["arn:aws:s3:::tenant-data/tenants/*"]);
        assert!(!same_policy(&expected, &widened));
        let mut extra = expected.clone();
        extra["Statement"][0]["Action"]
            .as_array_mut()
            .unwrap()
            .push(json!("s3:*"));
        assert!(!same_policy(&expected, &extra));
        let mut condition = expected.clone();
        condition["Statement"][1]["Condition"]["StringLike"]["s3:prefix"] = json!("*");
        assert!(!same_policy(&expected, &condition));
    }

    #[test]
    fn principals_compare_as_sets_of_values() {
        let with = |principal: Value, key: &str| json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", key: principal}]});
        for key in ["Principal", "NotPrincipal"] {
            let scalar = with(
                json!({"Federated": "cognito-identity.amazonaws.com", "AWS": ["b", "a"]}),
                key,
            );
            let listed = with(
                json!({"Federated": ["cognito-identity.amazonaws.com"], "AWS": ["a", "b"]}),
                key,
            );
            assert!(same_policy(&scalar, &listed), "{key}");
            let other = with(json!({"Federated": ["accounts.google.com"], "AWS": ["a", "b"]}), key);
            assert!(!same_policy(&scalar, &other), "{key}");
        }
        // Principal values are not case-folded: only action names are case-insensitive.
        let lower = with(json!({"AWS": "arn:aws:iam::1:role/x"}), "Principal");
        let upper = with(json!({"AWS": "arn:aws:iam::1:role/X"}), "Principal");
        assert!(!same_policy(&lower, &upper));
    }

    #[test]
    fn condition_values_compare_as_sets_but_keep_their_case() {
        let with = |v: Value| {
            json!({"Statement": {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:x",
                "Condition": {"StringLike": {"s3:prefix": v}}}})
        };
        assert!(same_policy(
            &with(json!("tenants/a/")),
            &with(json!(["tenants/a/", "tenants/a/"]))
        ));
        assert!(same_policy(&with(json!(["b", "a"])), &with(json!(["a", "b"]))));
        assert!(!same_policy(&with(json!("tenants/A/")), &with(json!("tenants/a/"))));
    }

    #[test]
    fn resources_keep_their_case_and_actions_do_not() {
        let with = |action: &str, resource: &str| json!({"Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]});
        assert!(same_policy(
            &with("S3:GETOBJECT", "arn:x"),
            &with("s3:GetObject", "arn:x")
        ));
        assert!(!same_policy(
            &with("s3:GetObject", "arn:X"),
            &with("s3:GetObject", "arn:x")
        ));
        let not_action =
            |a: &str| json!({"Statement": [{"Effect": "Deny", "NotAction": a, "NotResource": ["arn:y", "arn:x"]}]});
        let not_action2 =
            json!({"Statement": [{"Effect": "Deny", "NotAction": ["IAM:*"], "NotResource": ["arn:x", "arn:y"]}]});
        assert!(same_policy(&not_action("iam:*"), &not_action2));
    }

    #[test]
    fn documents_decode_plain_or_url_encoded() {
        assert_eq!(
            decode_document("%7B%22a%22%3A%22x%2Fy%22%7D"),
            Some(json!({"a": "x/y"}))
        );
        assert_eq!(decode_document("{\"a\":1}"), Some(json!({"a": 1})));
        // A truncated document is none, encoded or not.
        assert_eq!(decode_document("%7B%22a%22%3A1"), None);
        assert_eq!(decode_document("{\"a\":1"), None);
    }

    proptest! {
        /// Reordering statements, actions and condition values never reads as drift.
        #[test]
        fn reordering_is_not_drift(id in valid_id(), seed in any::<u64>()) {
            let d = deployment();
            let doc: Value = serde_json::from_str(&tenant_policy(&TenantId::parse(&id).unwrap(), &d).to_json()).unwrap();
            let mut shuffled = doc.clone();
            let statements = shuffled["Statement"].as_array_mut().unwrap();
            statements.rotate_left((seed % 3) as usize);
            for st in statements.iter_mut() {
                if let Some(a) = st["Action"].as_array_mut() { a.reverse(); }
                if let Some(p) = st.pointer_mut("/Condition/StringLike/s3:prefix").and_then(Value::as_array_mut) { p.reverse(); }
            }
            let encoded = url_encode(&shuffled.to_string());
            prop_assert!(same_policy(&doc, &decode_document(&encoded).unwrap()));
        }
    }
}
