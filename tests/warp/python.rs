//! Interop with the real SwimOS Python client (PyPI `swimos==1.6.0a0`) over WARP.
//!
//! The test sets up `.venv` with `scripts/python-env.sh` (quick once done; the first time it
//! needs `python3` and PyPI), serves `/unit/:id` agents on an ephemeral port of 127.0.0.1, and runs
//! `tests/python/interop.py` against it. That program drives the Python client through value,
//! map and event downlinks, commands and unknown targets, printing `ok <check>` or
//! `FAIL <check>: <why>` per check; see its docstring for what it checks and for the client's
//! quirks it works around. Its output is printed (`--nocapture` shows it on success too), and is
//! part of the panic message on failure.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

#[path = "../support/python.rs"]
mod python_client;
use python_client::{python_env, run};

use super::introspection::introspected;
use super::serve_with;

/// The Python program bounds itself (a 45 s watchdog); this is the backstop.
const INTEROP_TIMEOUT: Duration = Duration::from_secs(120);

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
