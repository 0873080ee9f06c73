use super::*;
use bytes::Bytes;
use rig_core::subscription::parse_param;

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

fn stream(hub: &Hub, subs: &str, cap: usize) -> (ConnId, Arc<Outbox>) {
    stream_as(hub, subs, cap, "s1")
}

fn stream_as(hub: &Hub, subs: &str, cap: usize, session: &str) -> (ConnId, Arc<Outbox>) {
    let outbox = Arc::new(Outbox::new(cap, SlowPolicy::DropOldest));
    let id = hub.new_id();
    hub.register(id, Transport::Sse, Sink::Stream(outbox.clone()), parse_param(subs).unwrap(), info(session));
    (id, outbox)
}

fn items(o: &Outbox) -> Vec<Item> {
    let mut out = Vec::new();
    futures_util::FutureExt::now_or_never(o.recv(&mut out));
    out
}

fn frames(o: &Outbox) -> Vec<String> {
    items(o)
        .into_iter()
        .filter_map(|i| match i {
            Item::Frame(f) => Some(String::from_utf8(f.json.to_vec()).unwrap()),
            _ => None,
        })
        .collect()
}

#[test]
fn publishes_to_matching_connections_only() {
    let hub = hub();
    let (_, alice) = stream(&hub, r#"[{"eventType":"greeting","oneOf":[{"name":"alice"}]}]"#, 8);
    let (_, all) = stream(&hub, r#"[{"eventType":"greeting"}]"#, 8);
    assert_eq!(hub.publish(event("greeting", "bob")), 1);
    assert_eq!(hub.publish(event("greeting", "alice")), 2);
    assert_eq!(hub.publish(event("other", "alice")), 0);
    assert_eq!(frames(&alice).len(), 1);
    assert_eq!(frames(&all).len(), 2);
}

#[test]
fn full_outbox_drops_the_oldest_and_counts() {
    let hub = hub();
    let (_, outbox) = stream(&hub, r#"[{"eventType":"greeting"}]"#, 1);
    hub.publish(event("greeting", "a"));
    hub.publish(event("greeting", "b"));
    assert_eq!(hub.stats.frames_dropped.load(Ordering::Relaxed), 1);
    let got = items(&outbox);
    assert!(matches!(got[0], Item::Missed(1)));
    assert!(matches!(&got[1], Item::Frame(f) if std::str::from_utf8(&f.json).unwrap().contains("\"b\"")));
}

#[test]
fn set_subscriptions_replaces_and_emits_subscriptions_set() {
    let hub = hub();
    let (id, rx) = stream(&hub, r#"[{"eventType":"greeting"}]"#, 8);
    hub.set_subscriptions(id, parse_param(r#"[{"eventType":"other"}]"#).unwrap()).unwrap();
    assert_eq!(hub.publish(event("greeting", "a")), 0);
    assert_eq!(hub.publish(event("other", "a")), 1);
    let got = frames(&rx);
    assert!(got[0].contains(r#""data":[{"eventType":"other","oneOf":[]}]"#), "{}", got[0]);
    hub.unregister(id);
    assert_eq!(hub.set_subscriptions(id, vec![]), Err(Gone));
    assert_eq!(hub.subscription_rows(), 0);
}

#[tokio::test]
async fn kill_session_closes_every_connection_of_it() {
    let hub = hub();
    let (a, rx_a) = stream(&hub, "", 8);
    let (_b, rx_b) = stream(&hub, "", 8);
    let (_, other) = stream_as(&hub, "", 8, "s2");
    assert_eq!(hub.kill_session("s1"), 2);
    assert!(matches!(items(&rx_a)[..], [Item::Close(CloseReason::SessionKilled)]));
    assert!(matches!(items(&rx_b)[..], [Item::Close(CloseReason::SessionKilled)]));
    assert!(items(&other).is_empty());
    hub.unregister(a);
    assert_eq!(hub.kill_session("s1"), 1);
}

#[test]
fn presence_lists_users_sessions_and_connections() {
    let hub = hub();
    let (_a, _ra) = stream(&hub, "", 8);
    let (_b, _rb) = stream(&hub, "", 8);
    assert_eq!(hub.users(), vec![("user-of-s1".to_string(), vec!["s1".to_string()], 2)]);
    let conns = hub.connections_where(|_, sessions| sessions.iter().any(|s| &**s == "s1"));
    assert_eq!(conns.len(), 2);
    assert_eq!(conns[0].transport, "sse");
}

fn resuming(hub: &Hub, subs: &str, cursor: Option<&str>) -> Arc<Outbox> {
    let outbox = Arc::new(Outbox::new(2, SlowPolicy::DropOldest));
    let greet = |head: Option<&str>| vec![Frame::system_with_cursor("greeting.head", None, head)];
    let opening = Opening { greet: &greet, resume_from: cursor };
    hub.open(hub.new_id(), Transport::Sse, Sink::Stream(outbox.clone()), parse_param(subs).unwrap(), info("s"), opening);
    outbox
}

#[test]
fn resuming_replays_matching_missed_events_in_order_then_goes_live() {
    let ex = ExtractorConfig::parse(r#"{"greeting":{"name":{"stable_field_index":0,"event":{"json_pointer":"/data/name"}}}}"#).unwrap();
    let hub = Hub::with_window(ex, Window::new(100, 1 << 20, std::time::Duration::from_secs(60)));
    let id_of = |i: usize| format!("e{i}");
    for i in 0..5 {
        let name = if i % 2 == 0 { "alice" } else { "bob" };
        let json = format!(r#"{{"specversion":"0.2","type":"greeting","id":"{}","data":{{"name":"{name}"}}}}"#, id_of(i));
        hub.publish(CloudEvent::parse(Bytes::from(json)).unwrap());
    }
    let o = resuming(&hub, r#"[{"eventType":"greeting","oneOf":[{"name":"alice"}]}]"#, Some("e0"));
    hub.publish(event("greeting", "alice"));
    let got: Vec<String> =
        frames(&o).iter().map(|j| serde_json::from_str::<Value>(j).unwrap()["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(got[1..], ["e2", "e4", "1"], "greeting, replay beyond the outbox capacity, then live: {got:?}");
    let fresh = resuming(&hub, "[]", None);
    let greeting = match &items(&fresh)[0] {
        Item::Frame(f) => f.sse.clone(),
        _ => panic!(),
    };
    assert!(std::str::from_utf8(&greeting).unwrap().contains("id: 1\n"), "fresh clients get the head as cursor");
    let lost = resuming(&hub, "[]", Some("unknown"));
    assert!(frames(&lost)[1].contains("rig.events_missed"));
}
