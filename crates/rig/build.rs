//! Stamps the binary with its git commit and build date (`rig --version`,
//! `rig_build_info`). Without git (a source tarball, a Docker build without
//! `.git`) the commit is `RIG_GIT_COMMIT` or `unknown`; `SOURCE_DATE_EPOCH`
//! fixes the date for reproducible builds.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=RIG_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    // Rebuild the stamp when HEAD moves (the files git reads for it).
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        // Only files that exist: a missing one would rerun this on every build.
        let refs = git(&["symbolic-ref", "-q", "HEAD"]).map(|r| format!("{dir}/{r}"));
        for file in [Some(format!("{dir}/HEAD")), refs, Some(format!("{dir}/packed-refs"))].into_iter().flatten() {
            if std::path::Path::new(&file).exists() {
                println!("cargo:rerun-if-changed={file}");
            }
        }
    }
    let commit = std::env::var("RIG_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    println!("cargo:rustc-env=RIG_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=RIG_BUILD_DATE={}", date(secs / 86_400));
}

/// `YYYY-MM-DD` of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
fn date(days: u64) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
