//! The `CORS` variable: `*` or a comma-separated list of origins, and which
//! origin a response names for a request (the public router applies it, see
//! `http::cors`).

use axum::http::HeaderValue;

/// The parsed `CORS` variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Cors {
    /// The raw value: what handlers set, and what marks an answer as the gateway's.
    own: HeaderValue,
    /// `None` for `*`.
    origins: Option<Vec<HeaderValue>>,
}

impl Cors {
    pub fn parse(s: &str) -> Result<Cors, String> {
        let own = HeaderValue::from_str(s).map_err(|_| "not a valid header value".to_string())?;
        if s.trim() == "*" {
            return Ok(Cors { own, origins: None });
        }
        let origins = s
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| HeaderValue::from_str(o.trim_end_matches('/')).map_err(|_| format!("{o:?} is not a valid origin")))
            .collect::<Result<Vec<_>, _>>()?;
        if origins.is_empty() {
            return Err("expected * or a comma-separated list of origins".into());
        }
        Ok(Cors { own, origins: Some(origins) })
    }

    /// The `access-control-allow-origin` handlers set on the gateway's own answers.
    pub fn own(&self) -> HeaderValue {
        self.own.clone()
    }

    /// `*`: any origin, never with credentials.
    pub fn is_any(&self) -> bool {
        self.origins.is_none()
    }

    /// `access-control-allow-origin` for a request from `origin`.
    pub fn allow(&self, origin: Option<&HeaderValue>) -> HeaderValue {
        match &self.origins {
            None => HeaderValue::from_static("*"),
            Some(list) => {
                let listed = origin.and_then(|o| list.iter().find(|l| l.as_bytes().eq_ignore_ascii_case(o.as_bytes())));
                listed.unwrap_or(&list[0]).clone()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_stays_star_and_a_list_echoes_only_its_own() {
        let evil = HeaderValue::from_static("https://evil");
        assert_eq!(Cors::parse("*").unwrap().allow(Some(&evil)), HeaderValue::from_static("*"));
        let list = Cors::parse("https://a.example, https://b.example/").unwrap();
        let b = HeaderValue::from_static("https://b.example");
        assert_eq!(list.allow(Some(&b)), b);
        let first = HeaderValue::from_static("https://a.example");
        assert_eq!(list.allow(Some(&evil)), first);
        assert_eq!(list.allow(None), first);
        assert!(Cors::parse(" , ").is_err());
    }
}
