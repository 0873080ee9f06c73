//! What this binary is: crate version, git commit and build date, stamped by
//! `build.rs`; shown by `rig --version` and exported as `rig_build_info`.

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_COMMIT: &str = env!("RIG_GIT_COMMIT");
pub const BUILD_DATE: &str = env!("RIG_BUILD_DATE");

/// `rig <version> (commit <commit>, built <date>)`.
pub fn version_line() -> String {
    format!("rig {VERSION} (commit {GIT_COMMIT}, built {BUILD_DATE})")
}
