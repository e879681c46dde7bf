//! Running the real SwimOS Python client in tests: the venv of `scripts/python-env.sh`, and
//! child processes run to their end or killed past a timeout (shared by test binaries, each of
//! which uses part of it).
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Setting up the venv: a first `pip install` takes seconds to a minute.
const SETUP_TIMEOUT: Duration = Duration::from_secs(300);

/// How a child process ended, and what it printed.
pub struct Finished {
    /// `None` if it was killed for running past its timeout.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|status| status.success())
    }

    pub fn outcome(&self) -> String {
        match self.status {
            Some(status) => format!("{status} after {:.1?}", self.elapsed),
            None => format!("killed after the {:.1?} timeout", self.elapsed),
        }
    }

    pub fn transcript(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs `command` to its end, or kills it after `timeout`. Blocking: call it off the runtime's
/// worker threads. (tokio's `process` feature is not enabled for tests, hence std and threads.)
pub fn run(mut command: Command, timeout: Duration) -> std::io::Result<Finished> {
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
pub fn python_env(root: &Path) -> PathBuf {
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
