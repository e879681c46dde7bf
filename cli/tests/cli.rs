//! The `tidal` binary as a user runs it: its help, its usage errors (exit status 2), its
//! failures (exit status 1), and `get` and `command` against a real tidal server started in
//! this process. Every run of the tool is killed after [`DEADLINE`], so every test ends.

use std::net::SocketAddr;
use std::process::Output;
use std::time::{Duration, Instant};

use tidal::agent::{
    agent_lifecycle::HandlerContext,
    agent_model::AgentModel,
    event_handler::{EventHandler, HandlerActionExt},
    lanes::{CommandLane, OrderedMapLane, ValueLane},
    lifecycle, projections, AgentLaneModel,
};
use tidal::route::RoutePattern;
use tidal::server::{ServerBuilder, ServerError, ServerHandle};
use tokio::process::Command;
use tokio::task::JoinHandle;

/// How long one run of the tool may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// The agent at `/tally/:id`: `add n` adds `n` to `total` and marks `n` as seen.
#[projections]
#[derive(AgentLaneModel)]
pub struct Tally {
    /// The sum of the numbers added.
    total: ValueLane<i64>,
    /// The numbers added, in order, each with `true`.
    seen: OrderedMapLane<i64, bool>,
    /// Adds a number.
    add: CommandLane<i64>,
}

/// Applies the `add` commands of a [`Tally`].
#[derive(Clone)]
pub struct TallyLifecycle;

#[lifecycle(Tally)]
impl TallyLifecycle {
    /// Adds `n` to the total and marks it as seen.
    #[on_command(add)]
    fn add(&self, context: HandlerContext<Tally>, n: &i64) -> impl EventHandler<Tally> {
        let n = *n;
        context
            .transform_value(Tally::TOTAL, move |total| total + n)
            .followed_by(context.update(Tally::SEEN, n, true))
    }
}

/// A tidal server with tally agents, listening on a free port of 127.0.0.1.
struct TallyServer {
    /// Its address, `ws://127.0.0.1:PORT`.
    url: String,
    /// To stop it.
    handle: ServerHandle,
    /// The task running it.
    task: JoinHandle<Result<(), ServerError>>,
}

impl TallyServer {
    /// Starts the server.
    async fn start() -> TallyServer {
        let route = RoutePattern::parse_str("/tally/:id").expect("a valid route");
        let model = AgentModel::new(Tally::default, TallyLifecycle);
        let builder = ServerBuilder::with_plane_name("cli")
            .set_bind_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
            .add_route(route, model);
        let (run, handle) = builder.build().await.expect("the server builds").run();
        let task = tokio::spawn(run);
        let addr = handle.bound_addr().expect("the server listens");
        TallyServer {
            url: format!("ws://{addr}"),
            handle,
            task,
        }
    }

    /// Stops the server and waits until it has.
    async fn stop(self) {
        self.handle.stop();
        let stopped = tokio::time::timeout(DEADLINE, self.task).await;
        stopped
            .expect("the server stops in time")
            .expect("the server task")
            .expect("no error");
    }
}

/// Runs the tool with `args`, killing it if it takes longer than [`DEADLINE`].
async fn tidal(args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_tidal"))
        .args(args)
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(DEADLINE, child).await {
        Ok(output) => output.expect("the tool starts"),
        Err(_) => panic!("`tidal {}` ran longer than {DEADLINE:?}", args.join(" ")),
    }
}

/// Checks that the run exited with `code`; its standard output and error, as text.
fn exited(output: &Output, code: i32) -> (String, String) {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

/// `--help` lists the subcommands on the standard output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_prints_on_stdout() {
    let (stdout, stderr) = exited(&tidal(&["--help"]).await, 0);
    assert!(
        stdout.starts_with("Get, sync, link and command"),
        "{stdout}"
    );
    for subcommand in ["get", "sync", "link", "command", "completions"] {
        assert!(stdout.contains(subcommand), "{subcommand} in {stdout}");
    }
    assert_eq!(stderr, "");
    let (stdout, _) = exited(&tidal(&["get", "--help"]).await, 0);
    assert!(stdout.contains("--json"), "{stdout}");
    assert!(stdout.contains("--ca-file"), "{stdout}");
}

/// `--version` prints the package's version on the standard output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_prints_on_stdout() {
    let (stdout, _) = exited(&tidal(&["--version"]).await, 0);
    assert_eq!(stdout.trim(), concat!("tidal ", env!("CARGO_PKG_VERSION")));
}

/// An unknown subcommand is a usage error, told on the standard error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_subcommand_is_a_usage_error() {
    let (stdout, stderr) = exited(&tidal(&["frobnicate"]).await, 2);
    assert_eq!(stdout, "");
    assert!(stderr.contains("frobnicate"), "{stderr}");
    let (_, stderr) = exited(&tidal(&["get", "ws://127.0.0.1:1", "/tally/a"]).await, 2);
    assert!(stderr.contains("<LANE>"), "{stderr}");
}

/// `command` takes no `--json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_rejects_json() {
    let args = [
        "command",
        "ws://127.0.0.1:1",
        "/tally/a",
        "add",
        "1",
        "--json",
    ];
    let (stdout, stderr) = exited(&tidal(&args).await, 2);
    assert_eq!(stdout, "");
    assert!(stderr.contains("--json"), "{stderr}");
}

/// A host where nothing listens: the tool gives up after a few attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_host_fails() {
    let started = Instant::now();
    let (stdout, stderr) = exited(
        &tidal(&["get", "ws://127.0.0.1:1", "/tally/a", "total"]).await,
        1,
    );
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with("tidal: cannot reach the host"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

/// `command` changes the lanes; `get` prints a value lane's value and a map lane's entries,
/// as Recon and as JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_prints_what_command_changed() {
    let server = TallyServer::start().await;
    let host = server.url.as_str();
    for n in ["5", "-3"] {
        let (stdout, _) = exited(&tidal(&["command", host, "/tally/a", "add", n]).await, 0);
        assert_eq!(stdout, "");
    }
    let (stdout, _) = exited(&tidal(&["get", host, "/tally/a", "total"]).await, 0);
    assert_eq!(stdout, "2\n");
    let (stdout, _) = exited(&tidal(&["get", host, "/tally/a", "seen"]).await, 0);
    assert_eq!(stdout, "{-3:true,5:true}\n");
    let (stdout, _) = exited(
        &tidal(&["get", host, "/tally/a", "seen", "--json"]).await,
        0,
    );
    assert_eq!(stdout, "{\"-3\":true,\"5\":true}\n");
    // Another agent, never commanded: its lanes' initial states.
    let (stdout, _) = exited(&tidal(&["get", host, "/tally/b", "total"]).await, 0);
    assert_eq!(stdout, "0\n");
    let (stdout, _) = exited(
        &tidal(&["get", host, "/tally/b", "seen", "--json"]).await,
        0,
    );
    assert_eq!(stdout, "{}\n");
    server.stop().await;
}

/// An unknown node, an unknown lane and a value that is not Recon fail with a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_fail_with_a_message() {
    let server = TallyServer::start().await;
    let host = server.url.as_str();
    let (_, stderr) = exited(&tidal(&["get", host, "/nowhere", "total"]).await, 1);
    assert!(
        stderr.contains("no agent serves the node /nowhere"),
        "{stderr}"
    );
    let (_, stderr) = exited(&tidal(&["get", host, "/tally/a", "nope"]).await, 1);
    assert!(stderr.contains("no lane named nope"), "{stderr}");
    // A command lane keeps no state: `get` says so rather than printing an empty map.
    let (stdout, stderr) = exited(&tidal(&["get", host, "/tally/a", "add"]).await, 1);
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("is a command lane: it keeps no state"),
        "{stderr}"
    );
    let (_, stderr) = exited(&tidal(&["command", host, "/tally/a", "nope", "1"]).await, 1);
    assert!(stderr.contains("no lane named nope"), "{stderr}");
    let (_, stderr) = exited(&tidal(&["command", host, "/tally/a", "add", "{"]).await, 1);
    assert!(
        stderr.starts_with("tidal: the value is not valid Recon"),
        "{stderr}"
    );
    server.stop().await;
}

/// `sync` prints the lane's state, then follows it: read its first line, then stop it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_prints_the_state_then_follows() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let server = TallyServer::start().await;
    let host = server.url.as_str();
    exited(&tidal(&["command", host, "/tally/s", "add", "5"]).await, 0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidal"))
        .args(["sync", host, "/tally/s", "seen", "--json"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the tool starts");
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("a line in time")
        .expect("readable");
    assert_eq!(first.as_deref(), Some(r#"{"@update":{"key":5},"$0":true}"#));
    child.kill().await.expect("the tool stops");
    server.stop().await;
}

/// `--ca-file` must name readable PEM; a plain server does not answer `wss://`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_roots_are_checked() {
    let server = TallyServer::start().await;
    let host = server.url.as_str();
    let args = [
        "get",
        host,
        "/tally/a",
        "total",
        "--ca-file",
        "/nonexistent.pem",
    ];
    let (_, stderr) = exited(&tidal(&args).await, 1);
    assert!(stderr.contains("cannot read /nonexistent.pem"), "{stderr}");
    let (_, stderr) = exited(
        &tidal(&["get", host, "/tally/a", "total", "--ca-file"]).await,
        2,
    );
    assert!(stderr.contains("--ca-file"), "{stderr}");
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/tls/ca.pem");
    let tls_host = host.replacen("ws://", "wss://", 1);
    let args = [
        "command",
        &tls_host,
        "/tally/a",
        "add",
        "1",
        "--ca-file",
        ca,
    ];
    let (_, stderr) = exited(&tidal(&args).await, 1);
    assert!(stderr.contains("cannot reach the host"), "{stderr}");
    server.stop().await;
}
