//! `tidal`: get, sync, link and command the lanes of any WARP server (tidal or SwimOS) from the
//! command line.
//!
//! ```text
//! tidal get HOST NODE LANE [--json]      the lane's state once (a map lane: the whole map)
//! tidal sync HOST NODE LANE [--json]     the lane's state, then every event, one per line
//! tidal link HOST NODE LANE [--json]     every event from now on, one per line
//! tidal command HOST NODE LANE VALUE     send a command (VALUE is Recon: 5, "text", {a:1})
//! tidal completions SHELL                a completion script for bash, zsh, fish, ...
//! ```
//!
//! For example, with `cargo run --example warp_server` running:
//!
//! ```text
//! $ tidal command ws://127.0.0.1:9001 /unit/a add 5
//! $ tidal get ws://127.0.0.1:9001 /unit/a value
//! 5
//! $ tidal get ws://127.0.0.1:9001 /unit/a map --json
//! {"k5":5}
//! ```
//!
//! Values print as Recon, or as JSON with `--json`, as `serde_json` writes the Rust value (and
//! an HTTP lane answers): a struct's `@Name` tag is left out. `get` of a command or supply lane
//! of a tidal server fails (such lanes keep no state: `link` shows their events). `sync` and
//! `link` run until the link closes or Ctrl-C. HOST is `ws://`, `wss://` (TLS), `warp://` or `warps://`; `--ca-file FILE` also
//! trusts the root certificates in the PEM file FILE (for a server with a private certificate
//! authority). The exit status is 0 on success, 2 for a usage error and 1 when the host cannot
//! be reached, the node or the lane does not exist, or VALUE is not Recon.

#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use clap_complete::Shell;
use indexmap::IndexMap;
use serde_json::{Number, Value as Json};
use tidal::agent::lanes::{ItemKind, UnlinkReason};
use tidal::client::{Client, ClientError, RawEvent};
use tidal::recon::{self, Attr, Item, Record, Value};
use tidal::remote::{RemoteConfig, TlsConfig};
use tidal::warp::{map_message_from_recon, MapMessage};

/// How many times in a row the tool tries to connect to a host before it gives up.
const MAX_ATTEMPTS: u32 = 3;

/// What `--help` says after the list of subcommands and options.
const AFTER_HELP: &str = "\
HOST is ws://, wss:// (TLS), warp:// or warps://, e.g. ws://127.0.0.1:9001.
Values print as Recon, or as JSON with --json.
Exit status: 0 on success; 1 when the host cannot be reached, the node or the lane does not
exist, or VALUE is not Recon; 2 for a usage error.";

/// Get, sync, link and command the lanes of any WARP server (tidal or SwimOS).
#[derive(Debug, Parser)]
#[command(name = "tidal", version, after_help = AFTER_HELP)]
struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    action: Action,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Action {
    /// Print the lane's state once and exit (a map lane: the whole map, as one record).
    Get(Read),
    /// Print the lane's state, then every event, one per line, until the link closes or Ctrl-C.
    Sync(Read),
    /// Print every event from now on, one per line, until the link closes or Ctrl-C.
    Link(Read),
    /// Send a command to the lane.
    Command {
        /// The lane.
        #[command(flatten)]
        target: Target,
        /// The command, in Recon: 5, -1.5, "some text", {a:1,b:2}, @clear.
        #[arg(allow_negative_numbers = true)]
        value: String,
    },
    /// Print a completion script for SHELL (e.g. `tidal completions bash > tidal.bash`).
    Completions {
        /// The shell.
        shell: Shell,
    },
}

/// The lane a subcommand talks to.
#[derive(Debug, Args)]
struct Target {
    /// The host, e.g. ws://127.0.0.1:9001.
    host: String,
    /// The node URI of the agent, e.g. /unit/a.
    node: String,
    /// The name of the lane.
    lane: String,
    /// Also trust the root certificates in this PEM file (for a wss:// server whose certificate
    /// comes from a private authority).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
}

/// A lane to read, and how to print what it sends.
#[derive(Debug, Args)]
struct Read {
    /// The lane.
    #[command(flatten)]
    target: Target,
    /// Print JSON rather than Recon.
    #[arg(long)]
    json: bool,
}

/// Parses the command line (clap exits with status 2 on a usage error, 0 after `--help`) and
/// runs the subcommand; a failure prints `tidal: <message>` and exits with status 1.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Logs on stderr: `RUST_LOG=debug tidal ...` for more. By default only errors: the tool
    // reports what went wrong itself (retries of a connection, say, are logged at `warn`).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::builder()
                .with_default_directive(tracing_subscriber::filter::LevelFilter::ERROR.into())
                .from_env_lossy(),
        )
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tidal: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Carries out the subcommand; the error says what went wrong.
async fn run(cli: Cli) -> Result<(), String> {
    match cli.action {
        Action::Get(read) => get(&client(&read.target)?, &read).await,
        Action::Sync(read) => follow(&client(&read.target)?, &read, true).await,
        Action::Link(read) => follow(&client(&read.target)?, &read, false).await,
        Action::Command { target, value } => command(&client(&target)?, &target, &value).await,
        Action::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "tidal", &mut script);
            write_out(&script).map(drop)
        }
    }
}

/// A client that gives up on a host after [`MAX_ATTEMPTS`] failed connections in a row, and
/// also trusts the root certificates in the PEM file of the target's `--ca-file`.
fn client(target: &Target) -> Result<Client, String> {
    let mut config = RemoteConfig::default();
    config.max_attempts = Some(MAX_ATTEMPTS);
    if let Some(file) = target.ca_file.as_deref() {
        let shown = file.display();
        let pem = std::fs::read(file).map_err(|err| format!("cannot read {shown}: {err}"))?;
        config.tls = TlsConfig::default()
            .add_root_certificates_pem(&pem)
            .map_err(|err| format!("{shown}: {err}"))?;
    }
    Ok(Client::with_config(config))
}

impl Target {
    /// What an unlink means for the user.
    fn explain(&self, reason: &UnlinkReason) -> String {
        let Target {
            host, node, lane, ..
        } = self;
        match reason {
            UnlinkReason::NodeNotFound => format!("no agent serves the node {node} on {host}"),
            UnlinkReason::LaneNotFound => format!("the agent at {node} has no lane named {lane}"),
            UnlinkReason::Unreachable(why) => format!("cannot reach the host: {why}"),
            other => format!("the link to {node} {lane} closed: {other}"),
        }
    }
}

/// `get`: links with `@sync`, collects what the lane sends until `@synced`, prints the state.
async fn get(client: &Client, read: &Read) -> Result<(), String> {
    let target = &read.target;
    let mut link = client.raw_link(&target.host, &target.node, &target.lane, true);
    let mut sent = Vec::new();
    loop {
        match link.next().await {
            Some(RawEvent::Event(value)) => sent.push(value),
            Some(RawEvent::Synced) => break,
            // A tidal server says what kind of lane it is: lanes that only pass events on
            // have no state to get.
            Some(RawEvent::Kind(kind @ (ItemKind::CommandLane | ItemKind::SupplyLane))) => {
                let Target { node, lane, .. } = target;
                let kind = kind.lane_type().unwrap_or("command");
                return Err(format!(
                    "the lane {lane} of {node} is a {kind} lane: it keeps no state to get; `tidal link` shows its events as they come"
                ));
            }
            Some(RawEvent::Unlinked(reason)) => return Err(target.explain(&reason)),
            Some(_) => {}
            None => return Err(format!("no answer from {}", target.host)),
        }
    }
    print_line(&State::from_sync(sent).render(read.json)).map(drop)
}

/// `sync` (with the lane's state first) and `link`: prints every event until the link closes,
/// Ctrl-C, or the reader of the output goes away.
async fn follow(client: &Client, read: &Read, sync: bool) -> Result<(), String> {
    let target = &read.target;
    let mut link = client.raw_link(&target.host, &target.node, &target.lane, sync);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let event = tokio::select! {
            event = link.next() => event,
            result = &mut interrupted => {
                return result.map_err(|err| format!("cannot watch for Ctrl-C: {err}"));
            }
        };
        match event {
            Some(RawEvent::Event(value)) => {
                if !print_line(&render(&value, read.json))? {
                    return Ok(());
                }
            }
            Some(RawEvent::Unlinked(UnlinkReason::Closed)) | None => return Ok(()),
            Some(RawEvent::Unlinked(reason)) => return Err(target.explain(&reason)),
            Some(_) => {}
        }
    }
}

/// `command`: sends `value` (Recon text) to the lane, then checks that the node and the lane
/// exist.
async fn command(client: &Client, target: &Target, value: &str) -> Result<(), String> {
    let Target {
        host, node, lane, ..
    } = target;
    let body = recon::parse(value).map_err(|err| format!("the value is not valid Recon: {err}"))?;
    client
        .command_recon(host, node, lane, body)
        .await
        .map_err(|err| match err {
            ClientError::Unreachable { reason, .. } => target.explain(&reason),
            other => other.to_string(),
        })?;
    // Links on a connection are answered in order: once this link is answered, the command
    // before it has reached the server (and the node and lane are known to exist).
    let mut link = client.raw_link(host, node, lane, false);
    loop {
        return match link.next().await {
            Some(RawEvent::Linked) => Ok(()),
            Some(RawEvent::Kind(_)) => continue,
            Some(RawEvent::Unlinked(reason)) => Err(target.explain(&reason)),
            _ => Err(format!("no answer from {host}")),
        };
    }
}

/// Prints `line` on the standard output; `false` if its reader has gone (a closed pipe).
fn print_line(line: &str) -> Result<bool, String> {
    write_out(format!("{line}\n").as_bytes())
}

/// Writes `bytes` on the standard output; `false` if its reader has gone (a closed pipe).
fn write_out(bytes: &[u8]) -> Result<bool, String> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(err) => Err(format!("cannot write the output: {err}")),
    }
}

/// A value as one line of output: Recon, or JSON if `json`.
fn render(value: &Value, json: bool) -> String {
    if json {
        to_json(value).to_string()
    } else {
        value.to_string()
    }
}

/// A lane's state, read from what the lane sends between `@linked` and `@synced`.
#[derive(Debug, PartialEq)]
enum State {
    /// A value lane's value.
    Value(Value),
    /// A map lane's entries by the Recon text of their keys, in the order they came.
    Map(IndexMap<String, (Value, Value)>),
}

impl State {
    /// The state from what the lane sent on `@sync`: a value lane sends its value, a map lane
    /// one `@update(key:K) V` per entry, and a lane without state (an empty map lane, a command
    /// lane) nothing, which reads as an empty map.
    fn from_sync(sent: Vec<Value>) -> State {
        let mut entries = IndexMap::new();
        let mut value = None;
        for event in sent {
            match map_message_from_recon(&event) {
                Ok(MapMessage::Update { key, value: item }) => {
                    entries.insert(key.to_string(), (key, item));
                }
                Ok(MapMessage::Remove { key }) => {
                    entries.shift_remove(&key.to_string());
                }
                Ok(MapMessage::Clear) => entries.clear(),
                // Lanes send no `@take`/`@drop` events: anything else is a value.
                _ => value = Some(event),
            }
        }
        value.map_or(State::Map(entries), State::Value)
    }

    /// The state as one line: a map as the record `{key:value,...}` (a JSON object).
    fn render(self, json: bool) -> String {
        match self {
            State::Value(value) => render(&value, json),
            State::Map(entries) if json => {
                let object = entries
                    .into_values()
                    .map(|(key, value)| (json_key(&key), to_json(&value)))
                    .collect();
                Json::Object(object).to_string()
            }
            State::Map(entries) => Value::of_slots(entries.into_values()).to_string(),
        }
    }
}

/// Recon as JSON, as `serde_json` writes the same Rust value (what an HTTP lane answers with
/// JSON): absent and extant values become `null`, integers too large for JSON numbers and
/// binary data (`%` + base64) become strings, non-finite floats `null`. The tag that names a
/// struct (`@Position{lat:51.5}`) is left out (`{"lat":51.5}`); an enum variant with a value
/// (`@Moving(5)`) becomes `{"Moving":5}`, one without (`@Stopped`) `"Stopped"`. Otherwise a
/// record with only value items becomes an array; any other an object, whose attributes become
/// `"@name"` entries and whose value items among slots become `"$i"` entries (`i`, the item's
/// position).
fn to_json(value: &Value) -> Json {
    match value {
        Value::Absent | Value::Extant => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(n) => Json::from(*n),
        Value::UInt(n) => Json::from(*n),
        Value::BigInt(n) => Json::String(n.to_string()),
        Value::Float(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Text(text) => Json::String(text.clone()),
        Value::Data(_) => Json::String(value.to_string()),
        Value::Record(record) => record_to_json(record),
    }
}

/// A record as JSON (see [`to_json`]).
fn record_to_json(record: &Record) -> Json {
    if let [tag] = record.attrs.as_slice() {
        let named = matches!(tag.value, Value::Extant | Value::Absent);
        match (named, record.items.is_empty()) {
            // A unit variant or unit struct.
            (true, true) => return Json::String(tag.name.clone()),
            // A struct or struct variant: its fields.
            (true, false) => return fields_to_json(&[], &record.items),
            // A variant with a value.
            (false, true) => {
                let value = to_json(&tag.value);
                return Json::Object([(tag.name.clone(), value)].into_iter().collect());
            }
            (false, false) => {}
        }
    }
    fields_to_json(&record.attrs, &record.items)
}

/// Attributes and items as JSON: an array if there are only value items, else an object.
fn fields_to_json(attrs: &[Attr], items: &[Item]) -> Json {
    let only_values =
        attrs.is_empty() && items.iter().all(|item| matches!(item, Item::ValueItem(_)));
    if only_values {
        return items
            .iter()
            .map(|(Item::ValueItem(value) | Item::Slot(_, value))| to_json(value))
            .collect();
    }
    let attrs = attrs
        .iter()
        .map(|attr| (format!("@{}", attr.name), to_json(&attr.value)));
    let items = items.iter().enumerate().map(|(i, item)| match item {
        Item::Slot(key, value) => (json_key(key), to_json(value)),
        Item::ValueItem(value) => (format!("${i}"), to_json(value)),
    });
    Json::Object(attrs.chain(items).collect())
}

/// A Recon key as the key of a JSON object: text as it is, anything else as Recon.
fn json_key(key: &Value) -> String {
    match key {
        Value::Text(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Parsing the arguments, reading map lanes' syncs, and converting to JSON.
#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `line` (Recon) into a value.
    fn recon(line: &str) -> Value {
        recon::parse(line).unwrap()
    }

    /// Reads the sync of the events `lines` (Recon) and renders the state.
    fn state(lines: &[&str], json: bool) -> String {
        State::from_sync(lines.iter().map(|line| recon(line)).collect()).render(json)
    }

    /// clap's own checks of the definition of the command line.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// `-5` is a value, not an option.
    #[test]
    fn a_command_value_may_be_negative() {
        let cli = Cli::try_parse_from(["tidal", "command", "ws://h", "/n", "l", "-5"]).unwrap();
        assert!(matches!(cli.action, Action::Command { value, .. } if value == "-5"));
    }

    /// `--ca-file` belongs to the subcommands that connect, and only to them.
    #[test]
    fn the_ca_file_goes_with_subcommands_that_connect() {
        let cli = Cli::try_parse_from(["tidal", "get", "ws://h", "/n", "l", "--ca-file", "ca.pem"])
            .unwrap();
        let Action::Get(read) = cli.action else {
            panic!("a get");
        };
        assert_eq!(read.target.ca_file, Some(PathBuf::from("ca.pem")));
        assert!(Cli::try_parse_from(["tidal", "completions", "bash", "--ca-file", "x"]).is_err());
        assert!(
            Cli::try_parse_from(["tidal", "--ca-file", "x", "get", "ws://h", "/n", "l"]).is_err()
        );
    }

    /// One value that is not a map operation is a value lane's state.
    #[test]
    fn a_value_lane_syncs_its_value() {
        assert_eq!(state(&["{a:1,b:2}"], false), "{a:1,b:2}");
        assert_eq!(state(&["@point{x:1}"], true), r#"{"x":1}"#);
    }

    /// Map operations build a map; nothing at all is an empty map.
    #[test]
    fn a_map_lane_syncs_its_entries() {
        let sync = [
            "@update(key:k5) 5",
            "@update(key:k1) 1",
            "@update(key:k5) 6",
        ];
        assert_eq!(state(&sync, false), "{k5:6,k1:1}");
        assert_eq!(state(&sync, true), r#"{"k5":6,"k1":1}"#);
        let sync = ["@update(key:1){{x}}", "@update(key:2)", "@remove(key:1)"];
        assert_eq!(state(&sync, true), r#"{"2":null}"#);
        assert_eq!(state(&[], false), "{}");
        assert_eq!(state(&[], true), "{}");
    }

    /// Records, keys, strings and numbers as JSON.
    #[test]
    fn recon_converts_to_json() {
        let json = |line: &str| to_json(&recon(line)).to_string();
        assert_eq!(json("{1,2,3}"), "[1,2,3]");
        assert_eq!(
            json("{a:1,\"b c\":true,3:x}"),
            r#"{"a":1,"b c":true,"3":"x"}"#
        );
        assert_eq!(json("{a:1,2}"), r#"{"a":1,"$1":2}"#);
        assert_eq!(json("\"line\\nbreak\""), r#""line\nbreak""#);
        assert_eq!(json("1.5"), "1.5");
        assert_eq!(json("18446744073709551615"), "18446744073709551615");
        assert_eq!(
            json("123456789012345678901234567890"),
            r#""123456789012345678901234567890""#
        );
        assert_eq!(to_json(&Value::Float(f64::NAN)), Json::Null);
        // As serde_json writes the Rust value the Recon came from.
        assert_eq!(
            json("@Position{lat:51.5,lon:-0.1}"),
            r#"{"lat":51.5,"lon":-0.1}"#
        );
        assert_eq!(json("@Stopped"), r#""Stopped""#);
        assert_eq!(json("@Moving(5)"), r#"{"Moving":5}"#);
        assert_eq!(json("@Pair{1,2}"), "[1,2]");
        // Recon beyond what serde writes keeps its attributes.
        assert_eq!(json("@a@b{x:1}"), r#"{"@a":null,"@b":null,"x":1}"#);
        assert_eq!(to_json(&Value::Extant), Json::Null);
    }
}
