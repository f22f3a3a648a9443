//! The error of the binary edge: what went wrong, and the exit code that says whose it is to
//! fix. Libraries below return `anyhow` errors with context (or their own enums); the command
//! line and the runtime decide, where they know, which of these two an error is.

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's to fix: a bad argument, config value, input path or lake (exit 2).
    #[error("{0:#}")]
    Usage(anyhow::Error),
    /// The run failed: a broken input, a full disk, a broker that never answered (exit 1).
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
    /// SIGTERM / SIGINT before the first record was read (while connecting to the brokers or
    /// joining the cluster): nothing was written, and that is a clean stop (exit 0).
    #[error("{0}")]
    Stopped(String),
}

impl Error {
    /// 2 for usage errors, 1 for failures, 0 for a stop before the start (0 is also success,
    /// and 130 a second SIGINT/SIGTERM).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Failed(_) => 1,
            Error::Stopped(_) => 0,
        }
    }
}

/// Marks an error as the user's to fix.
pub fn usage<T>(result: anyhow::Result<T>) -> Result<T, Error> {
    result.map_err(Error::Usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_2_and_failures_1_with_their_whole_chain() {
        let usage = usage::<()>(Err(anyhow::anyhow!("inner").context("--workers 0"))).unwrap_err();
        assert_eq!(usage.exit_code(), 2);
        assert_eq!(usage.to_string(), "--workers 0: inner");
        let failed: Error = anyhow::anyhow!("disk full").into();
        assert_eq!(failed.exit_code(), 1);
    }
}
