//! Command-line interface: `chatter run | gen | check`. Argument errors exit 2 with clap's
//! message; config and input errors exit 2 with a one-line message; runtime failures exit 1.

use crate::config::Config;
use crate::gen::{self, GenConfig};
use crate::runtime::{self, RunSettings};
use crate::sink::{open_output, DeadLetters};
use crate::source::InputSpec;
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// chatter: streaming comment intelligence. Reads social-media comments and an entity
/// catalog, incrementally maintains entity mentions, sentiment, per-window velocity and
/// baselines, and emits velocity alerts (fired / updated / retracted) as JSON Lines.
#[derive(Debug, Parser)]
#[command(name = "chatter", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline. With no input and no config: the bundled demo (a generated sample).
    Run(RunArgs),
    /// Write a deterministic synthetic load: DIR/comments.jsonl and DIR/entities.jsonl.
    Gen(GenArgs),
    /// Validate a config file and print what it compiles to.
    Check(CheckArgs),
    /// Copy a lake's current snapshot to DEST (safe while chatter runs) and verify it.
    Backup(BackupArgs),
    /// Verify a backup and install it as a lake's newest snapshot (the next run resumes from it).
    Restore(RestoreArgs),
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The lake to back up (the directory given to `chatter run --lake`).
    #[arg(long, value_name = "DIR")]
    pub lake: PathBuf,
    /// Destination: a new or empty directory; it becomes a lake holding the copy.
    #[arg(long, value_name = "DEST")]
    pub to: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A directory written by `chatter backup`.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The lake to install it into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub lake: PathBuf,
    /// Install even when the lake already has snapshots (they stay; the backup becomes newest).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Pipeline config (TOML; see chatter.example.toml). Command-line options override it.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Comment input: JSON Lines, plain or gzip; repeat for several files, read in order;
    /// "-" is stdin.
    #[arg(long = "input", short = 'i', value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// Entity catalog, JSON Lines (plain or gzip).
    #[arg(long, short = 'e', value_name = "FILE")]
    pub entities: Option<PathBuf>,
    /// Timely worker threads (default: the number of CPU cores).
    #[arg(long, short = 'w', value_name = "N")]
    pub workers: Option<usize>,
    /// Where alert events go (JSON Lines; "-" = stdout). Default: output.alerts, or stdout.
    #[arg(long, value_name = "FILE")]
    pub alerts_out: Option<PathBuf>,
    /// Where dead letters go (JSON Lines). Default: output.dead_letters, or
    /// ./dead_letters.jsonl.
    #[arg(long, value_name = "FILE")]
    pub dead_letters_out: Option<PathBuf>,
    /// Input lines per epoch (the unit of progress; results do not depend on it beyond the
    /// watermark's granularity).
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    pub batch_size: u64,
    /// Write the final `entity_windows` rows (JSON Lines) to this file.
    #[arg(long, value_name = "FILE")]
    pub windows_out: Option<PathBuf>,
    /// The lake: Parquet snapshots that are also the checkpoint. The run resumes from the
    /// newest complete snapshot in it. Default: output.lake, or ./lake.
    #[arg(long, value_name = "DIR")]
    pub lake: Option<PathBuf>,
    /// Write no lake (and resume from none).
    #[arg(long, conflicts_with = "lake")]
    pub no_lake: bool,
    /// Processing time between snapshots, like "60s" or "5m" (default: output.snapshot_interval,
    /// 60s). Snapshots are also taken at the end of input and on SIGTERM/SIGINT.
    #[arg(long, value_name = "DURATION")]
    pub snapshot_interval: Option<String>,
    /// Snapshots to keep (default: output.keep_snapshots, 10).
    #[arg(long, value_name = "N")]
    pub keep_snapshots: Option<usize>,
    /// Write the run summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// No progress bar even on a terminal.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Number of comments (inserts; edits, deletes and bad lines come on top).
    #[arg(long, default_value_t = 10_000)]
    pub comments: u64,
    /// Seed: the same seed and options give byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Directory to write comments.jsonl and entities.jsonl into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Catalog size.
    #[arg(long, default_value_t = 200)]
    pub entities: usize,
    /// Injected bursts (each makes an alert fire with the default rule).
    #[arg(long, default_value_t = 3)]
    pub bursts: usize,
    /// Mean background comments per minute of event time.
    #[arg(long, default_value_t = 60.0)]
    pub comments_per_minute: f64,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The config file to validate.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Print the effective config (every key, defaults filled in).
    #[arg(long)]
    pub print: bool,
}

/// An error that is the user's to fix (exit 2), as opposed to a failure (exit 1).
#[derive(Debug)]
pub struct UsageError(pub anyhow::Error);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| anyhow::Error::new(UsageError(e)))
}

/// Parses arguments, runs, and maps errors to exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CHATTER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("chatter: error: {error:#}");
            if error.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => run(args),
        Command::Gen(args) => generate(args),
        Command::Check(args) => check(args),
        Command::Backup(args) => {
            let manifest = crate::lake::backup::backup(&args.lake, &args.to)?;
            eprintln!(
                "chatter: backed up snapshot {} of {} ({} files, {} bytes, checksums verified) to {}",
                manifest.id,
                args.lake.display(),
                manifest.files.len() + 1,
                manifest.files.iter().map(|f| f.bytes).sum::<u64>(),
                args.to.display()
            );
            Ok(())
        }
        Command::Restore(args) => {
            let manifest = crate::lake::backup::restore(&args.from, &args.lake, args.force)?;
            eprintln!(
                "chatter: installed snapshot {} (frontier {}, watermark {}) from {} into {}: the next `chatter run --lake {}` resumes from it",
                manifest.id,
                manifest.frontier,
                manifest.watermark,
                args.from.display(),
                args.lake.display(),
                args.lake.display()
            );
            Ok(())
        }
    }
}

fn generate(args: GenArgs) -> Result<()> {
    let config = GenConfig {
        comments: args.comments,
        seed: args.seed,
        entities: args.entities,
        bursts: args.bursts,
        comments_per_minute: args.comments_per_minute,
        ..GenConfig::default()
    };
    if args.entities == 0 {
        return usage(Err(anyhow::anyhow!(
            "--entities 0: the catalog needs at least 1 entity"
        )));
    }
    if !(args.comments_per_minute.is_finite() && args.comments_per_minute > 0.0) {
        return usage(Err(anyhow::anyhow!(
            "--comments-per-minute {} must be a positive number",
            args.comments_per_minute
        )));
    }
    let summary = gen::write_dir(&config, &args.out)
        .with_context(|| format!("cannot write the generated files to {}", args.out.display()))?;
    eprintln!(
        "chatter: wrote {} and {}: {} comments, {} edits, {} deletes, {} late, {} malformed, {} bursts",
        args.out.join("comments.jsonl").display(),
        args.out.join("entities.jsonl").display(),
        summary.comments,
        summary.edits,
        summary.deletes,
        summary.late,
        summary.malformed,
        summary.bursts.len()
    );
    Ok(())
}

fn check(args: CheckArgs) -> Result<()> {
    let config = usage(Config::load(&args.config))?;
    let params = usage(
        config
            .params()
            .with_context(|| format!("config {}", args.config.display())),
    )?;
    for input in &config.input.comments {
        usage(InputSpec::parse(input).check("input.comments"))?;
    }
    if let Some(entities) = &config.input.entities {
        usage(InputSpec::File(entities.clone()).check("input.entities"))?;
    }
    if args.print {
        print!(
            "{}",
            toml::to_string_pretty(&config).context("cannot print the config")?
        );
    }
    eprintln!(
        "chatter: {} is valid: {} s windows, baseline of {}, lateness {} s, retention {} s, {} input file(s)",
        args.config.display(),
        params.window_ms / 1000,
        params.baseline_windows,
        params.allowed_lateness_ms / 1000,
        params.retention_ms / 1000,
        config.input.comments.len()
    );
    Ok(())
}

fn run(args: RunArgs) -> Result<()> {
    let config = match &args.config {
        Some(path) => usage(Config::load(path))?,
        None => Config::default(),
    };
    let params = usage(config.params())?;
    let mut inputs: Vec<PathBuf> = if args.inputs.is_empty() {
        config.input.comments.clone()
    } else {
        args.inputs.clone()
    };
    let mut entities = args.entities.clone().or(config.input.entities.clone());
    let mut demo_dir = None;
    if inputs.is_empty() {
        // A fixed place: the demo is deterministic, so a second run finds the same input and
        // resumes from the lake (there is nothing new to read).
        let dir = std::env::temp_dir().join("chatter-demo");
        let demo = GenConfig {
            comments: 20_000,
            seed: 42,
            ..GenConfig::default()
        };
        eprintln!(
            "chatter: no input given: running the bundled demo ({} synthetic comments with {} injected bursts, generated into {}). Try `chatter run --help`.",
            demo.comments,
            demo.bursts,
            dir.display()
        );
        gen::write_dir(&demo, &dir)
            .with_context(|| format!("cannot write the demo to {}", dir.display()))?;
        inputs = vec![dir.join("comments.jsonl")];
        if entities.is_none() {
            entities = Some(dir.join("entities.jsonl"));
        }
        demo_dir = Some(dir);
    }
    if args.batch_size == 0 {
        return usage(Err(anyhow::anyhow!(
            "--batch-size 0: use a positive number of lines per epoch (default 50000)"
        )));
    }
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if workers == 0 {
        return usage(Err(anyhow::anyhow!("--workers 0: use at least 1 worker")));
    }
    let alerts_path = args
        .alerts_out
        .clone()
        .unwrap_or(config.output.alerts.clone());
    let dead_path = args
        .dead_letters_out
        .clone()
        .or(config.output.dead_letters.clone())
        .unwrap_or_else(|| PathBuf::from("dead_letters.jsonl"));
    let settings = RunSettings {
        inputs: inputs.iter().map(|p| InputSpec::parse(p)).collect(),
        entities,
        params,
        workers,
        batch_records: args.batch_size,
        max_record_bytes: config.input.max_record_bytes,
        show_progress: !args.quiet && std::io::stderr().is_terminal(),
        windows_out: args.windows_out.clone(),
        lake: if args.no_lake {
            None
        } else {
            let mut output = config.output.clone();
            if let Some(interval) = &args.snapshot_interval {
                output.snapshot_interval = interval.clone();
            }
            let interval_ms = usage(output.snapshot_interval_ms().map_err(|e| {
                anyhow::anyhow!("{e} (--snapshot-interval or output.snapshot_interval)")
            }))?;
            let keep = args.keep_snapshots.unwrap_or(output.keep_snapshots);
            if keep == 0 {
                return usage(Err(anyhow::anyhow!(
                    "--keep-snapshots 0 (output.keep_snapshots): keep at least 1 snapshot (default 10)"
                )));
            }
            Some(runtime::LakeSettings {
                root: args.lake.clone().unwrap_or(output.lake),
                keep,
                interval: std::time::Duration::from_millis(interval_ms as u64),
            })
        },
    };
    for input in &settings.inputs {
        usage(input.check("input"))?;
    }
    if let Some(path) = &settings.entities {
        usage(InputSpec::File(path.clone()).check("entities file"))?;
    }
    if settings.entities.is_none() {
        tracing::warn!(
            "no entity catalog (--entities or input.entities): nothing will be mentioned"
        );
    }
    let alerts_out = usage(open_output(&alerts_path))?;
    let dead_letters = DeadLetters::new(usage(open_output(&dead_path))?);
    let lake_root = settings.lake.as_ref().map(|l| l.root.clone());
    let result = runtime::run(settings, alerts_out, dead_letters);
    if let Some(dir) = demo_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    let summary = result?;
    if let (Some(root), Some(manifest)) = (&lake_root, &summary.last_snapshot) {
        eprintln!(
            "chatter: lake {}/current = snapshot {} (read it with pandas.read_parquet(\"{}/current/mentions\"))",
            root.display(),
            manifest.id,
            root.display()
        );
    }
    eprintln!("chatter: {}", summary.line());
    let dead: u64 = summary.dead_letters.values().sum();
    if dead > 0 {
        eprintln!("chatter: dead letters are in {}", dead_path.display());
    }
    if let Some(path) = &args.summary_json {
        let json = serde_json::json!({
            "lines": summary.lines,
            "entities": summary.entities,
            "inserts": summary.counters.inserts,
            "edits": summary.counters.edits,
            "deletes": summary.counters.deletes,
            "deletes_unknown": summary.counters.deletes_unknown,
            "refused": summary.counters.refused,
            "evicted": summary.counters.evicted,
            "restored": summary.counters.restored,
            "restored_from": summary.restored_from.map(|(id, _)| id),
            "restore_seconds": summary.restored_from.map(|(_, took)| took.as_secs_f64()),
            "snapshots": summary.snapshots,
            "snapshot": summary.last_snapshot.as_ref().map(|m| m.id),
            "interrupted": summary.interrupted,
            "snapshot_stats": summary.last_snapshot.as_ref().map(|m| &m.stats),
            "dead_letters": summary.dead_letters,
            "windows": summary.windows,
            "alerts_fired": summary.alerts[0],
            "alerts_updated": summary.alerts[1],
            "alerts_retracted": summary.alerts[2],
            "watermark": dataflows::format_rfc3339_ms(summary.watermark_ms),
            "elapsed_seconds": summary.elapsed.as_secs_f64(),
            "workers": workers,
            "peak_rss_bytes": summary.peak_rss_bytes,
            "epoch_p50_micros": summary.epoch_micros.as_ref().map(|h| h.value_at_quantile(0.5)),
            "epoch_p99_micros": summary.epoch_micros.as_ref().map(|h| h.value_at_quantile(0.99)),
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
