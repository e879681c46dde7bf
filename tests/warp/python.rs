//! Interop with the real SwimOS Python client (PyPI `swimos==1.6.0a0`) over WARP.
//!
//! The test sets up `.venv` with `scripts/python-env.sh` (quick once done; the first time it
//! needs `python3` and PyPI), serves `/unit/:id` agents on an ephemeral port of 127.0.0.1, and runs
//! `tests/python/interop.py` against it. That program drives the Python client through value,
//! map and event downlinks, commands and unknown targets, printing `ok <check>` or
//! `FAIL <check>: <why>` per check; see its docstring for what it checks and for the client's
//! quirks it works around. Its output is printed (`--nocapture` shows it on success too), and is
//! part of the panic message on failure.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::introspection::introspected;
use super::serve_with;

/// Setting up the venv: a first `pip install` takes seconds to a minute.
const SETUP_TIMEOUT: Duration = Duration::from_secs(300);
/// The Python program bounds itself (a 45 s watchdog); this is the backstop.
const INTEROP_TIMEOUT: Duration = Duration::from_secs(120);

/// How a child process ended, and what it printed.
struct Finished {
    /// `None` if it was killed for running past its timeout.
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Finished {
    fn success(&self) -> bool {
        self.status.is_some_and(|status| status.success())
    }

    fn outcome(&self) -> String {
        match self.status {
            Some(status) => format!("{status} after {:.1?}", self.elapsed),
            None => format!("killed after the {:.1?} timeout", self.elapsed),
        }
    }

    fn transcript(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs `command` to its end, or kills it after `timeout`. Blocking: call it off the runtime's
/// worker threads. (tokio's `process` feature is not enabled for tests, hence std and threads.)
fn run(mut command: Command, timeout: Duration) -> std::io::Result<Finished> {
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Drain both pipes from threads, so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Finished {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        elapsed: start.elapsed(),
    })
}

/// Creates `.venv` with swimos if needed (`scripts/python-env.sh`); returns its interpreter.
fn python_env(root: &Path) -> PathBuf {
    let mut command = Command::new("bash");
    command
        .arg(root.join("scripts/python-env.sh"))
        .current_dir(root);
    let setup = run(command, SETUP_TIMEOUT)
        .unwrap_or_else(|error| panic!("cannot run `bash scripts/python-env.sh`: {error}"));
    let python = setup.stdout.lines().last().map(PathBuf::from);
    match python {
        Some(python) if setup.success() && python.is_file() => python,
        _ => panic!(
            "could not set up the Python environment for the swimos interop test \
             (`bash scripts/python-env.sh` {}). It needs `python3` (3.11 is tested) with the \
             venv module, and network access to PyPI for `pip install --pre swimos==1.6.0a0`.\n{}",
            setup.outcome(),
            setup.transcript()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_swimos_python_client_interoperates() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = {
        let root = root.clone();
        tokio::task::spawn_blocking(move || python_env(&root))
            .await
            .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()))
    };

    // `interop.py` is served the agent of the other tests here, at `/unit/:id`, with
    // introspection on.
    let running = serve_with(introspected).await;
    let addr = running.addr;
    let url = format!("ws://{addr}");
    let mut command = Command::new(&python);
    command
        .arg(root.join("tests/python/interop.py"))
        .arg(&url)
        .current_dir(&root)
        // Unbuffered, so a killed run still shows every line it printed.
        .env("PYTHONUNBUFFERED", "1");
    let interop = tokio::task::spawn_blocking(move || run(command, INTEROP_TIMEOUT))
        .await
        .unwrap()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", python.display()));
    println!(
        "interop.py against {url}: {}\n{}",
        interop.outcome(),
        interop.transcript()
    );

    running.server.stop();
    let stopped = tokio::time::timeout(Duration::from_secs(10), running.task).await;

    assert!(
        interop.success(),
        "the swimos Python client failed against tidal at {url} (interop.py {}); \
         `FAIL <check>: <why>` lines say which check and why:\n{}",
        interop.outcome(),
        interop.transcript()
    );
    let stopped = stopped.expect("the server did not stop within 10 s");
    stopped.unwrap().unwrap();
}
