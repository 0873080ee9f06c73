//! Validation of API definitions with RIG's error map (rig-spec 6.3): a JSON
//! object from a scope (`"api"`, `"<api id>"`, `"<api id>/<endpoint id>"`) to a
//! list of `{"<field>": "<message>"}`, in RIG's order of checking.
//!
//! Where RIG crashed on a shape it did not expect (a string where an object
//! belongs, an unknown `target`, a `path_regex` that is no regex) the same map
//! carries a message saying so instead.

use serde_json::{Map, Value};

use super::api::{ResponseFrom, Target};

/// Problems found, in order: (scope, [(field, message)]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Errors(Vec<(String, Vec<(String, String)>)>);

impl Errors {
    /// One problem.
    pub fn single(scope: &str, field: &str, message: &str) -> Errors {
        Errors(vec![(scope.to_string(), vec![(field.to_string(), message.to_string())])])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a scope's problems (none: nothing is added, as RIG's `merge_errors`).
    fn merge(&mut self, scope: String, problems: Vec<(String, String)>) {
        if !problems.is_empty() {
            self.0.push((scope, problems));
        }
    }

    /// RIG's 400 body. A scope named twice keeps its last list (RIG builds a map).
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        for (scope, problems) in &self.0 {
            let list = problems.iter().map(|(field, msg)| Value::Object(Map::from_iter([(field.clone(), msg.clone().into())]))).collect();
            out.insert(scope.clone(), Value::Array(list));
        }
        Value::Object(out)
    }

    /// One line for logs and start-up errors.
    pub fn summary(&self) -> String {
        self.to_json().to_string()
    }
}

impl std::fmt::Display for Errors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}

/// Vex's notion of blank: null, false, "", [] and {}.
fn blank(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

type Problems = Vec<(String, String)>;

fn problem(out: &mut Problems, field: &str, msg: &str) {
    out.push((field.to_string(), msg.to_string()));
}

/// `must be string` and `must have a length of at least 1`, as RIG's pair of checks.
fn string(out: &mut Problems, map: &Map<String, Value>, key: &str) {
    match map.get(key) {
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(Value::String(_)) => problem(out, key, "must have a length of at least 1"),
        _ => {
            problem(out, key, "must be string");
            problem(out, key, "must have a length of at least 1");
        }
    }
}

fn presence(out: &mut Problems, map: &Map<String, Value>, key: &str) {
    if blank(map.get(key)) {
        problem(out, key, "must be present");
    }
}

fn is_integer(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Number(n)) if n.is_i64() || n.is_u64())
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// The scope text of an id: the string itself, else its JSON text.
fn id_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Validates one definition (`api` is the request body merged with query and path params).
pub fn validate(api: &Value) -> Errors {
    let mut errors = Errors::default();
    let Some(api) = api.as_object() else {
        errors.merge("api".into(), vec![("api".into(), "must be a JSON object".into())]);
        return errors;
    };
    required_props(&mut errors, api);
    auth(&mut errors, api);
    // RIG prepends the endpoint problems to what it found so far.
    let mut endpoint_errors = Errors::default();
    endpoints(&mut endpoint_errors, api);
    endpoint_errors.0.extend(errors.0);
    endpoint_errors.0.dedup();
    endpoint_errors
}

fn required_props(errors: &mut Errors, api: &Map<String, Value>) {
    let mut p = Problems::new();
    string(&mut p, api, "id");
    string(&mut p, api, "name");
    presence(&mut p, api, "proxy");
    match api.get("proxy") {
        None => {}
        Some(Value::Object(proxy)) => {
            string(&mut p, proxy, "target_url");
            if !is_integer(proxy.get("port")) {
                problem(&mut p, "port", "must be integer");
            } else if !proxy.get("port").and_then(Value::as_u64).is_some_and(|p| (1..=65535).contains(&p)) {
                problem(&mut p, "port", "must be between 1 and 65535");
            } else if proxy.get("use_env") != Some(&Value::Bool(true))
                && proxy.get("target_url").is_some_and(|u| u.as_str().is_some_and(|s| !s.is_empty()))
            {
                if let Err(reason) = super::api::Upstream::from_proxy(proxy) {
                    problem(&mut p, "target_url", &reason);
                }
            }
        }
        Some(_) => problem(&mut p, "proxy", "must be an object with target_url and port"),
    }
    presence(&mut p, api, "version_data");
    match api.get("version_data") {
        None => {}
        Some(Value::Object(versions)) if versions.is_empty() => {
            problem(&mut p, "version_data", "must have at least one version, e.g. default");
        }
        Some(Value::Object(versions)) => {
            for version in versions.values() {
                if !matches!(version.get("endpoints"), Some(Value::Array(_))) {
                    problem(&mut p, "endpoints", "must be list");
                }
            }
        }
        Some(_) => problem(&mut p, "version_data", "must be an object of versions, e.g. {\"default\": {\"endpoints\": []}}"),
    }
    if let Some(add) = api.get("version_data").and_then(|v| v.pointer("/default/transform_request_headers/add_headers")) {
        if !valid_add_headers(add) {
            problem(&mut p, "add_headers", "must map header names to string values");
        }
    }
    errors.merge("api".into(), p);
}

fn valid_add_headers(v: &Value) -> bool {
    v.as_object().is_some_and(|m| {
        m.iter().all(|(k, v)| {
            http::HeaderName::from_bytes(k.as_bytes()).is_ok() && v.as_str().is_some_and(|s| http::HeaderValue::from_str(s).is_ok())
        })
    })
}

fn is_jwt(api: &Map<String, Value>) -> bool {
    api.get("auth_type").and_then(Value::as_str) == Some("jwt")
}

fn auth(errors: &mut Errors, api: &Map<String, Value>) {
    let (Some(auth), Some(id)) = (api.get("auth"), api.get("id")) else { return };
    let mut p = Problems::new();
    match auth {
        Value::Object(auth) => {
            if !blank(auth.get("use_header")) {
                presence(&mut p, auth, "header_name");
            }
            if !blank(auth.get("use_query")) {
                presence(&mut p, auth, "query_name");
            }
            let wants_jwt = auth.get("use_header") == Some(&Value::Bool(true)) || auth.get("use_query") == Some(&Value::Bool(true));
            if wants_jwt && !is_jwt(api) {
                problem(&mut p, "auth_type", "must be one of [\"jwt\"]");
            }
        }
        Value::Null => {}
        _ => problem(&mut p, "auth", "must be an object (use_header, header_name, use_query, query_name)"),
    }
    errors.merge(id_text(Some(id)), p);
}

fn endpoints(errors: &mut Errors, api: &Map<String, Value>) {
    let Some(id) = api.get("id") else { return };
    let Some(Value::Array(list)) = api.get("version_data").and_then(|v| v.pointer("/default/endpoints")) else { return };
    for endpoint in list {
        let e = endpoint.as_object().unwrap_or(&EMPTY);
        let mut p = Problems::new();
        if e.get("secured") == Some(&Value::Bool(true)) && !is_jwt(api) {
            problem(&mut p, "auth_type", "must be one of [\"jwt\"]");
        }
        let target_name = e.get("target").and_then(Value::as_str);
        if matches!(target_name, Some("kafka" | "kinesis")) {
            presence(&mut p, e, "topic");
        }
        if !blank(e.get("schema")) {
            presence(&mut p, e, "target");
        }
        string(&mut p, e, "id");
        string(&mut p, e, "path_regex");
        string(&mut p, e, "method");
        beyond_rig(&mut p, e);
        errors.merge(format!("{}/{}", id_text(Some(id)), id_text(e.get("id"))), p);
    }
}

/// Checks RIG did not make (it failed later, on a request, with a 500).
fn beyond_rig(p: &mut Problems, e: &Map<String, Value>) {
    let target = match e.get("target") {
        None | Some(Value::Null) => Some(Target::Http),
        Some(Value::String(s)) => Target::parse(s),
        Some(_) => None,
    };
    if target.is_none() {
        problem(p, "target", "must be one of [\"http\", \"kafka\", \"kinesis\", \"nats\"]");
    }
    let response_from = match e.get("response_from") {
        None | Some(Value::Null) => Some(ResponseFrom::Http),
        Some(Value::String(s)) => ResponseFrom::parse(s),
        Some(_) => None,
    };
    match (target, response_from) {
        (_, None) => problem(p, "response_from", "must be one of [\"http\", \"kafka\", \"http_async\", \"kinesis\", \"nats\"]"),
        (Some(Target::Http), Some(ResponseFrom::Nats)) => problem(p, "response_from", "nats needs target nats"),
        _ => {}
    }
    if let Some(Value::String(re)) = e.get("path_regex") {
        if !re.is_empty() {
            if let Err(error) = super::route::compile_path_regex(re) {
                problem(p, "path_regex", &format!("must be a valid regular expression: {error}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(endpoints: Value, auth: Value, auth_type: Value) -> Value {
        json!({
            "active": true, "id": "invalid-config", "name": "invalid-config",
            "proxy": {"port": 3000, "target_url": "http://localhost", "use_env": false},
            "version_data": {"default": {"endpoints": endpoints}},
            "versioned": false, "auth": auth, "auth_type": auth_type
        })
    }

    fn ep(extra: Value) -> Value {
        let mut e = json!({"id": "invalid-config1", "method": "GET", "path_regex": "/foo"});
        e.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!([e])
    }

    fn check(api: Value, expected: Value) {
        assert_eq!(validate(&api).to_json(), expected, "{api}");
    }

    /// Every case of RIG's apis_test.exs and proxy_test.exs.
    #[test]
    fn rig_error_maps() {
        check(
            json!({"id": "invalid-config"}),
            json!({"api": [
            {"name": "must be string"}, {"name": "must have a length of at least 1"},
            {"proxy": "must be present"}, {"version_data": "must be present"}]}),
        );
        check(
            json!({}),
            json!({"api": [
            {"id": "must be string"}, {"id": "must have a length of at least 1"},
            {"name": "must be string"}, {"name": "must have a length of at least 1"},
            {"proxy": "must be present"}, {"version_data": "must be present"}]}),
        );
        check(
            json!({"id": "invalid_proxy", "name": "invalid_proxy", "proxy": {}, "version_data": {"default": {"endpoints": []}}}),
            json!({"api": [{"proxy": "must be present"}, {"target_url": "must be string"},
                {"target_url": "must have a length of at least 1"}, {"port": "must be integer"}]}),
        );
        let proxy = json!({"port": 3000, "target_url": "http://localhost"});
        check(
            json!({"id": "p", "name": "p", "proxy": proxy, "version_data": {}}),
            json!({"api": [{"version_data": "must be present"}, {"version_data": "must have at least one version, e.g. default"}]}),
        );
        for default in [json!({}), json!({"endpoints": {}})] {
            check(
                json!({"id": "p", "name": "p", "proxy": proxy, "version_data": {"default": default}}),
                json!({"api": [{"endpoints": "must be list"}]}),
            );
        }
        check(
            config(json!([{}]), json!({}), Value::Null),
            json!({"invalid-config/": [
            {"id": "must be string"}, {"id": "must have a length of at least 1"},
            {"path_regex": "must be string"}, {"path_regex": "must have a length of at least 1"},
            {"method": "must be string"}, {"method": "must have a length of at least 1"}]}),
        );
        let scope = "invalid-config/invalid-config1";
        check(
            config(ep(json!({"path_regex": ""})), json!({}), Value::Null),
            json!({scope: [{"path_regex": "must have a length of at least 1"}]}),
        );
        for target in ["kafka", "kinesis"] {
            check(config(ep(json!({"target": target})), json!({}), Value::Null), json!({scope: [{"topic": "must be present"}]}));
        }
        check(config(ep(json!({"schema": "some-avro-schema"})), json!({}), Value::Null), json!({scope: [{"target": "must be present"}]}));
        check(config(ep(json!({"secured": true})), json!({}), Value::Null), json!({scope: [{"auth_type": "must be one of [\"jwt\"]"}]}));
        check(
            config(ep(json!({})), json!({"use_header": true}), json!("jwt")),
            json!({"invalid-config": [{"header_name": "must be present"}]}),
        );
        check(
            config(ep(json!({})), json!({"use_query": true}), json!("jwt")),
            json!({"invalid-config": [{"query_name": "must be present"}]}),
        );
        check(
            config(ep(json!({})), json!({"use_query": true, "query_name": "test"}), Value::Null),
            json!({"invalid-config": [{"auth_type": "must be one of [\"jwt\"]"}]}),
        );
        assert!(validate(&config(ep(json!({"secured": true})), json!({}), json!("jwt"))).is_empty());
    }

    #[test]
    fn shapes_that_crashed_rig_get_a_reason() {
        let scope = "invalid-config/invalid-config1";
        check(
            config(ep(json!({"target": "ftp"})), json!({}), Value::Null),
            json!({scope: [
            {"target": "must be one of [\"http\", \"kafka\", \"kinesis\", \"nats\"]"}]}),
        );
        check(
            config(ep(json!({"path_regex": "/a(b"})), json!({}), Value::Null),
            json!({scope: [
            {"path_regex": "must be a valid regular expression: unclosed group"}]}),
        );
        check(
            config(ep(json!({"response_from": "nats"})), json!({}), Value::Null),
            json!({scope: [{"response_from": "nats needs target nats"}]}),
        );
        check(
            config(ep(json!({})), json!("x"), Value::Null),
            json!({"invalid-config": [
            {"auth": "must be an object (use_header, header_name, use_query, query_name)"}]}),
        );
        let mut bad_headers = config(ep(json!({})), json!({}), Value::Null);
        bad_headers["version_data"]["default"]["transform_request_headers"] = json!({"add_headers": {"bad name": "x"}});
        check(bad_headers, json!({"api": [{"add_headers": "must map header names to string values"}]}));
        check(json!([1]), json!({"api": [{"api": "must be a JSON object"}]}));
    }
}
