//! The ground floor: small helpers that import nothing else of the crate, so
//! every module may use them.
//!
//! - [`build`]: version, commit and build date of this binary.
//! - [`env`]: reading and checking environment variables (the parsing toolkit).
//! - [`legacy`]: RIG 1.x/2.x variables that are renamed or gone.
//! - [`vars`]: the table of every variable, its default and its documentation.
//! - [`sync`]: the one lock policy (a poisoned lock is taken over, not fatal).
//! - [`ids`]: random bytes, numbers and UUIDs.
//! - [`throttle`]: at most one repeated warning per period.
//! - [`time`]: RFC 3339 timestamps.
//! - [`backoff`]: the reconnect delay of every broker and peer loop.
//! - [`io`]: socket wrappers' write pass-through.
//! - [`response`]: JSON error bodies and JSON responses.

pub mod backoff;
pub mod build;
pub mod env;
pub mod ids;
pub mod io;
pub mod legacy;
pub mod response;
pub mod sync;
pub mod throttle;
pub mod time;
pub mod vars;
