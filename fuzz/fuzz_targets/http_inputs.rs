//! What clients put in headers, cookies and paths: Authorization values, JWTs,
//! connection tokens and the long-polling cursor cookie.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rig::{
    auth::jwt::{bearer_tokens, JwtConfig},
    token::TokenCodec,
    transport::cookie,
};

fuzz_target!(|data: &str| {
    let hs = JwtConfig::new("HS256", "secret", "/jti").unwrap();
    for token in bearer_tokens([data]) {
        let _ = hs.verify(token);
    }
    let _ = hs.verify(data);
    let codec = TokenCodec::new(Some("cookie"));
    let _ = codec.open(data);
    let id = cookie::decode_event_id(Some(data));
    assert_eq!(cookie::decode_event_id(Some(&cookie::encode_event_id(&id))), id);
});
