//! The `chatter` binary: parse arguments, run, exit with a meaningful code.

/// jemalloc: the pipeline allocates and frees many small strings per record. glibc's malloc
/// spent ~15% of a profile consolidating and unlinking chunks, and mimalloc ~20% re-zeroing
/// pages it had returned to the OS too eagerly; jemalloc's decay avoids both (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    chatter::cli::main()
}
