//! Command-line interface: `chatter run | gen | check | health | replay | backup | restore`.
//! Argument errors exit 2 with clap's message; config and input errors exit 2 with a one-line
//! message ([`Error::Usage`]); runtime failures exit 1 ([`Error::Failed`]).
//!
//! One file just over 800 lines: every command's clap arguments (their doc comments are the
//! `--help` text) beside their translation into settings.

use crate::config::Config;
use crate::connectors::file::InputSpec;
use crate::error::{usage, Error};
use crate::gen::{self, GenConfig};
use crate::runtime;
use crate::settings::{Cluster, LakeSettings, RunSettings};
use crate::sink::{open_output, DeadLetters};
use anyhow::Context;

/// A command's result.
type Result<T, E = Error> = std::result::Result<T, E>;
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// `chatter --version`: the crate version, the git revision and the build date (`build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("CHATTER_GIT_REV"),
    ", built ",
    env!("CHATTER_BUILD_DATE"),
    ")"
);

/// chatter: streaming comment intelligence. Reads social-media comments and an entity
/// catalog, incrementally maintains entity mentions, sentiment, per-window velocity and
/// baselines, and emits velocity alerts (fired / updated / retracted) as JSON Lines.
#[derive(Debug, Parser)]
#[command(name = "chatter", version = VERSION, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How log lines on stderr are written: `human` text, or `json` (one object a line, for log
    /// shippers; chatter's own lines become INFO events too). Levels per module with RUST_LOG,
    /// e.g. `RUST_LOG=info,chatter::kafka=debug` (default: warn; info with json).
    #[arg(long, global = true, value_enum, default_value_t = crate::logging::LogFormat::Human)]
    pub log_format: crate::logging::LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline. With no input and no config: the bundled demo (a generated sample).
    Run(Box<RunArgs>),
    /// Write a deterministic synthetic load: DIR/comments.jsonl and DIR/entities.jsonl.
    Gen(GenArgs),
    /// Validate a config file and print what it compiles to.
    Check(CheckArgs),
    /// Copy a lake's current snapshot to DEST (safe while chatter runs) and verify it.
    Backup(BackupArgs),
    /// Verify a backup and install it as a lake's newest snapshot (the next run resumes from it).
    ///
    /// Exits 2 when refused (no backup at --from, a lake a running chatter holds, a lake with
    /// snapshots and no --force) and 1 when the backup is damaged or the copy fails; the lake
    /// is left as it was in both cases.
    Restore(RestoreArgs),
    /// Exit 0 when the lake's current snapshot is recent (a running pipeline publishes one
    /// every snapshot_interval), 1 otherwise: for Docker's HEALTHCHECK.
    Health(HealthArgs),
    /// Re-feed dead letters after a fix: from the DLQ topic back to the topics they came
    /// from, or from a lake's dead_letters table to a JSON Lines file for the file source.
    Replay(ReplayArgs),
    /// Write the weekly brief of a lake snapshot: `--week 2021-W04 --out brief.html` (or .md).
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The lake `chatter run --lake` writes.
    #[arg(long, value_name = "DIR", default_value = "lake")]
    pub lake: PathBuf,
    /// The snapshot to report on (default: the current one).
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<u64>,
    /// An ISO 8601 week in UTC, Monday 00:00 to the next Monday: like 2021-W04.
    #[arg(long, value_name = "YYYY-Www", conflicts_with_all = ["from", "to"])]
    pub week: Option<String>,
    /// Any period instead of a week: its start (RFC 3339), with --to.
    #[arg(long, value_name = "TIME", requires = "to")]
    pub from: Option<String>,
    /// Its end (RFC 3339, exclusive), with --from.
    #[arg(long, value_name = "TIME", requires = "from")]
    pub to: Option<String>,
    /// A watch list: these entity ids get a table of their own, whatever their rank.
    #[arg(long, value_name = "ID,…", value_delimiter = ',')]
    pub entities: Vec<String>,
    /// Rows of each top table.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// The file to write (atomically): its extension picks the format unless --format does.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,
    /// md, html or pdf (default: from the extension of --out).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// No progress bar, and nothing printed on success (errors still go to stderr).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Kafka bootstrap servers: replay the DLQ topic.
    #[arg(
        long,
        value_name = "BROKERS",
        required_unless_present = "lake",
        conflicts_with = "lake"
    )]
    pub kafka: Option<String>,
    /// The dead-letter topic.
    #[arg(long, default_value = "chatter.dlq")]
    pub dlq: String,
    /// Produce to this topic instead of each message's source topic.
    #[arg(long, value_name = "TOPIC")]
    pub to: Option<String>,
    /// Replay from this lake's current snapshot instead (writes --out).
    #[arg(long, value_name = "DIR", requires = "out")]
    pub lake: Option<PathBuf>,
    /// With --lake: the JSON Lines file to write (feed it to `chatter run -i`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Only dead letters of this reason (e.g. invalid_json, bad_timestamp).
    #[arg(long, value_name = "REASON")]
    pub reason: Option<String>,
    /// Count what would be replayed without producing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --kafka: a pipeline config whose [kafka.options] (TLS, SASL; env: and file:
    /// secrets) the replay's consumer and producer use.
    #[arg(long, short = 'c', value_name = "FILE", requires = "kafka")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The lake chatter run writes.
    #[arg(long, value_name = "DIR")]
    pub lake: PathBuf,
    /// Oldest acceptable age of the current snapshot, like "5m" (keep it above
    /// output.snapshot_interval).
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub max_age: String,
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
    /// Timely worker threads (default: the number of CPU cores; at most 8 per core and 256).
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
    #[arg(long, value_name = "N", default_value_t = 5_000)]
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
    /// Read comments from Kafka at these bootstrap servers (host:port,…) instead of files:
    /// sets input.source = "kafka" and kafka.brokers (see [kafka] in chatter.example.toml).
    #[arg(long, value_name = "BROKERS", conflicts_with = "inputs")]
    pub kafka: Option<String>,
    /// Comment topic (repeat for several; default: kafka.topics, or "comments").
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,
    /// Kafka: stop at the end offsets the topics have at start (a backfill): flush, snapshot,
    /// exit 0 (kafka.bounded).
    #[arg(long)]
    pub bounded: bool,
    /// Processes in the timely cluster (each runs --workers threads; Kafka partitions are
    /// spread over all workers of all processes).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub processes: usize,
    /// This process's index in the cluster, 0..N (process 0 writes the lake and the alerts).
    #[arg(long, value_name = "I", default_value_t = 0)]
    pub process: usize,
    /// A file with one host:port per line, for each process in order (with --processes > 1).
    #[arg(long, value_name = "FILE")]
    pub hosts: Option<PathBuf>,
    /// Serve the dashboard, the API, the alert stream, /metrics, /healthz and /readyz on this
    /// host:port, like 127.0.0.1:8080 (default: http.listen; none when empty). Auth, rate
    /// limits and the rest are in [http] (docs/api.md); the token never goes on the command
    /// line (http.token_file or CHATTER_HTTP_TOKEN).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// After a bounded input ends, keep serving HTTP until SIGTERM or Ctrl-C (to look at the
    /// dashboard of a finished run).
    #[arg(long)]
    pub keep_serving: bool,
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
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "to",
        conflicts_with = "to"
    )]
    pub out: Option<PathBuf>,
    /// Produce to Kafka instead: kafka://HOST:PORT/TOPIC (the topic is created if missing,
    /// with --partitions). The catalog goes to --entities-topic; deletes become tombstones.
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,
    /// With --to: comments per second, steady (0 = as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// With --to: partitions of a topic that has to be created.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// With --to: most messages per produce batch (librdkafka batch.num.messages).
    #[arg(long, default_value_t = 10_000)]
    pub batch_messages: u32,
    /// With --to: a pipeline config whose [kafka.options] (TLS, SASL; env: and file:
    /// secrets) the producer uses.
    #[arg(long, short = 'c', value_name = "FILE", requires = "to")]
    pub config: Option<PathBuf>,
    /// With --to: the catalog topic ("" = do not produce the catalog).
    #[arg(long, value_name = "TOPIC", default_value = "entities")]
    pub entities_topic: String,
    /// Catalog size.
    #[arg(long, default_value_t = 200)]
    pub entities: usize,
    /// Injected bursts (each makes an alert fire with the default rule).
    #[arg(long, default_value_t = 3)]
    pub bursts: usize,
    /// Mean background comments per minute of event time.
    #[arg(long, default_value_t = 60.0)]
    pub comments_per_minute: f64,
    /// Share of background comments that arrive late (10-60 minutes behind the stream).
    #[arg(long, default_value_t = 0.01)]
    pub late_fraction: f64,
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

/// Parses arguments, runs, and maps errors to exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::logging::init(cli.log_format);
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Stopped(why)) => {
            crate::say!("{why}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            crate::logging::fail("fatal", &format!("{error}"));
            ExitCode::from(error.exit_code())
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => run(*args),
        Command::Health(args) => health(args),
        Command::Report(args) => report(args),
        Command::Replay(args) => replay(args),
        Command::Gen(args) => generate(args),
        Command::Check(args) => check(args),
        Command::Backup(args) => {
            let manifest = crate::lake::backup::backup(&args.lake, &args.to)?;
            crate::say!(
                "backed up snapshot {} of {} ({} files, {} bytes, checksums verified) to {}",
                manifest.id,
                args.lake.display(),
                manifest.files.len() + 1,
                manifest.files.iter().map(|f| f.bytes).sum::<u64>(),
                args.to.display()
            );
            Ok(())
        }
        Command::Restore(args) => {
            use crate::lake::backup::{restore, RestoreError};
            let manifest = restore(&args.from, &args.lake, args.force).map_err(|e| match e {
                RestoreError::Refused(e) => Error::Usage(e),
                RestoreError::Failed(e) => Error::Failed(e),
            })?;
            crate::say!(
                "installed snapshot {} (frontier {}, watermark {}) from {} into {}: the next `chatter run --lake {}` resumes from it",
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
        late_fraction: args.late_fraction,
        ..GenConfig::default()
    };
    if args.entities == 0 {
        return usage(Err(anyhow::anyhow!(
            "--entities 0: the catalog needs at least 1 entity"
        )));
    }
    if !(0.0..=1.0).contains(&args.late_fraction) {
        return usage(Err(anyhow::anyhow!(
            "--late-fraction {} must be between 0 and 1",
            args.late_fraction
        )));
    }
    if !(args.comments_per_minute.is_finite() && args.comments_per_minute > 0.0) {
        return usage(Err(anyhow::anyhow!(
            "--comments-per-minute {} must be a positive number",
            args.comments_per_minute
        )));
    }
    if let Some(url) = &args.to {
        let (brokers, topic) = usage(crate::kafka::admin::parse_url(url))?;
        if !(args.rate.is_finite() && args.rate >= 0.0) {
            return usage(Err(anyhow::anyhow!(
                "--rate {} must be a number of comments per second (0 = as fast as possible)",
                args.rate
            )));
        }
        if args.partitions < 1 {
            return usage(Err(anyhow::anyhow!(
                "--partitions {}: use at least 1",
                args.partitions
            )));
        }
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message(format!("producing to {url}"));
            bar
        });
        let entities_topic =
            (!args.entities_topic.is_empty()).then_some(args.entities_topic.as_str());
        let options = kafka_options(args.config.as_deref())?;
        let produced = crate::kafka::admin::produce(
            &config,
            &brokers,
            &options,
            &topic,
            entities_topic,
            args.partitions,
            args.rate,
            args.batch_messages.max(1),
            bar.as_ref(),
        )?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        crate::say!(
            "produced {} comment messages ({} tombstones) to {url} and {} entities in {:.2} s ({:.0}/s)",
            produced.comments,
            produced.tombstones,
            produced.entities,
            produced.seconds,
            produced.comments as f64 / produced.seconds.max(1e-9)
        );
        return Ok(());
    }
    let out = args.out.clone().unwrap_or_default();
    let summary = gen::write_dir(&config, &out)
        .with_context(|| format!("cannot write the generated files to {}", out.display()))?;
    crate::say!(
        "wrote {} and {}: {} comments, {} edits, {} deletes, {} late, {} malformed, {} bursts",
        out.join("comments.jsonl").display(),
        out.join("entities.jsonl").display(),
        summary.comments,
        summary.edits,
        summary.deletes,
        summary.late,
        summary.malformed,
        summary.bursts.len()
    );
    Ok(())
}

/// The `[kafka.options]` of `--config FILE`, secrets resolved (none without a file): what
/// `gen --to` and `replay --kafka` give their Kafka clients, as a run does.
fn kafka_options(
    config: Option<&std::path::Path>,
) -> Result<std::collections::BTreeMap<String, String>> {
    let Some(path) = config else {
        return Ok(Default::default());
    };
    let config = usage(Config::load(path))?;
    usage(
        crate::kafka::client_options(&config.kafka)
            .with_context(|| format!("config {}", path.display())),
    )
}

fn replay(args: ReplayArgs) -> Result<()> {
    if let Some(reason) = &args.reason {
        if !crate::decode::Reason::ALL
            .iter()
            .any(|r| r.code() == reason)
        {
            return usage(Err(anyhow::anyhow!(
                "--reason {reason}: not a dead-letter reason; use one of {}",
                crate::decode::Reason::ALL.map(|r| r.code()).join(", ")
            )));
        }
    }
    let (done, target) = match (&args.kafka, &args.lake, &args.out) {
        (Some(brokers), _, _) => (
            crate::kafka::replay::from_topic(
                brokers,
                &kafka_options(args.config.as_deref())?,
                &args.dlq,
                args.reason.as_deref(),
                args.to.as_deref(),
                args.dry_run,
            )?,
            args.to
                .clone()
                .unwrap_or_else(|| "their source topics".into()),
        ),
        (None, Some(lake), Some(out)) => (
            crate::kafka::replay::from_lake(lake, args.reason.as_deref(), out)?,
            out.display().to_string(),
        ),
        _ => {
            return usage(Err(anyhow::anyhow!(
                "give --kafka BROKERS, or --lake DIR --out FILE"
            )))
        }
    };
    let skipped = done
        .skipped
        .iter()
        .map(|(why, n)| format!("{n} {why}"))
        .collect::<Vec<_>>()
        .join(", ");
    crate::say!(
        "{} {} dead letter(s) to {target}{}",
        if args.dry_run {
            "would replay"
        } else {
            "replayed"
        },
        done.replayed,
        if skipped.is_empty() {
            String::new()
        } else {
            format!("; skipped: {skipped}")
        }
    );
    Ok(())
}

/// The brief's progress bar: drawn on a terminal only once a run has taken more than a
/// moment (a quick brief prints just its summary line), never with `--quiet`.
struct ReportProgress {
    bar: Option<indicatif::ProgressBar>,
    /// Set when the run ends; held while the bar is revealed so the two cannot cross.
    done: std::sync::Arc<std::sync::Mutex<bool>>,
}

impl ReportProgress {
    fn start(show: bool) -> ReportProgress {
        let done = std::sync::Arc::new(std::sync::Mutex::new(false));
        let bar = show.then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(crate::report::Step::COUNT),
                indicatif::ProgressDrawTarget::hidden(),
            );
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} brief [{bar:24}] {pos}/{len} {msg} ({elapsed})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            let (later, done) = (bar.clone(), done.clone());
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(300));
                let done = done.lock().unwrap_or_else(|e| e.into_inner());
                if !*done {
                    later.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    later.enable_steady_tick(std::time::Duration::from_millis(100));
                }
            });
            bar
        });
        ReportProgress { bar, done }
    }

    fn step(&self, step: crate::report::Step) {
        if let Some(bar) = &self.bar {
            bar.set_position(step.number() - 1);
            bar.set_message(step.label());
        }
    }

    fn finish(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        *done = true;
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn report(args: ReportArgs) -> Result<()> {
    let settings = crate::report::ReportSettings {
        lake: args.lake,
        snapshot: args.snapshot,
        week: args.week,
        from: args.from,
        to: args.to,
        entities: args.entities,
        top: args.top,
        out: args.out.clone(),
        format: args.format,
    };
    let progress = ReportProgress::start(!args.quiet && std::io::stderr().is_terminal());
    let result = crate::report::run(&settings, &|step| progress.step(step));
    progress.finish();
    let brief = usage(result)?;
    if !args.quiet {
        crate::say!(
            "wrote {} ({}: {} comments, {} mentions, {} alerts; snapshot {})",
            args.out.display(),
            brief.period,
            crate::report::format::number(brief.headline.comments.value),
            crate::report::format::number(brief.headline.mentions.value),
            brief.alerts.len(),
            brief.quality.snapshot
        );
    }
    Ok(())
}

fn health(args: HealthArgs) -> Result<()> {
    let max_age_ms = usage(crate::config::duration("--max-age", &args.max_age, false))?;
    let path = args.lake.join("current/manifest.json");
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "unhealthy: no current snapshot ({} cannot be read)",
            path.display()
        )
    })?;
    let manifest: crate::lake::Manifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("unhealthy: {} is not a manifest", path.display()))?;
    let created = crate::decode::parse_rfc3339_ms(&manifest.created_at)
        .ok_or_else(|| anyhow::anyhow!("unhealthy: bad created_at {:?}", manifest.created_at))?;
    let age_ms = crate::sink::now_ms() - created;
    if age_ms > max_age_ms {
        return Err(anyhow::anyhow!(
            "unhealthy: the current snapshot {} was published {} s ago (more than --max-age {})",
            manifest.id,
            age_ms / 1000,
            args.max_age
        )
        .into());
    }
    println!(
        "healthy: snapshot {} published {} s ago (watermark {})",
        manifest.id,
        age_ms / 1000,
        manifest.watermark
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
    if config.input.source == "kafka" {
        usage(crate::kafka::KafkaSettings::from_config(&config.kafka))?;
    }
    if args.print {
        let mut shown = config.clone();
        shown.kafka.options = crate::kafka::redact_options(&shown.kafka.options);
        print!(
            "{}",
            toml::to_string_pretty(&shown).context("cannot print the config")?
        );
    }
    crate::say!(
        "{} is valid: {} s windows, baseline of {}, lateness {} s, retention {} s, {} input file(s)",
        args.config.display(),
        params.window_ms / 1000,
        params.baseline_windows,
        params.allowed_lateness_ms / 1000,
        params.retention_ms / 1000,
        config.input.comments.len()
    );
    Ok(())
}

/// `[kafka]` with the command line's overrides, when the source is Kafka.
fn kafka_settings(args: &RunArgs, config: &Config) -> Result<Option<crate::kafka::KafkaSettings>> {
    let source = if args.kafka.is_some() {
        "kafka"
    } else {
        config.input.source.as_str()
    };
    match source {
        "file" => {
            if !args.topics.is_empty() || args.bounded {
                return usage(Err(anyhow::anyhow!(
                    "--topic and --bounded are for the Kafka source: add --kafka HOST:PORT (or input.source = \"kafka\")"
                )));
            }
            Ok(None)
        }
        "kafka" => {
            let mut kafka = config.kafka.clone();
            if let Some(brokers) = &args.kafka {
                kafka.brokers = brokers.clone();
            }
            if !args.topics.is_empty() {
                kafka.topics = args.topics.clone();
            }
            kafka.bounded |= args.bounded;
            usage(crate::kafka::KafkaSettings::from_config(&kafka)).map(Some)
        }
        other => usage(Err(anyhow::anyhow!(
            "input.source = {other:?}: use \"file\" or \"kafka\""
        ))),
    }
}

/// `--processes N --process I --hosts FILE`.
fn cluster_settings(args: &RunArgs) -> Result<Option<Cluster>> {
    if args.processes == 0 {
        return usage(Err(anyhow::anyhow!("--processes 0: use at least 1")));
    }
    if args.processes == 1 {
        if args.process != 0 || args.hosts.is_some() {
            return usage(Err(anyhow::anyhow!(
                "--process and --hosts are for a cluster: add --processes N (N > 1)"
            )));
        }
        return Ok(None);
    }
    let Some(path) = &args.hosts else {
        return usage(Err(anyhow::anyhow!(
            "--processes {} needs --hosts FILE: one host:port per line, for each process in order",
            args.processes
        )));
    };
    let text = usage(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --hosts {}", path.display())),
    )?;
    let hosts: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    if hosts.len() != args.processes {
        return usage(Err(anyhow::anyhow!(
            "--hosts {} lists {} address(es) but --processes is {}: give one host:port per process",
            path.display(),
            hosts.len(),
            args.processes
        )));
    }
    if args.process >= args.processes {
        return usage(Err(anyhow::anyhow!(
            "--process {} is out of range: processes are numbered 0..{}",
            args.process,
            args.processes
        )));
    }
    Ok(Some(Cluster {
        process: args.process,
        hosts,
    }))
}

/// The most workers a process may run, whatever the cores (see [`max_workers`]).
pub const MAX_WORKERS: usize = 256;

/// Workers allowed on `cores` cores: 8 per core (at least 8), at most [`MAX_WORKERS`]. A typo
/// such as `--workers 3000` would otherwise build 3000 copies of the graph and exhaust memory
/// before the first record (README, "Workers and memory").
pub fn max_workers(cores: usize) -> usize {
    (8 * cores).clamp(8, MAX_WORKERS)
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
    let kafka = kafka_settings(&args, &config)?;
    let cluster = cluster_settings(&args)?;
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if workers == 0 {
        return usage(Err(anyhow::anyhow!("--workers 0: use at least 1 worker")));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let limit = max_workers(cores);
    if workers > limit {
        return usage(Err(anyhow::anyhow!(
            "--workers {workers} is more than {limit}, the limit on this machine's {cores} core(s) (8 per core, at most {MAX_WORKERS}): each worker is a thread with its own share of the graph, so more than the cores only adds memory; use --workers {cores}"
        )));
    }
    if inputs.is_empty() && kafka.is_none() {
        // A fixed place: the demo is deterministic, so a second run finds the same input and
        // resumes from the lake (there is nothing new to read).
        let dir = std::env::temp_dir().join("chatter-demo");
        let demo = GenConfig {
            comments: 20_000,
            seed: 42,
            ..GenConfig::default()
        };
        crate::say!(
            "no input given: running the bundled demo ({} synthetic comments with {} injected bursts, generated into {}). Try `chatter run --help`.",
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
            "--batch-size 0: use a positive number of lines per epoch (default 5000)"
        )));
    }
    let alerts_path = args.alerts_out.clone().unwrap_or(match &kafka {
        Some(_) if config.output.alerts.as_os_str() == "-" => PathBuf::from("/dev/null"),
        _ => config.output.alerts.clone(),
    });
    // With Kafka, dead letters go to the DLQ topic and the lake; a file only when asked for.
    let dead_path = args
        .dead_letters_out
        .clone()
        .or(config.output.dead_letters.clone())
        .unwrap_or_else(|| match &kafka {
            Some(_) => PathBuf::from("/dev/null"),
            None => PathBuf::from("dead_letters.jsonl"),
        });
    let settings = RunSettings {
        inputs: inputs.iter().map(|p| InputSpec::parse(p)).collect(),
        entities,
        params,
        workers,
        batch_records: args.batch_size,
        max_record_bytes: config.input.max_record_bytes,
        show_progress: !args.quiet && std::io::stderr().is_terminal(),
        windows_out: args.windows_out.clone(),
        kafka,
        cluster,
        http: args
            .http
            .clone()
            .or_else(|| Some(config.http.listen.clone()))
            .filter(|listen| !listen.trim().is_empty()),
        lake: lake_settings(&args, &config)?,
    };
    for input in &settings.inputs {
        usage(input.check("input"))?;
    }
    if let Some(path) = &settings.entities {
        usage(InputSpec::File(path.clone()).check("entities file"))?;
    }
    if settings.entities.is_none() && settings.kafka.is_none() {
        tracing::warn!(
            "no entity catalog (--entities or input.entities): nothing will be mentioned"
        );
    }
    let alerts_out = usage(open_output(&alerts_path))?;
    let dead_letters = DeadLetters::new(usage(open_output(&dead_path))?);
    let lake_root = settings.lake.as_ref().map(|l| l.root.clone());
    let handle = runtime::RunHandle::new(&settings, &dead_letters);
    let mut served = None;
    if let Some(listen) = &settings.http {
        let serve = usage(crate::serve::ServeSettings::compile(
            &config.http,
            listen.clone(),
            lake_root.clone(),
            settings.params.clone(),
        ))?;
        let addr = usage(crate::serve::serve(serve, handle.clone()))?;
        crate::say!(
            "serving http://{addr}/ (the dashboard; the API under /api/v1/, /metrics, /healthz, /readyz)"
        );
        served = Some(addr);
    }
    let keep_serving = served.is_some() && (args.keep_serving || config.http.keep_serving);
    let result = runtime::run(settings, alerts_out, dead_letters, &handle);
    if let Some(dir) = demo_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    let summary = result?;
    if let (Some(root), Some(manifest)) = (&lake_root, &summary.last_snapshot) {
        crate::say!(
            "lake {}/current = snapshot {} (read it with pandas.read_parquet(\"{}/current/mentions\"))",
            root.display(),
            manifest.id,
            root.display()
        );
    }
    crate::say!("{}", summary.line());
    if summary.suppressed > 0 {
        crate::say!(
            "{} alert event(s) for old windows were kept out of the alerts topic while catching up (they are in the lake's alerts table)",
            summary.suppressed
        );
    }
    let dead: u64 = summary.dead_letters.values().sum();
    if dead > 0 && dead_path.as_os_str() != "/dev/null" {
        crate::say!("dead letters are in {}", dead_path.display());
    }
    if let Some(path) = &args.summary_json {
        write_summary_json(path, &summary, workers)?;
    }
    if let (true, Some(addr)) = (keep_serving, served) {
        keep_serving_until_signal(addr)?;
    }
    Ok(())
}

/// `--keep-serving`: the run is over; the dashboard and API stay up until SIGTERM / Ctrl-C.
fn keep_serving_until_signal(addr: std::net::SocketAddr) -> Result<(), Error> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| Error::Failed(anyhow::anyhow!("cannot install a signal handler: {e}")))?;
    }
    crate::say!("the run is over; still serving http://{addr}/ (Ctrl-C or SIGTERM stops)");
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok(())
}

/// The lake of a run (None with `--no-lake`), from `[output]` and the flags.
fn lake_settings(args: &RunArgs, config: &Config) -> Result<Option<LakeSettings>> {
    if args.no_lake {
        return Ok(None);
    }
    let mut output = config.output.clone();
    if let Some(interval) = &args.snapshot_interval {
        output.snapshot_interval = interval.clone();
    }
    let interval_ms =
        usage(output.snapshot_interval_ms().map_err(|e| {
            anyhow::anyhow!("{e} (--snapshot-interval or output.snapshot_interval)")
        }))?;
    let keep = args.keep_snapshots.unwrap_or(output.keep_snapshots);
    if keep == 0 {
        return usage(Err(anyhow::anyhow!(
            "--keep-snapshots 0 (output.keep_snapshots): keep at least 1 snapshot (default 10)"
        )));
    }
    Ok(Some(LakeSettings {
        root: args.lake.clone().unwrap_or(output.lake),
        keep,
        interval: std::time::Duration::from_millis(interval_ms as u64),
    }))
}

/// `--summary-json FILE`: the run's summary as JSON (for scripts and benchmarks).
fn write_summary_json(
    path: &std::path::Path,
    summary: &runtime::RunSummary,
    workers: usize,
) -> Result<()> {
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
        "alerts_suppressed": summary.suppressed,
        "kafka_delivered": summary.delivered,
        "peak_rss_bytes": summary.peak_rss_bytes,
        "epoch_p50_micros": summary.epoch_micros.as_ref().map(|h| h.value_at_quantile(0.5)),
        "epoch_p99_micros": summary.epoch_micros.as_ref().map(|h| h.value_at_quantile(0.99)),
    });
    let bytes = serde_json::to_vec_pretty(&json).context("cannot encode the summary")?;
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
