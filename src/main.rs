//! The `chatter` binary: parse arguments, run, exit with a meaningful code.

fn main() -> std::process::ExitCode {
    chatter::cli::main()
}
