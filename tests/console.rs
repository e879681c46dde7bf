//! The web console in a real browser: Debian's Chromium, headless, installed by
//! `scripts/chromium.sh`, loads `/console` from a test server on 127.0.0.1 and is driven through
//! the DevTools protocol (a small client over the WebSocket crate the tests already use: three
//! protocol methods do not call for a browser-automation crate and its dependency tree).
//!
//! Checked: the agent list updates when an agent starts; a command sent from the console's form
//! reaches the agent and its live value shows up; the console says it is disconnected when the
//! server stops and reconnects when a server comes back on the same port.
//!
//! With `TIDAL_CONSOLE_SCREENSHOT=<path>`, the test also saves a PNG of the console
//! (`scripts/console-screenshot.sh` makes the guide's).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tidal::prelude::*;
use tidal::server::ServerError;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// A meter: `add` sets `level` and records the reading in `readings`.
#[projections]
#[derive(AgentLaneModel)]
pub struct Meter {
    level: ValueLane<i64>,
    readings: MapLane<String, i64>,
    add: CommandLane<i64>,
}

#[derive(Clone)]
pub struct MeterLifecycle;

#[lifecycle(Meter)]
impl MeterLifecycle {
    #[on_command(add)]
    fn add(&self, context: HandlerContext<Meter>, n: &i64) -> impl EventHandler<Meter> {
        let n = *n;
        context
            .set_value(Meter::LEVEL, n)
            .followed_by(context.update(Meter::READINGS, format!("r{n}"), n))
    }
}

struct Running {
    server: ServerHandle,
    task: JoinHandle<Result<(), ServerError>>,
}

async fn serve(addr: &str) -> Running {
    let (task, server) = ServerBuilder::with_plane_name("console")
        .set_bind_addr(addr)
        .enable_introspection()
        .add_route(
            "/meter/:id".parse().unwrap(),
            AgentModel::new(Meter::default, MeterLifecycle),
        )
        .build()
        .await
        .unwrap()
        .run();
    Running {
        server,
        task: tokio::spawn(task),
    }
}

impl Running {
    async fn stop(self) {
        self.server.stop();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

/// Headless Chromium, killed (by its PID) when dropped.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    devtools: String,
}

impl Browser {
    fn launch() -> Browser {
        let root = env!("CARGO_MANIFEST_DIR");
        let found = Command::new("bash")
            .arg(format!("{root}/scripts/chromium.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("runs scripts/chromium.sh");
        assert!(found.status.success(), "scripts/chromium.sh failed");
        let chromium = String::from_utf8(found.stdout).unwrap().trim().to_owned();
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1200,800",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts chromium");
        // Chromium says where its DevTools endpoint is on stderr; the rest of stderr is read
        // (and dropped) by the thread, so that the browser never blocks on it.
        let stderr = child.stderr.take().unwrap();
        let (found, endpoint) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = found.send(url.trim().to_owned());
                }
            }
        });
        let devtools = endpoint
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium announces its DevTools endpoint within 30 s");
        Browser {
            child,
            _profile: profile,
            devtools,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A DevTools protocol session with one page.
struct Page {
    socket: Socket,
    session: String,
    next: u64,
}

impl Page {
    async fn open(browser: &Browser) -> Page {
        let (socket, _) = tokio_tungstenite::connect_async(&browser.devtools)
            .await
            .expect("connects to DevTools");
        let mut page = Page {
            socket,
            session: String::new(),
            next: 0,
        };
        let target = page
            .call("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attached = page
            .call(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        page.session = attached["sessionId"].as_str().unwrap().to_owned();
        page
    }

    /// Calls a protocol method (on the page once attached) and returns its result.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(20), self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method} within 20 s"))
                .expect("DevTools is open")
                .unwrap();
            let Message::Text(text) = frame else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["id"] == json!(id) {
                if let Some(error) = answer.get("error") {
                    panic!("{method} failed: {error}");
                }
                return answer["result"].clone();
            }
        }
    }

    async fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
    }

    /// Evaluates `expression` in the page, awaiting it if it is a promise.
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            )
            .await;
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("`{expression}` threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Waits (at most 10 s) until `condition`, a JavaScript expression, is true in the page:
    /// the page checks it on every change of its document.
    async fn wait_for(&mut self, condition: &str) {
        let script = format!(
            r#"new Promise((resolve, reject) => {{
                const check = () => {{ try {{ return Boolean({condition}); }} catch (_) {{ return false; }} }};
                if (check()) return resolve(true);
                const observer = new MutationObserver(() => {{
                    if (check()) {{ observer.disconnect(); clearTimeout(timer); resolve(true); }}
                }});
                observer.observe(document, {{subtree: true, childList: true, characterData: true, attributes: true}});
                const timer = setTimeout(() => {{ observer.disconnect(); reject(new Error("timed out")); }}, 10000);
            }})"#
        );
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": script, "awaitPromise": true, "returnByValue": true}),
            )
            .await;
        if result.get("exceptionDetails").is_some() {
            let page = self.eval("document.body.innerText").await;
            panic!("`{condition}` did not become true within 10 s; the page shows:\n{page}");
        }
    }
}

/// Sends a command over WARP from outside the browser (to start an agent).
async fn command(addr: std::net::SocketAddr, node: &str, lane: &str, body: &str) {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    socket
        .send(Message::text(format!(
            r##"@command(node:"{node}",lane:{lane}) {body}"##
        )))
        .await
        .unwrap();
    socket.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_agents_live_values_and_reconnects() {
    let browser = tokio::task::spawn_blocking(Browser::launch).await.unwrap();
    let running = serve("127.0.0.1:0").await;
    let addr = running.server.bound_addr().unwrap();
    let mut page = Page::open(&browser).await;
    page.navigate(&format!("http://{addr}/console")).await;
    page.wait_for(r##"document.getElementById("status").textContent === "connected""##)
        .await;

    // An agent starts: the list shows it.
    command(addr, "/meter/boiler", "add", "1").await;
    page.wait_for(r##"document.querySelector('#agents li[data-node="/meter/boiler"]')"##)
        .await;
    command(addr, "/meter/pump", "add", "2").await;
    page.wait_for(r##"document.querySelector('#agents li[data-node="/meter/pump"]')"##)
        .await;
    // The filter hides what does not match.
    page.eval(
        r##"(() => { const f = document.getElementById("filter"); f.value = "boil"; f.dispatchEvent(new Event("input")); })()"##,
    )
    .await;
    page.wait_for(r##"document.querySelectorAll("#agents li").length === 1"##)
        .await;

    // Choose it; its lanes show with their kinds, and its value.
    page.eval(r##"document.querySelector('#agents li[data-node="/meter/boiler"]').click()"##)
        .await;
    page.wait_for(r##"document.querySelector("#lane-add")?.dataset.kind === "command""##)
        .await;
    page.wait_for(r##"document.querySelector("#lane-readings")?.dataset.kind === "map""##)
        .await;
    page.wait_for(r##"document.querySelector("#lane-level .value")?.textContent === "1""##)
        .await;
    // A command typed into the form: the live value and the map follow.
    page.eval(
        r##"(() => { const form = document.querySelector("#lane-add form"); form.querySelector("input").value = "42"; form.requestSubmit(); })()"##,
    )
    .await;
    page.wait_for(r##"document.querySelector("#lane-level .value").textContent === "42""##)
        .await;
    page.wait_for(r##"document.querySelector("#lane-readings table").innerText.includes("42")"##)
        .await;
    // JSON works as well as Recon.
    page.eval(
        r##"(() => { const form = document.querySelector("#lane-level form"); form.querySelector("input").value = "7"; form.requestSubmit(); })()"##,
    )
    .await;
    page.wait_for(r##"document.querySelector("#lane-level .value").textContent === "7""##)
        .await;
    // The pulses are plotted.
    page.wait_for(r##"document.querySelectorAll("#host-plots .plot").length === 3"##)
        .await;
    page.wait_for(r##"document.querySelectorAll("#agent-plots .plot").length === 3"##)
        .await;
    if let Ok(path) = std::env::var("TIDAL_CONSOLE_SCREENSHOT") {
        let shot = page
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        std::fs::write(&path, base64_decode(shot["data"].as_str().unwrap())).unwrap();
        println!("screenshot saved to {path}");
    }

    // The server stops: the console says so; a server on the same port: it reconnects and
    // shows the agent again once it runs.
    running.stop().await;
    page.wait_for(r##"document.getElementById("status").textContent === "disconnected""##)
        .await;
    let again = serve(&addr.to_string()).await;
    page.wait_for(r##"document.getElementById("status").textContent === "connected""##)
        .await;
    command(addr, "/meter/boiler", "add", "5").await;
    page.wait_for(r##"document.querySelector("#lane-level .value")?.textContent === "5""##)
        .await;
    drop(page);
    again.stop().await;
    drop(browser);
}

/// Decodes standard base64 (the screenshot DevTools sends).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = text.bytes().filter(|c| *c != b'=').map(value).collect();
    bytes
        .chunks(4)
        .flat_map(|chunk| {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, v)| n | (u32::from(*v) << (18 - 6 * i)));
            let len = chunk.len().saturating_sub(1);
            (0..len).map(move |i| (n >> (16 - 8 * i)) as u8)
        })
        .collect()
}
