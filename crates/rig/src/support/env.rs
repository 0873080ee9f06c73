//! The toolkit every module's settings are parsed with: where values come
//! from ([`Strings`]), a [`Reader`] that falls back to the documented default
//! and collects every bad value, and RIG's value syntaxes (lists, booleans).

use std::{collections::HashMap, time::Duration};

use super::{legacy, vars::default_of};

/// Where configuration values come from: the process environment or, in tests, a map.
pub trait Strings {
    fn get(&self, name: &str) -> Option<String>;
    /// Every variable set (for the warnings about unknown names).
    fn names(&self) -> Vec<String>;
}

/// The process environment.
pub struct Env;

impl Strings for Env {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn names(&self) -> Vec<String> {
        std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()).collect()
    }
}

impl Strings for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }

    fn names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }
}

/// Warnings about variables of RIG 1.x/2.x and unknown `RIG_*` names (see [`legacy`]).
pub fn legacy_warnings(strings: &impl Strings) -> Vec<String> {
    legacy::warnings(&|n| strings.get(n), strings.names())
}

/// One bad variable: its name, its value and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{name}={value:?}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

/// Reads variables, falling back to the documented default, and collects errors.
/// A bad value is recorded and replaced by its default so parsing can go on and
/// report every bad variable at once.
pub(crate) struct Reader<'a, S: Strings> {
    strings: &'a S,
    errors: Vec<ConfigError>,
}

impl<'a, S: Strings> Reader<'a, S> {
    pub(crate) fn new(strings: &'a S) -> Self {
        Reader { strings, errors: Vec::new() }
    }

    /// `value` when every variable was good, else every bad one.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, Vec<ConfigError>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }

    pub(crate) fn raw(&self, name: &'static str) -> String {
        legacy::lookup(&|n| self.strings.get(n), name).unwrap_or_else(|| default_of(name).to_string())
    }

    pub(crate) fn parse<T>(&mut self, name: &'static str, f: impl Fn(&str) -> Result<T, String>) -> T {
        let value = self.raw(name);
        f(value.trim()).unwrap_or_else(|reason| {
            self.errors.push(ConfigError { name, value, reason });
            f(default_of(name)).unwrap_or_else(|e| panic!("default of {name} does not parse: {e}"))
        })
    }

    /// Records a bad value found by a check that has no default to fall back on.
    pub(crate) fn fail(&mut self, name: &'static str, value: String, reason: String) {
        self.errors.push(ConfigError { name, value, reason });
    }

    pub(crate) fn num<T: std::str::FromStr>(&mut self, name: &'static str) -> T {
        self.parse(name, |s| s.parse().map_err(|_| "expected a non-negative integer".to_string()))
    }

    pub(crate) fn millis(&mut self, name: &'static str) -> Duration {
        Duration::from_millis(self.num(name))
    }
}

/// A comma-separated list, entries trimmed, empty entries dropped (as RIG's `:list`).
pub(crate) fn list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|e| !e.is_empty()).map(String::from).collect()
}

/// RIG's booleans: true/false, 1/0, yes/no (any case); empty is false.
pub(crate) fn boolean(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        _ => Err("expected true/false, 1/0 or yes/no".into()),
    }
}

/// A number above zero.
pub(crate) fn positive<T: std::str::FromStr + PartialOrd + Default>(s: &str) -> Result<T, String> {
    match s.parse::<T>() {
        Ok(v) if v > T::default() => Ok(v),
        _ => Err("expected a positive integer".into()),
    }
}
