//! `--name value` arguments (repeatable) and `--flag` switches.

use std::str::FromStr;

pub struct Args {
    pairs: Vec<(String, Option<String>)>,
}

impl Args {
    pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut pairs: Vec<(String, Option<String>)> = Vec::new();
        let mut it = argv.into_iter().peekable();
        while let Some(a) = it.next() {
            let name = a.strip_prefix("--").ok_or_else(|| format!("unexpected argument {a:?}"))?;
            let value = match it.peek() {
                Some(v) if !v.starts_with("--") => it.next(),
                _ => None,
            };
            pairs.push((name.to_owned(), value));
        }
        Ok(Args { pairs })
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs.iter().filter(|(n, _)| n == name).filter_map(|(_, v)| v.clone()).collect()
    }

    pub fn str(&self, name: &str) -> Option<String> {
        self.all(name).pop()
    }

    pub fn flag(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.str(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{name}: cannot parse {v:?}")),
        }
    }

    pub fn req(&self, name: &str) -> Result<String, String> {
        self.str(name).ok_or_else(|| format!("--{name} is required"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_values_flags_and_defaults() {
        let a = Args::parse(["--url", "a", "--url", "b", "--require-complete", "--conns", "10"].map(String::from)).unwrap();
        assert_eq!(a.all("url"), vec!["a", "b"]);
        assert!(a.flag("require-complete"));
        assert_eq!(a.get("conns", 0usize).unwrap(), 10);
        assert_eq!(a.get("rate", 5.0f64).unwrap(), 5.0);
        assert!(a.get::<u32>("url", 0).is_err());
        assert!(Args::parse(["x".to_string()]).is_err());
    }
}
