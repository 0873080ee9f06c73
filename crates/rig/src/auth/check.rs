//! `SUBSCRIPTION_CHECK` / `SUBMISSION_CHECK`: who may subscribe or publish.

use super::jwt::JwtConfig;

/// How a request is authorized.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckMode {
    /// Everyone (`NO_CHECK`, the default).
    NoCheck,
    /// At least one valid bearer token (`JWT_VALIDATION`).
    JwtValidation,
}

impl CheckMode {
    /// Case-insensitive, as RIG. External check URLs are not supported yet and
    /// are refused at start rather than silently allowing everything.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "" | "no_check" => Ok(CheckMode::NoCheck),
            "jwt_validation" => Ok(CheckMode::JwtValidation),
            _ => Err("expected NO_CHECK or JWT_VALIDATION (external check URLs are not supported yet)".into()),
        }
    }

    /// Decides for a request carrying `tokens` (raw JWTs).
    pub fn allows(&self, jwt: &JwtConfig, tokens: &[&str]) -> bool {
        match self {
            CheckMode::NoCheck => true,
            CheckMode::JwtValidation => tokens.iter().any(|t| jwt.verify(t).is_ok()),
        }
    }
}
