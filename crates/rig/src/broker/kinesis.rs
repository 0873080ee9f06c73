//! The Kinesis SDK client (aws-sdk-kinesis on rustls/ring) for the event
//! source and the proxy's `kinesis` target.

use aws_sdk_kinesis::Client;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

/// A Kinesis client for `region` (and a custom `endpoint`), credentials from
/// the standard AWS chain; also used by the proxy's `kinesis` target.
pub async fn client(region: &str, endpoint: Option<&str>) -> Client {
    // rustls with ring, as the rest of the process (see Cargo.toml).
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let mut loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http).region(aws_config::Region::new(region.to_string()));
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    Client::new(&loader.load().await)
}

/// The full chain of an SDK error (its top level is only "service error").
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}
