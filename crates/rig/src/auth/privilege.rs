//! Privileged users (RIG 1.x's `JWT_USER_FIELD`, `JWT_ROLES_FIELD`,
//! `PRIVILEGED_ROLES`, mapped onto 3.0's subscriptions).
//!
//! When `JWT_USER_FIELD` is set, an extractor field whose `jwt.json_pointer` is
//! that claim is a *user field*. For event types with a user field, a caller
//! without a privileged role may only subscribe with every `oneOf` clause
//! constraining the user field to their own claim value: no unconstrained
//! subscription, no other user's events. Privileged callers may subscribe to
//! anything. Unset (the default), nothing changes from RIG 3.0.

use rig_core::{scalar::Scalar, ExtractorConfig, Subscription};
use serde_json::Value;

/// Settings for the privileged-user rule and for naming a token's user.
#[derive(Debug, Clone, Default)]
pub struct Privileges {
    /// JSON Pointer to the user claim; `None` turns the rule off.
    pub user_field: Option<String>,
    /// JSON Pointer to the roles claim (a string or an array of strings).
    pub roles_field: String,
    pub privileged_roles: Vec<String>,
}

/// A claim name (`user`) or a JSON Pointer (`/user`) as a pointer.
pub fn as_pointer(field: &str) -> String {
    if field.is_empty() || field.starts_with('/') {
        field.to_string()
    } else {
        format!("/{field}")
    }
}

impl Privileges {
    /// The user a token belongs to: the `JWT_USER_FIELD` claim, else `sub`.
    pub fn user_of(&self, claims: &Value) -> Option<String> {
        let ptr = self.user_field.as_deref().unwrap_or("/sub");
        match rig_core::pointer::resolve(claims, ptr)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The caller's roles (`JWT_ROLES_FIELD`: a string or a list of them).
    pub fn roles_of<'a>(&self, claims: &'a Value) -> Vec<&'a str> {
        match rig_core::pointer::resolve(claims, &self.roles_field) {
            Some(Value::String(r)) => vec![r.as_str()],
            Some(Value::Array(rs)) => rs.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the caller has one of `PRIVILEGED_ROLES`.
    pub fn is_privileged(&self, claims: &Value) -> bool {
        self.roles_of(claims).iter().any(|r| self.privileged_roles.iter().any(|p| p == r))
    }

    /// `Err` names the first subscription the caller may not have.
    pub fn check(&self, subs: &[Subscription], claims: Option<&Value>, extractors: &ExtractorConfig) -> Result<(), String> {
        let Some(user_ptr) = &self.user_field else { return Ok(()) };
        if claims.is_some_and(|c| self.is_privileged(c)) {
            return Ok(());
        }
        let own = claims.and_then(|c| rig_core::pointer::resolve(c, user_ptr)).and_then(Scalar::from_json);
        for sub in subs {
            let user_fields: Vec<&str> = extractors
                .fields(&sub.event_type)
                .iter()
                .filter(|f| f.jwt_pointer.as_deref() == Some(user_ptr.as_str()))
                .map(|f| f.name.as_str())
                .collect();
            if user_fields.is_empty() {
                continue;
            }
            let own_only = !sub.one_of.is_empty()
                && sub.one_of.iter().all(|clause| {
                    user_fields.iter().all(|f| match (clause.get(*f), &own) {
                        (Some(v), Some(own)) => own.eq_json(v),
                        _ => false,
                    })
                });
            if !own_only {
                return Err(format!("only privileged users may subscribe to {:?} events of other users", sub.event_type));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rig_core::subscription::parse_param;
    use serde_json::json;

    fn setup() -> (Privileges, ExtractorConfig) {
        let p = Privileges { user_field: Some("/username".into()), roles_field: "/roles".into(), privileged_roles: vec!["admin".into()] };
        let ex = ExtractorConfig::parse(
            r#"{"msg":{"name":{"stable_field_index":0,"event":{"json_pointer":"/data/name"},"jwt":{"json_pointer":"/username"}}}}"#,
        )
        .unwrap();
        (p, ex)
    }

    #[test]
    fn users_may_only_subscribe_to_themselves_admins_to_anyone() {
        let (p, ex) = setup();
        let alice = json!({"username": "alice", "roles": ["user"]});
        let admin = json!({"username": "root", "roles": ["user", "admin"]});
        let own = parse_param(r#"[{"eventType":"msg","oneOf":[{"name":"alice"}]}]"#).unwrap();
        let other = parse_param(r#"[{"eventType":"msg","oneOf":[{"name":"alice"},{"name":"bob"}]}]"#).unwrap();
        let all = parse_param(r#"[{"eventType":"msg"}]"#).unwrap();
        let unrelated = parse_param(r#"[{"eventType":"news"}]"#).unwrap();
        assert!(p.check(&own, Some(&alice), &ex).is_ok());
        assert!(p.check(&other, Some(&alice), &ex).is_err());
        assert!(p.check(&all, Some(&alice), &ex).is_err());
        assert!(p.check(&all, None, &ex).is_err());
        assert!(p.check(&unrelated, None, &ex).is_ok());
        assert!(p.check(&other, Some(&admin), &ex).is_ok());
        assert!(Privileges::default().check(&other, None, &ex).is_ok(), "off by default");
    }

    #[test]
    fn names_users_by_user_field_or_sub() {
        let (p, _) = setup();
        assert_eq!(p.user_of(&json!({"username": "alice", "sub": "x"})).as_deref(), Some("alice"));
        assert_eq!(Privileges::default().user_of(&json!({"sub": "x"})).as_deref(), Some("x"));
        assert_eq!(as_pointer("user"), "/user");
    }
}
