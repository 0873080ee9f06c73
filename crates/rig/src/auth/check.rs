//! `SUBSCRIPTION_CHECK` / `SUBMISSION_CHECK`: who may subscribe or publish.
//!
//! `NO_CHECK` allows everyone; `JWT_VALIDATION` needs one valid, non-blacklisted
//! bearer token; any other value is the URL of an external authorizer that gets
//! the request body and the caller's `Authorization` and answers 2xx to allow.

use axum::http::StatusCode;

/// How a request is authorized.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckMode {
    NoCheck,
    JwtValidation,
    /// POST the request to this URL (kept as written: RIG 3.0 lower-cased it, a bug).
    External(String),
}

/// The verdict, with the status a denied client gets where RIG answers 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// 401 when the authorizer said 401, else 403.
    Deny(StatusCode),
}

/// What an external authorizer is sent.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub body: String,
    pub content_type: String,
    /// All `Authorization` values of the request, joined with `, `.
    pub authorization: Option<String>,
}

impl CheckMode {
    /// `NO_CHECK`/`JWT_VALIDATION` case-insensitively, or an http(s) URL.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "" | "no_check" => Ok(CheckMode::NoCheck),
            "jwt_validation" => Ok(CheckMode::JwtValidation),
            lower if lower.starts_with("http://") || lower.starts_with("https://") => {
                reqwest::Url::parse(s).map_err(|e| format!("not a valid URL: {e}"))?;
                Ok(CheckMode::External(s.to_string()))
            }
            _ => Err("expected NO_CHECK, JWT_VALIDATION or an http(s) URL of an authorization service".into()),
        }
    }
}

/// Asks an external authorizer; errors and timeouts deny.
pub async fn ask(http: &reqwest::Client, url: &str, req: CheckRequest) -> Decision {
    let mut r = http.post(url).header("content-type", req.content_type).body(req.body);
    if let Some(a) = req.authorization {
        r = r.header("authorization", a);
    }
    match r.send().await {
        Ok(resp) if resp.status().is_success() => Decision::Allow,
        Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED => Decision::Deny(StatusCode::UNAUTHORIZED),
        Ok(resp) => {
            if resp.status() != StatusCode::FORBIDDEN {
                tracing::warn!(%url, status = %resp.status(), "Authorization check answered neither 2xx nor 401/403; denying.");
            }
            Decision::Deny(StatusCode::FORBIDDEN)
        }
        Err(error) => {
            tracing::warn!(%url, %error, "Authorization check failed; denying.");
            Decision::Deny(StatusCode::FORBIDDEN)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes_and_keeps_url_case() {
        assert_eq!(CheckMode::parse("NO_CHECK"), Ok(CheckMode::NoCheck));
        assert_eq!(CheckMode::parse("jwt_validation"), Ok(CheckMode::JwtValidation));
        assert_eq!(CheckMode::parse("http://Auth.local/Check"), Ok(CheckMode::External("http://Auth.local/Check".into())));
        assert!(CheckMode::parse("maybe").is_err());
    }
}
