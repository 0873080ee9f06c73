use bytes::Bytes;
use rig_core::subscription::parse_param;
use tokio::sync::mpsc;

use super::*;

fn event(t: &str, name: &str) -> CloudEvent {
    let json = format!(r#"{{"specversion":"0.2","type":"{t}","id":"1","data":{{"name":"{name}"}}}}"#);
    CloudEvent::parse(Bytes::from(json)).unwrap()
}

fn info(session: &str) -> ConnInfo {
    ConnInfo { session: Some(session.into()), user: Some(format!("user-of-{session}")), user_agent: None }
}

fn hub() -> Hub {
    let ex = ExtractorConfig::parse(r#"{"greeting":{"name":{"stable_field_index":0,"event":{"json_pointer":"/data/name"}}}}"#).unwrap();
    Hub::new(ex)
}

fn stream(hub: &Hub, subs: &str, cap: usize) -> (ConnId, mpsc::Receiver<Outgoing>) {
    let (tx, rx) = mpsc::channel(cap);
    let id = hub.new_id();
    hub.register(id, Transport::Sse, Sink::Stream(tx), parse_param(subs).unwrap(), info("s1"));
    (id, rx)
}

fn frames(rx: &mut mpsc::Receiver<Outgoing>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(Outgoing::Frame(f)) = rx.try_recv() {
        out.push(String::from_utf8(f.json.to_vec()).unwrap());
    }
    out
}

#[test]
fn publishes_to_matching_connections_only() {
    let hub = hub();
    let (_, mut alice) = stream(&hub, r#"[{"eventType":"greeting","oneOf":[{"name":"alice"}]}]"#, 8);
    let (_, mut all) = stream(&hub, r#"[{"eventType":"greeting"}]"#, 8);
    assert_eq!(hub.publish(&event("greeting", "bob")), 1);
    assert_eq!(hub.publish(&event("greeting", "alice")), 2);
    assert_eq!(hub.publish(&event("other", "alice")), 0);
    assert_eq!(frames(&mut alice).len(), 1);
    assert_eq!(frames(&mut all).len(), 2);
}

#[test]
fn full_outbox_drops_and_counts() {
    let hub = hub();
    let (_, _rx) = stream(&hub, r#"[{"eventType":"greeting"}]"#, 1);
    hub.publish(&event("greeting", "a"));
    hub.publish(&event("greeting", "b"));
    assert_eq!(hub.stats.frames_dropped.load(Ordering::Relaxed), 1);
}

#[test]
fn set_subscriptions_replaces_and_emits_subscriptions_set() {
    let hub = hub();
    let (id, mut rx) = stream(&hub, r#"[{"eventType":"greeting"}]"#, 8);
    hub.set_subscriptions(id, parse_param(r#"[{"eventType":"other"}]"#).unwrap()).unwrap();
    assert_eq!(hub.publish(&event("greeting", "a")), 0);
    assert_eq!(hub.publish(&event("other", "a")), 1);
    let got = frames(&mut rx);
    assert!(got[0].contains(r#""data":[{"eventType":"other","oneOf":[]}]"#), "{}", got[0]);
    hub.unregister(id);
    assert_eq!(hub.set_subscriptions(id, vec![]), Err(Gone));
    assert_eq!(hub.subscription_rows(), 0);
}

#[tokio::test]
async fn kill_session_closes_every_connection_of_it() {
    let hub = hub();
    let (a, mut rx_a) = stream(&hub, "", 8);
    let (_b, mut rx_b) = stream(&hub, "", 8);
    let (tx, mut other) = mpsc::channel(8);
    hub.register(hub.new_id(), Transport::Ws, Sink::Stream(tx), vec![], info("s2"));
    assert_eq!(hub.kill_session("s1"), 2);
    assert!(matches!(rx_a.try_recv(), Ok(Outgoing::Close(CloseReason::SessionKilled))));
    assert!(matches!(rx_b.try_recv(), Ok(Outgoing::Close(CloseReason::SessionKilled))));
    assert!(other.try_recv().is_err());
    hub.unregister(a);
    assert_eq!(hub.kill_session("s1"), 1);
}

#[test]
fn presence_lists_users_sessions_and_connections() {
    let hub = hub();
    let (_a, _ra) = stream(&hub, "", 8);
    let (_b, _rb) = stream(&hub, "", 8);
    assert_eq!(hub.users(), vec![("user-of-s1".to_string(), 1, 2)]);
    let conns = hub.connections_where(|_, sessions| sessions.iter().any(|s| &**s == "s1"));
    assert_eq!(conns.len(), 2);
    assert_eq!(conns[0].transport, "sse");
}
