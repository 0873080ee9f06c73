//! API definition management (rig-spec 5.2, 6.1–6.3): `/v3/apis` and `/v2/apis`
//! CRUD with RIG's statuses and texts, validation maps, `PROXY_CONFIG_FILE`,
//! runtime changes reaching the router, and `GET /apis` on the public port.

mod common;

use common::{backend::Backend, *};
use serde_json::{json, Value};

async fn send(rig: &TestRig, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut req = rig.http.request(method.parse().unwrap(), rig.api_url(path));
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
}

fn mock_api_with_id(id: &str) -> Value {
    json!({
        "auth": {"header_name": "", "query_name": "", "use_header": false, "use_query": false},
        "auth_type": "none", "id": id, "name": id,
        "proxy": {"port": 4444, "target_url": "API_HOST", "use_env": true},
        "version_data": {"default": {"endpoints": [
            {"id": "get-movies", "method": "GET", "secured": false, "path_regex": "/myapi/movies"},
            {"id": "get-movies-2", "method": "GET", "path_regex": "/foo/([^/]+)/bar/([^/]+)"}
        ]}},
        "versioned": false, "active": true
    })
}

#[tokio::test]
async fn crud_with_rig_statuses_and_metadata() {
    let rig = TestRig::start(&[("NODE_HOST", "10.0.0.7")]).await;
    for v in ["v3", "v2"] {
        let id = format!("new-service-{v}");
        let mock_api = || mock_api_with_id(&id);
        let apis = format!("/{v}/apis");
        let one = format!("/{v}/apis/{id}");
        assert_eq!(send(&rig, "GET", &apis, None).await, (200, json!([])));
        assert_eq!(send(&rig, "POST", &apis, Some(&mock_api())).await, (201, json!({"message": "ok"})));
        assert_eq!(
            send(&rig, "POST", &apis, Some(&mock_api())).await,
            (409, json!({"message": format!("API with id={id} already exists.")}))
        );
        let (status, stored) = send(&rig, "GET", &one, None).await;
        assert_eq!(status, 200);
        assert_eq!(
            (stored["active"].clone(), stored["ref_number"].clone(), stored["node_name"].clone()),
            (json!(true), json!(0), json!("rig@10.0.0.7"))
        );
        let ts = stored["timestamp"].as_str().unwrap();
        assert!(ts.len() == 27 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
        assert_eq!(stored["version_data"], mock_api()["version_data"]);
        assert_eq!(stored["id"], id.as_str());
        // PUT merges top-level keys and counts the reference number up.
        let (status, body) = send(
            &rig,
            "PUT",
            &one,
            Some(&json!({"name": "renamed", "proxy": {"port": 1, "target_url": "h"}, "version_data": {"default": {"endpoints": []}}})),
        )
        .await;
        assert_eq!((status, body), (200, json!({"message": "ok"})));
        let stored = send(&rig, "GET", &one, None).await.1;
        assert_eq!(
            (stored["name"].clone(), stored["ref_number"].clone(), stored["auth_type"].clone()),
            (json!("renamed"), json!(1), json!("none"))
        );
        assert_eq!(send(&rig, "GET", &apis, None).await.1.as_array().unwrap().len(), 1);
        // DELETE deactivates: hidden from GET, PUT and a second DELETE.
        let missing = json!({"message": format!("API with id={id} doesn't exists.")});
        assert_eq!(send(&rig, "DELETE", &one, None).await, (204, Value::Null));
        assert_eq!(send(&rig, "GET", &one, None).await, (404, missing.clone()));
        assert_eq!(send(&rig, "DELETE", &one, None).await, (404, missing.clone()));
        assert_eq!(send(&rig, "PUT", &one, Some(&mock_api())).await, (404, missing.clone()));
        assert_eq!(send(&rig, "GET", &apis, None).await, (200, json!([])));
        // POSTing a deactivated id replaces it.
        assert_eq!(send(&rig, "POST", &apis, Some(&mock_api())).await, (201, json!({"message": "ok"})));
        assert_eq!(send(&rig, "GET", &one, None).await.1["ref_number"], 3);
        assert_eq!(send(&rig, "DELETE", &one, None).await.0, 204);
    }
    let fake = json!({"id": "fake", "name": "fake", "version_data": {"default": {"endpoints": []}}, "proxy": {"port": 3000, "target_url": "http://localhost"}});
    assert_eq!(
        send(&rig, "PUT", "/v3/apis/fake-service", Some(&fake)).await,
        (404, json!({"message": "API with id=fake-service doesn't exists."}))
    );
}

#[tokio::test]
async fn jwt_apis_get_rig_defaults() {
    let rig = TestRig::start(&[]).await;
    let mut def = api_def("secure", 1, json!([]));
    def["auth_type"] = "jwt".into();
    rig.add_api(&def).await;
    let stored = send(&rig, "GET", "/v3/apis/secure", None).await.1;
    assert_eq!(stored["auth"], json!({"use_header": true, "header_name": "Authorization", "use_query": false, "query_name": ""}));
    assert_eq!(
        (stored["versioned"].clone(), stored["proxy"]["use_env"].clone()),
        (json!(false), Value::Null),
        "use_env only defaults when proxy is absent"
    );
}

#[tokio::test]
async fn invalid_definitions_get_rig_error_maps() {
    let rig = TestRig::start(&[]).await;
    let config = |endpoints: Value, auth: Value, auth_type: Value| {
        json!({"active": true, "id": "invalid-config", "name": "invalid-config",
            "proxy": {"port": 3000, "target_url": "http://localhost", "use_env": false},
            "version_data": {"default": {"endpoints": endpoints}}, "versioned": false, "auth": auth, "auth_type": auth_type})
    };
    let ep = |extra: Value| {
        let mut e = json!({"id": "invalid-config1", "method": "GET", "path_regex": "/foo"});
        e.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!([e])
    };
    let scope = "invalid-config/invalid-config1";
    let cases = [
        (config(ep(json!({"target": "kinesis"})), json!({}), Value::Null), json!({scope: [{"topic": "must be present"}]})),
        (config(ep(json!({"target": "kafka"})), json!({}), Value::Null), json!({scope: [{"topic": "must be present"}]})),
        (config(ep(json!({"schema": "some-avro-schema"})), json!({}), Value::Null), json!({scope: [{"target": "must be present"}]})),
        (config(ep(json!({"secured": true})), json!({}), Value::Null), json!({scope: [{"auth_type": "must be one of [\"jwt\"]"}]})),
        (config(ep(json!({})), json!({"use_header": true}), json!("jwt")), json!({"invalid-config": [{"header_name": "must be present"}]})),
        (config(ep(json!({})), json!({"use_query": true}), json!("jwt")), json!({"invalid-config": [{"query_name": "must be present"}]})),
        (
            config(ep(json!({})), json!({"use_query": true, "query_name": "test"}), Value::Null),
            json!({"invalid-config": [{"auth_type": "must be one of [\"jwt\"]"}]}),
        ),
        (
            config(ep(json!({"path_regex": ""})), json!({}), Value::Null),
            json!({scope: [{"path_regex": "must have a length of at least 1"}]}),
        ),
        (
            config(json!([{}]), json!({}), Value::Null),
            json!({"invalid-config/": [{"id": "must be string"}, {"id": "must have a length of at least 1"},
                {"path_regex": "must be string"}, {"path_regex": "must have a length of at least 1"},
                {"method": "must be string"}, {"method": "must have a length of at least 1"}]}),
        ),
    ];
    for (def, expected) in cases {
        assert_eq!(send(&rig, "POST", "/v3/apis", Some(&def)).await, (400, expected.clone()), "POST {def}");
        assert_eq!(send(&rig, "PUT", "/v3/apis/invalid-config", Some(&def)).await, (400, expected), "PUT {def}");
    }
    let p = json!({"port": 3000, "target_url": "http://localhost"});
    let put_cases = [
        (
            json!({}),
            json!({"api": [{"name": "must be string"}, {"name": "must have a length of at least 1"}, {"proxy": "must be present"}, {"version_data": "must be present"}]}),
        ),
        (
            json!({"id": "invalid_proxy", "name": "invalid_proxy", "proxy": {}, "version_data": {"default": {"endpoints": []}}}),
            json!({"api": [{"proxy": "must be present"}, {"target_url": "must be string"}, {"target_url": "must have a length of at least 1"}, {"port": "must be integer"}]}),
        ),
        (
            json!({"id": "x", "name": "x", "proxy": p, "version_data": {}}),
            json!({"api": [{"version_data": "must be present"}, {"version_data": "must have at least one version, e.g. default"}]}),
        ),
        (json!({"id": "x", "name": "x", "proxy": p, "version_data": {"default": {}}}), json!({"api": [{"endpoints": "must be list"}]})),
        (
            json!({"id": "x", "name": "x", "proxy": p, "version_data": {"default": {"endpoints": {}}}}),
            json!({"api": [{"endpoints": "must be list"}]}),
        ),
    ];
    for (def, expected) in put_cases {
        assert_eq!(send(&rig, "PUT", "/v3/apis/invalid-config", Some(&def)).await, (400, expected), "PUT {def}");
    }
    // RIG answered 500 to a POST without id; here the map says what is missing.
    let (status, body) = send(&rig, "POST", "/v3/apis", Some(&json!({"name": "x"}))).await;
    assert_eq!((status, body["api"][0].clone()), (400, json!({"id": "must be string"})));
    // Framework errors as RIG's API port words them.
    let r = rig.http.post(rig.api_url("/v3/apis")).header("content-type", "application/json").body("{").send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (400, r#"{"errors":{"detail":"Bad request"}}"#.to_string()));
    let r = rig.http.post(rig.api_url("/v3/apis")).header("content-type", "application/xml").body("<a/>").send().await.unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(send(&rig, "GET", "/v3/apis", None).await, (200, json!([])), "nothing invalid was stored");
}

fn file_api(port: u16) -> Value {
    // Methods in the file are upper-cased on load.
    api_def("from-file", port, json!([{"id": "e", "method": "get", "path_regex": "/file/(.+)", "path_replacement": "/seen/\\1"}]))
}

#[tokio::test]
async fn proxy_config_file_as_path_or_inline_json() {
    let backend = Backend::ok().await;
    let inline = json!([file_api(backend.port())]).to_string();
    let path = std::env::temp_dir().join(format!("rig-proxy-config-test-{}.json", std::process::id()));
    std::fs::write(&path, &inline).unwrap();
    for config in [inline.as_str(), path.to_str().unwrap()] {
        let rig = TestRig::start(&[("PROXY_CONFIG_FILE", config)]).await;
        let listed = send(&rig, "GET", "/v3/apis", None).await.1;
        assert_eq!(listed[0]["id"], "from-file");
        let r = rig.http.get(rig.url("/file/abc")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(backend.last().path, "/seen/abc");
    }
    std::fs::remove_file(path).unwrap();
}

#[test]
fn an_invalid_proxy_config_file_stops_the_start_naming_the_variable() {
    for (value, says) in [
        (r#"[{"id":"a"}]"#, "must be string"),
        ("{}", "expected a JSON array"),
        ("/no/such/file.json", "neither a readable file nor valid JSON"),
        (
            r#"[{"id":"a","name":"a","proxy":{"target_url":"h","port":1},"version_data":{"default":{"endpoints":[{"id":"e","method":"GET","path_regex":"(("}]}}}]"#,
            "valid regular expression",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rig"))
            .env("PROXY_CONFIG_FILE", value)
            .env("INBOUND_PORT", "0")
            .env("API_HTTP_PORT", "0")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{value}: {stderr}");
        assert!(stderr.contains("PROXY_CONFIG_FILE") && stderr.contains(says), "{value}: {stderr}");
        assert!(!stderr.contains("listening"), "{stderr}");
    }
}

#[tokio::test]
async fn runtime_changes_reach_the_router_without_a_restart() {
    let rig = TestRig::start(&[]).await;
    let backend = Backend::ok().await;
    let get = |path: &'static str| rig.http.get(rig.url(path)).send();
    assert_eq!(get("/live/1").await.unwrap().status(), 404);
    rig.add_api(&api_def("live", backend.port(), json!([{"id": "e", "method": "GET", "path_regex": "/live/.+"}]))).await;
    assert_eq!(get("/live/1").await.unwrap().status(), 200);
    let moved = api_def("live", backend.port(), json!([{"id": "e", "method": "GET", "path_regex": "/moved"}]));
    assert_eq!(send(&rig, "PUT", "/v3/apis/live", Some(&moved)).await.0, 200);
    assert_eq!(get("/live/1").await.unwrap().status(), 404);
    assert_eq!(get("/moved").await.unwrap().status(), 200);
    assert_eq!(send(&rig, "DELETE", "/v3/apis/live", None).await.0, 204);
    let r = get("/moved").await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (404, r#"{"message":"Not Found"}"#.to_string()));
    assert_eq!(backend.seen().len(), 2);
}

#[tokio::test]
async fn get_apis_on_the_public_port_lists_definitions_unless_an_endpoint_takes_it() {
    let rig = TestRig::start(&[("RIG_PUBLIC_APIS_ENDPOINT", "true")]).await;
    let r = rig.http.get(rig.url("/apis")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, "[]".to_string()));
    let backend = Backend::start(|_| async { "from the backend" }).await;
    rig.add_api(&api_def("listed", backend.port(), json!([{"id": "e", "method": "GET", "path_regex": "/other"}]))).await;
    let listed: Value = rig.http.get(rig.url("/apis")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed[0]["id"], "listed");
    rig.add_api(&api_def("owner", backend.port(), json!([{"id": "e", "method": "GET", "path_regex": "/apis"}]))).await;
    assert_eq!(rig.http.get(rig.url("/apis")).send().await.unwrap().text().await.unwrap(), "from the backend");

    let off = TestRig::start(&[]).await;
    assert_eq!(off.http.get(off.url("/apis")).send().await.unwrap().status(), 404, "off by default");
}
