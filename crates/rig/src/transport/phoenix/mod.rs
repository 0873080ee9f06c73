//! RIG 1.x's Phoenix socket at `/socket` (phoenix.js): the wire protocol
//! ([`message`]), a socket's channel state ([`socket`]) and the WebSocket
//! transport ([`ws`]) and RIG 1.x's one-way SSE transport ([`sse`]). Who may connect and join is `session::channel`'s;
//! messages reach channels through the hub like every other event.

pub mod longpoll;
pub mod message;
pub mod socket;
pub mod sse;
pub mod ws;

/// The socket parameters phoenix.js sends: `token` (RIG 1.x's JWT) and `vsn`.
#[derive(Debug, Default)]
pub struct Params {
    pub token: Option<String>,
    pub vsn: message::Vsn,
}

impl Params {
    pub fn from_query(query: Option<&str>) -> Self {
        let mut token = None;
        let mut vsn = None;
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*k {
                "token" => token = Some(v.into_owned()),
                "vsn" => vsn = Some(v.into_owned()),
                _ => {}
            }
        }
        Params { token, vsn: message::Vsn::parse(vsn.as_deref()) }
    }
}
