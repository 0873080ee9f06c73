//! Request matching (rig-spec 6.4): method, then the endpoint's `path_regex`
//! anchored at both ends, case-insensitive; the first match wins and its
//! `path_replacement` rewrites the path.
//!
//! A [`RouteTable`] is immutable: the store builds a new one on every change
//! and swaps it in, so matching never waits for a writer.

use std::{borrow::Cow, sync::Arc};

use regex::{Captures, Regex, RegexBuilder};

use super::api::{Api, Endpoint};

/// Largest compiled size of one `path_regex`.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// `^` prepended unless present, `$` appended unless present (textually, as RIG).
pub fn compile_path_regex(pattern: &str) -> Result<Regex, String> {
    let body = pattern.strip_prefix('^').unwrap_or(pattern);
    let anchored = if body.ends_with('$') { format!("^{body}") } else { format!("^{body}$") };
    RegexBuilder::new(&anchored).case_insensitive(true).size_limit(REGEX_SIZE_LIMIT).build().map_err(|e| match e {
        regex::Error::Syntax(text) => {
            let last = text.lines().last().unwrap_or_default();
            last.strip_prefix("error: ").unwrap_or(last).to_string()
        }
        regex::Error::CompiledTooBig(limit) => format!("compiles to more than {limit} bytes"),
        other => other.to_string(),
    })
}

/// A `path_replacement` template: literal text and capture references
/// (`\1`, `\12`, `\g{1}`; `\\` is a backslash), as Elixir's `Regex.replace`.
#[derive(Debug, Clone, PartialEq)]
pub struct Replacement(Vec<Part>);

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Group(usize),
}

impl Replacement {
    pub fn parse(template: &str) -> Replacement {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        while let Some(i) = rest.find('\\') {
            text.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let braced = after
                .strip_prefix("g{")
                .and_then(|s| s.split_once('}'))
                .filter(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            let (group, next) = if digits > 0 {
                (after[..digits].parse().ok(), &after[digits..])
            } else if let Some((n, tail)) = braced {
                (n.parse().ok(), tail)
            } else if let Some(tail) = after.strip_prefix('\\') {
                text.push('\\');
                (None, tail)
            } else {
                text.push('\\');
                (None, after)
            };
            if let Some(g) = group {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Group(g));
            }
            rest = next;
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Replacement(parts)
    }

    fn expand(&self, caps: &Captures<'_>, out: &mut String) {
        for part in &self.0 {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Group(g) => out.push_str(caps.get(*g).map_or("", |m| m.as_str())),
            }
        }
    }
}

impl regex::Replacer for &Replacement {
    fn replace_append(&mut self, caps: &Captures<'_>, dst: &mut String) {
        self.expand(caps, dst);
    }
}

/// One endpoint, ready to match.
pub struct Route {
    pub api: Arc<Api>,
    pub endpoint: Arc<Endpoint>,
    /// The endpoint as stored (request logs carry it).
    pub endpoint_json: serde_json::Value,
    regex: Regex,
    replacement: Option<Replacement>,
}

impl Route {
    pub fn new(api: Arc<Api>, endpoint: Endpoint, endpoint_json: serde_json::Value) -> Result<Route, String> {
        let regex = compile_path_regex(&endpoint.path_regex)?;
        let replacement = endpoint.path_replacement.as_deref().filter(|r| !r.is_empty()).map(Replacement::parse);
        Ok(Route { api, endpoint: Arc::new(endpoint), endpoint_json, regex, replacement })
    }
}

/// A matched request: the route and the (rewritten) path to forward.
pub struct Match<'a> {
    pub route: &'a Route,
    pub path: Cow<'a, str>,
}

/// Every routable endpoint, in order: APIs by id, endpoints as listed. Each
/// API's routes are shared with the store, so a change recompiles only its own.
#[derive(Default)]
pub struct RouteTable {
    apis: Vec<Arc<Vec<Route>>>,
}

impl RouteTable {
    pub fn new(apis: Vec<Arc<Vec<Route>>>) -> Self {
        RouteTable { apis }
    }

    pub fn len(&self) -> usize {
        self.apis.iter().map(|a| a.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first route whose method equals `method` and whose regex matches `path`.
    pub fn find<'a>(&'a self, method: &str, path: &'a str) -> Option<Match<'a>> {
        let mut candidates = self.apis.iter().flat_map(|a| a.iter()).filter(|r| r.endpoint.method == method && r.regex.is_match(path));
        let route = candidates.next()?;
        if candidates.next().is_some() {
            tracing::warn!(method, path, "Several API endpoints match; the first one is used.");
        }
        let path = match &route.replacement {
            Some(r) => route.regex.replace_all(path, r),
            None => Cow::Borrowed(path),
        };
        Some(Match { route, path })
    }
}

/// The routes of a stored (validated, defaulted) definition, in endpoint order.
pub fn routes(def: &serde_json::Map<String, serde_json::Value>) -> Result<Vec<Route>, String> {
    let (api, endpoints) = super::api::endpoints(def)?;
    endpoints.map(|e| e.and_then(|(endpoint, json)| Route::new(api.clone(), endpoint, json.clone()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(regex: &str, replacement: &str, path: &str) -> String {
        let re = compile_path_regex(regex).unwrap();
        re.replace_all(path, &Replacement::parse(replacement)).into_owned()
    }

    #[test]
    fn anchors_and_ignores_case() {
        let re = compile_path_regex("/myapi/books").unwrap();
        assert!(re.is_match("/MyApi/Books"));
        assert!(!re.is_match("/myapi/books/1"));
        assert!(!re.is_match("/x/myapi/books"));
        assert!(compile_path_regex("^/a/.+$").unwrap().is_match("/a/b"));
        assert!(!compile_path_regex("todos/1").unwrap().is_match("/todos/1"), "no leading slash never matches (RIG)");
    }

    #[test]
    fn rewrites_with_capture_references() {
        assert_eq!(rewrite("/foo/([^/]+)/bar/([^/]+)", r"/bar/\1/foo/\2", "/foo/1/bar/2"), "/bar/1/foo/2");
        assert_eq!(rewrite("/a/(.+)", r"/b/\g{1}/\\/\9", "/a/x"), r"/b/x/\/");
        assert_eq!(rewrite("/a/(.+)", r"/b\", "/a/x"), r"/b\");
        assert_eq!(rewrite("/a/(.+)", "$1", "/a/x"), "$1", "no $-expansion");
    }
}
