//! A throwaway PostgreSQL server for the tests that need one (shared by test binaries, each
//! of which uses part of it).
#![allow(dead_code)]

use std::time::Duration;

/// A PostgreSQL server for a test: started by `scripts/postgres.sh` (as its own system user)
/// in a temporary directory on a free loopback port, stopped by its PID when dropped.
pub struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
    pub url: String,
    pid: u32,
}

impl Postgres {
    /// Starts a server with a fresh, empty database `tidal`.
    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let (url, pid) = Self::run_script(dir.path(), port);
        Postgres {
            dir,
            port,
            url,
            pid,
        }
    }

    /// Runs the script: the server's URL and PID.
    fn run_script(dir: &std::path::Path, port: u16) -> (String, u32) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres.sh");
        let output = std::process::Command::new("bash")
            .arg(script)
            .arg(dir.join("pg"))
            .arg(port.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "scripts/postgres.sh failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let (url, pid) = stdout.trim().split_once(' ').expect("a URL and a PID");
        (url.to_owned(), pid.parse().expect("a PID"))
    }

    /// Stops the server (PostgreSQL's fast shutdown) and waits until it is gone.
    pub fn stop(&mut self) {
        // A paused server would not hear the shutdown (a child may be gone already).
        let _ = std::process::Command::new("kill")
            .arg("-CONT")
            .args(self.processes())
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::process::Command::new("kill")
            .args(["-INT", &self.pid.to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::path::Path::new(&format!("/proc/{}", self.pid)).exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "PostgreSQL did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's processes: the postmaster and its children (a backend per connection,
    /// the WAL writer, ...).
    fn processes(&self) -> Vec<String> {
        let children = std::process::Command::new("pgrep")
            .args(["-P", &self.pid.to_string()])
            .output()
            .expect("pgrep runs");
        let mut pids: Vec<String> = String::from_utf8_lossy(&children.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        pids.push(self.pid.to_string());
        pids
    }

    /// Pauses every process of the server (SIGSTOP): connections stay open and nothing is
    /// answered, as when the database's machine stalls.
    pub fn pause(&self) {
        self.signal_all("-STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal_all("-CONT");
    }

    fn signal_all(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(signal)
            .args(self.processes())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Stops the server and starts it again on the same data and port.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Starts the stopped server again on the same data and port.
    pub fn start_again(&mut self) {
        let (url, pid) = Self::run_script(self.dir.path(), self.port);
        assert_eq!(url, self.url);
        self.pid = pid;
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
