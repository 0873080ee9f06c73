//! Authentication settings (JWT key, JWKS, privileged users, subscription and
//! submission checks), parsed here so `auth` needs nothing of the aggregate config.

use std::time::Duration;

use super::{
    check::CheckMode,
    jwt::JwtConfig,
    privilege::{as_pointer, Privileges},
};
use crate::support::env::{list, positive, Reader, Strings};

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub subscription_check: CheckMode,
    pub submission_check: CheckMode,
    pub jwt: JwtConfig,
    pub check_timeout: Duration,
    pub jwks_url: Option<String>,
    pub jwks_refresh: Duration,
    pub jwks_min_refetch: Duration,
    pub privileges: Privileges,
}

/// `JWT_ALG`, `JWT_SECRET_KEY`, `JWT_SESSION_FIELD` (read first, so a bad key is reported first).
pub(crate) fn jwt<S: Strings>(r: &mut Reader<'_, S>) -> JwtConfig {
    let (alg, key, field) = (r.raw("JWT_ALG"), r.raw("JWT_SECRET_KEY"), r.raw("JWT_SESSION_FIELD"));
    JwtConfig::new(alg.trim(), &key, field.trim()).unwrap_or_else(|reason| {
        r.fail("JWT_ALG", alg, reason);
        JwtConfig::new("HS256", "", "/jti").expect("the defaults are valid")
    })
}

/// The rest of the settings, with `jwt` from [`jwt`].
pub(crate) fn parse<S: Strings>(r: &mut Reader<'_, S>, jwt: JwtConfig) -> AuthConfig {
    AuthConfig {
        subscription_check: r.parse("SUBSCRIPTION_CHECK", CheckMode::parse),
        submission_check: r.parse("SUBMISSION_CHECK", CheckMode::parse),
        jwt,
        check_timeout: Duration::from_millis(r.parse("RIG_CHECK_TIMEOUT_MS", positive)),
        jwks_url: r.parse("JWT_JWKS_URL", |s| match s {
            "" => Ok(None),
            url => reqwest::Url::parse(url).map(|_| Some(url.to_string())).map_err(|e| format!("not a valid URL: {e}")),
        }),
        jwks_refresh: Duration::from_millis(r.parse("JWT_JWKS_REFRESH_MS", positive)),
        jwks_min_refetch: r.millis("JWT_JWKS_MIN_REFETCH_MS"),
        privileges: Privileges {
            user_field: Some(as_pointer(r.raw("JWT_USER_FIELD").trim())).filter(|p| !p.is_empty()),
            roles_field: as_pointer(r.raw("JWT_ROLES_FIELD").trim()),
            privileged_roles: list(&r.raw("PRIVILEGED_ROLES")),
        },
    }
}
