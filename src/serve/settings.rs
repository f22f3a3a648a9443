//! The validated settings of the HTTP server, compiled from `[http]` (and the environment, for
//! the token). Every error names the key and the fix.

use crate::config::{byte_size, duration, HttpConfig};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variable holding the bearer token when `http.token_file` is "".
pub const TOKEN_ENV: &str = "CHATTER_HTTP_TOKEN";
/// The shortest token accepted (a guessable token is no auth).
const MIN_TOKEN_CHARS: usize = 16;

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// What the server needs besides the run's handle.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub listen: String,
    /// Bearer token: auth is on when present.
    pub token: Option<Secret>,
    pub public_routes: Vec<String>,
    /// Requests per second per client (0 = off) and the burst above it.
    pub rate_limit: f64,
    pub rate_burst: u32,
    pub max_body: u64,
    pub max_headers: u64,
    pub request_timeout: Duration,
    pub max_connections: usize,
    pub cors_origins: Vec<String>,
    pub memory_limit: Option<u64>,
    pub secure_cookie: bool,
    /// The lake to answer history from (None: live view only).
    pub lake: Option<PathBuf>,
    /// The run's window parameters (for the API's `params` and evidence baselines).
    pub params: dataflows::Params,
}

impl ServeSettings {
    /// Compiles `[http]`; the token comes from `token_file` or [`TOKEN_ENV`].
    pub fn compile(
        config: &HttpConfig,
        listen: String,
        lake: Option<PathBuf>,
        params: dataflows::Params,
    ) -> Result<ServeSettings> {
        let token = match config.token_file.trim() {
            "" => std::env::var(TOKEN_ENV)
                .ok()
                .filter(|t| !t.trim().is_empty())
                .map(|t| check_token(t.trim(), TOKEN_ENV))
                .transpose()?,
            path => Some(read_token_file(Path::new(path))?),
        };
        if !(config.rate_limit >= 0.0 && config.rate_limit.is_finite()) {
            bail!(
                "http.rate_limit = {} must be 0 (no limit) or a positive number of requests per second",
                config.rate_limit
            );
        }
        if config.rate_limit > 0.0 && config.rate_burst == 0 {
            bail!("http.rate_burst = 0 refuses every request: give at least 1 (default 100)");
        }
        for route in &config.public_routes {
            if !route.starts_with('/') {
                bail!("http.public_routes has {route:?}: give paths like \"/metrics\"");
            }
        }
        for origin in &config.cors_origins {
            if origin == "*" || !(origin.starts_with("http://") || origin.starts_with("https://")) {
                bail!("http.cors_origins has {origin:?}: give origins like \"https://dash.example.com\" (no wildcard)");
            }
        }
        if config.max_connections == 0 {
            bail!("http.max_connections = 0 serves nobody: give at least 1 (default 1024)");
        }
        let memory_limit = match config.memory_limit.trim() {
            "" => None,
            text => Some(byte_size("http.memory_limit", text)?),
        };
        let timeout_ms = duration("http.request_timeout", &config.request_timeout, false)?;
        Ok(ServeSettings {
            listen,
            token,
            public_routes: config.public_routes.clone(),
            rate_limit: config.rate_limit,
            rate_burst: config.rate_burst,
            max_body: byte_size("http.max_body", &config.max_body)?,
            max_headers: byte_size("http.max_headers", &config.max_headers)?,
            request_timeout: Duration::from_millis(timeout_ms as u64),
            max_connections: config.max_connections,
            cors_origins: config.cors_origins.clone(),
            memory_limit,
            secure_cookie: config.secure_cookie,
            lake,
            params,
        })
    }

    /// Settings for tests and tools: the defaults of `[http]`, no token.
    pub fn local(listen: &str) -> ServeSettings {
        let mut settings = ServeSettings::compile(
            &HttpConfig::default(),
            listen.to_string(),
            None,
            dataflows::Params::default(),
        )
        .expect("the defaults are valid");
        settings.token = None;
        settings
    }
}

fn check_token(token: &str, from: &str) -> Result<Secret> {
    if token.chars().count() < MIN_TOKEN_CHARS {
        bail!(
            "the HTTP token from {from} has fewer than {MIN_TOKEN_CHARS} characters: use a long random one (e.g. `openssl rand -hex 32`)"
        );
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("the HTTP token from {from} holds whitespace or control characters: use letters, digits and punctuation");
    }
    Ok(Secret(token.to_string()))
}

/// Reads the token file, refusing one that group or others may read.
fn read_token_file(path: &Path) -> Result<Secret> {
    let from = format!("http.token_file = {:?}", path.display().to_string());
    let shared = crate::config::shared_mode(path)
        .with_context(|| format!("cannot read {from}: give a file holding the token"))?;
    if let Some(mode) = shared {
        bail!("{from} may be read by group or others (mode {mode:o}): chmod 600 it");
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {from}"))?;
    check_token(text.trim(), &from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_must_be_private_and_long() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let config = HttpConfig {
            token_file: path.display().to_string(),
            ..HttpConfig::default()
        };
        let params = dataflows::Params::default();
        let compile = || ServeSettings::compile(&config, String::new(), None, params.clone());
        let error = compile().unwrap_err().to_string();
        assert!(error.contains("chmod 600"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let settings = compile().unwrap();
        assert_eq!(settings.token.unwrap().expose(), "0123456789abcdef0123");
        std::fs::write(&path, "short").unwrap();
        let error = compile().unwrap_err().to_string();
        assert!(error.contains("fewer than 16"), "{error}");
        assert!(!format!("{:?}", Secret("x".into())).contains('x'));
    }

    #[test]
    fn bad_values_name_their_key() {
        let params = dataflows::Params::default();
        let compile = |config: HttpConfig| {
            ServeSettings::compile(&config, String::new(), None, params.clone())
                .unwrap_err()
                .to_string()
        };
        let e = compile(HttpConfig {
            rate_limit: -1.0,
            ..HttpConfig::default()
        });
        assert!(e.contains("http.rate_limit"), "{e}");
        let e = compile(HttpConfig {
            cors_origins: vec!["*".into()],
            ..HttpConfig::default()
        });
        assert!(e.contains("http.cors_origins"), "{e}");
        let e = compile(HttpConfig {
            request_timeout: "soon".into(),
            ..HttpConfig::default()
        });
        assert!(e.contains("http.request_timeout"), "{e}");
        let e = compile(HttpConfig {
            max_body: "big".into(),
            ..HttpConfig::default()
        });
        assert!(e.contains("http.max_body"), "{e}");
    }
}
