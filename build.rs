//! Stamps the binary with its git revision and build date, for `chatter --version`.
//!
//! The revision is `CHATTER_GIT_REV` when set (the Docker build passes it, as the image has no
//! `.git`), else `git rev-parse --short=12 HEAD`, else `unknown`. (No `-dirty` mark: it
//! would need a rebuild on every change of the index.) The date is the UTC day of `SOURCE_DATE_EPOCH` when set (reproducible builds),
//! else of the build.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CHATTER_GIT_REV");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    for path in [".git/HEAD", ".git/refs", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let revision = std::env::var("CHATTER_GIT_REV")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".to_string());
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    let (year, month, day) = calendar::civil_from_days(seconds.div_euclid(86_400));
    println!("cargo:rustc-env=CHATTER_GIT_REV={revision}");
    println!("cargo:rustc-env=CHATTER_BUILD_DATE={year:04}-{month:02}-{day:02}");
}

fn git_revision() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    let revision = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !revision.is_empty()).then_some(revision)
}
