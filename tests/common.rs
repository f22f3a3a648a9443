//! Shared helpers: the built binary, temporary directories, JSON Lines readers.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `chatter` binary cargo built for these tests.
///
/// Under coverage (cargo-tarpaulin) `LLVM_PROFILE_FILE` names one profile per process
/// (`%p`): about 22 MB each, and the suite starts hundreds of chatter processes, enough to
/// fill a CI machine's disk. Every chatter process merges into a pool of four files instead
/// (`%4m`: the LLVM runtime merges under a file lock), in the directory tarpaulin reads.
pub fn chatter() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chatter"));
    if let Some(pattern) = std::env::var_os("LLVM_PROFILE_FILE") {
        if let Some(dir) = Path::new(&pattern).parent() {
            command.env(
                "LLVM_PROFILE_FILE",
                dir.join("chatter-processes_%4m.profraw"),
            );
        }
    }
    command
}

/// Runs `chatter` with `args` in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    chatter()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("chatter runs")
}

/// Sends `signal` (like "TERM") to the process `pid`, asserting `kill` succeeded.
pub fn send_signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(sent, "kill -{signal} {pid} failed");
}

/// A port of 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// How long a test waits for one chatter process before it calls it hung.
pub const PROCESS_DEADLINE: Duration = Duration::from_secs(240);

/// Runs `command` to its end like `Command::output`, but a process still running after
/// `PROCESS_DEADLINE` fails the test (with every thread's stack, when gdb is installed)
/// instead of blocking the suite.
pub fn output_within(command: &mut Command) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    finish_within(child, PROCESS_DEADLINE)
}

/// Waits for a spawned `child` (its pipes are read to the end) for at most `deadline`; a hung
/// child is dumped with gdb where available, killed, and fails the test.
pub fn finish_within(mut child: Child, deadline: Duration) -> Output {
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > deadline {
            let stacks = Command::new("gdb")
                .args(["-p", &child.id().to_string(), "-batch", "-ex"])
                .arg("thread apply all bt")
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_else(|e| format!("(no gdb: {e})"));
            let _ = child.kill();
            let _ = child.wait();
            let err = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
            panic!(
                "the process {} still ran after {deadline:?}: killed.\nits stderr:\n{err}\nits threads:\n{stacks}",
                child.id()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parses a JSON Lines file.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// `../shared/data` beside the repository, if present.
pub fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    dir.join("real-entities/entities.jsonl")
        .exists()
        .then_some(dir)
}

/// Alert events without the wall-clock field, sorted, for comparisons between runs.
pub fn comparable_alerts(path: &Path) -> Vec<String> {
    let mut alerts: Vec<String> = read_jsonl(path)
        .into_iter()
        .map(|mut v| {
            v.as_object_mut().expect("object").remove("emitted_at");
            v.to_string()
        })
        .collect();
    alerts.sort();
    alerts
}

/// Runs the pipeline on `dir`'s generated files.
pub fn run_generated(
    dir: &std::path::Path,
    workers: &str,
    batch: &str,
    tag: &str,
) -> std::process::Output {
    run_in(
        dir,
        &[
            "run",
            "-q",
            "-i",
            "comments.jsonl",
            "-e",
            "entities.jsonl",
            "-w",
            workers,
            "--batch-size",
            batch,
            "--alerts-out",
            &format!("alerts-{tag}.jsonl"),
            "--dead-letters-out",
            &format!("dead-{tag}.jsonl"),
            "--windows-out",
            &format!("windows-{tag}.jsonl"),
            "--summary-json",
            &format!("summary-{tag}.json"),
            // A lake per run: a second run into the same lake would resume from it.
            "--lake",
            &format!("lake-{tag}"),
        ],
    )
}

/// Feeds a child's stdin from a thread: the first half of `data` at once, the rest on
/// [`HalfFeed::rest`]. A process that stops reading fails its test instead of blocking it.
pub struct HalfFeed {
    go_on: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl HalfFeed {
    pub fn start(child: &mut Child, data: Vec<u8>) -> HalfFeed {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("the child's stdin is piped");
        let (go_on, rest) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let half = data.len() / 2;
            let _ = stdin.write_all(&data[..half]);
            let _ = stdin.flush();
            if rest.recv().is_ok() {
                let _ = stdin.write_all(&data[half..]);
            }
        });
        HalfFeed { go_on, thread }
    }

    /// Writes the second half (the child may stop reading: that is no error) and closes stdin.
    pub fn rest(self) {
        let _ = self.go_on.send(());
        let _ = self.thread.join();
    }
}

/// A child's stderr, line by line as it comes, and whole once it closes.
pub struct StderrLines {
    lines: std::sync::mpsc::Receiver<String>,
    all: std::thread::JoinHandle<String>,
}

impl StderrLines {
    pub fn take(child: &mut Child) -> StderrLines {
        let pipe = child.stderr.take().expect("the child's stderr is piped");
        let (send, lines) = std::sync::mpsc::channel::<String>();
        let all = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut all = String::new();
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = send.send(line.clone());
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        StderrLines { lines, all }
    }

    /// Waits until a line containing `text` arrives; false after `within` or at the end.
    pub fn wait_for(&self, text: &str, within: Duration) -> bool {
        self.wait_for_line(text, within).is_some()
    }

    /// The first line (from now) containing `text`; None after `within` or at the end.
    pub fn wait_for_line(&self, text: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Everything the child wrote to stderr (waits for it to close).
    pub fn all(self) -> String {
        self.all.join().unwrap_or_default()
    }
}
