//! `tidal`: talk to the lanes of any WARP server (tidal or SwimOS) from the command line.
//!
//! ```text
//! tidal sync HOST NODE LANE [--json]     the lane's state, then every event, one per line
//! tidal link HOST NODE LANE [--json]     every event from now on, one per line
//! tidal command HOST NODE LANE VALUE     send a command (VALUE is Recon: 5, "text", {a:1})
//! ```
//!
//! Events print as Recon (or JSON with `--json`). `sync` and `link` run until the link closes
//! or Ctrl-C. Example: `tidal sync ws://127.0.0.1:9001 /unit/a value`.
//!
//! HOST is `ws://`, `wss://` (TLS), `warp://` or `warps://`. `--ca-file FILE` also trusts the
//! root certificates in the PEM file FILE (for a server with a private certificate authority).

use std::process::ExitCode;

use tidal::agent::lanes::UnlinkReason;
use tidal::client::{Client, RawEvent};
use tidal::recon::{self, Item, Value};
use tidal::remote::{RemoteConfig, TlsConfig};

const USAGE: &str = "usage:
  tidal sync HOST NODE LANE [--json] [--ca-file FILE]
  tidal link HOST NODE LANE [--json] [--ca-file FILE]
  tidal command HOST NODE LANE VALUE [--ca-file FILE]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tidal: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(mut args: Vec<String>) -> Result<(), String> {
    let json = take_flag(&mut args, "--json");
    let mut config = RemoteConfig::default();
    config.max_attempts = Some(3);
    if let Some(file) = take_option(&mut args, "--ca-file")? {
        let pem = std::fs::read(&file).map_err(|err| format!("cannot read {file}: {err}"))?;
        config.tls = TlsConfig::default()
            .add_root_certificates_pem(&pem)
            .map_err(|err| format!("{file}: {err}"))?;
    }
    let client = Client::with_config(config);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["sync", host, node, lane] => follow(&client, host, node, lane, true, json).await,
        ["link", host, node, lane] => follow(&client, host, node, lane, false, json).await,
        ["command", host, node, lane, value] => command(&client, host, node, lane, value).await,
        _ => Err(USAGE.to_owned()),
    }
}

/// Removes every `flag` from `args`; whether there was one.
fn take_flag(args: &mut Vec<String>, flag: &str) -> bool {
    let before = args.len();
    args.retain(|arg| arg != flag);
    args.len() != before
}

/// Removes `name VALUE` from `args`; the value, if the option was given.
fn take_option(args: &mut Vec<String>, name: &str) -> Result<Option<String>, String> {
    let Some(at) = args.iter().position(|arg| arg == name) else {
        return Ok(None);
    };
    if at + 1 == args.len() {
        return Err(format!("{name} needs a value\n{USAGE}"));
    }
    let value = args.remove(at + 1);
    args.remove(at);
    Ok(Some(value))
}

/// What an unlink means for the user.
fn explain(host: &str, node: &str, lane: &str, reason: &UnlinkReason) -> String {
    match reason {
        UnlinkReason::NodeNotFound => format!("no agent serves the node {node} on {host}"),
        UnlinkReason::LaneNotFound => format!("the agent at {node} has no lane named {lane}"),
        UnlinkReason::Unreachable(why) => format!("cannot reach the host: {why}"),
        other => format!("the link to {node} {lane} closed: {other}"),
    }
}

async fn follow(
    client: &Client,
    host: &str,
    node: &str,
    lane: &str,
    sync: bool,
    json: bool,
) -> Result<(), String> {
    let mut link = client.raw_link(host, node, lane, sync);
    loop {
        let event = tokio::select! {
            event = link.next() => event,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        match event {
            Some(RawEvent::Event(value)) => println!(
                "{}",
                if json {
                    to_json(&value)
                } else {
                    value.to_string()
                }
            ),
            Some(RawEvent::Unlinked(UnlinkReason::Closed)) | None => return Ok(()),
            Some(RawEvent::Unlinked(reason)) => return Err(explain(host, node, lane, &reason)),
            Some(RawEvent::Linked | RawEvent::Synced) => {}
        }
    }
}

async fn command(
    client: &Client,
    host: &str,
    node: &str,
    lane: &str,
    value: &str,
) -> Result<(), String> {
    let body = recon::parse(value).map_err(|err| format!("the value is not valid Recon: {err}"))?;
    client
        .command_recon(host, node, lane, body)
        .await
        .map_err(|err| err.to_string())?;
    // Links on a connection are answered in order: once this link is answered, the command
    // before it has reached the server (and the node and lane are known to exist).
    let mut link = client.raw_link(host, node, lane, false);
    match link.next().await {
        Some(RawEvent::Linked) => Ok(()),
        Some(RawEvent::Unlinked(reason)) => Err(explain(host, node, lane, &reason)),
        _ => Err(format!("no answer from {host}")),
    }
}

/// Recon as JSON: records with only slots become objects, records with only values arrays;
/// attributes become `"@name"` entries of an object.
fn to_json(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value);
    out
}

fn write_json(out: &mut String, value: &Value) {
    match value {
        Value::Absent | Value::Extant => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::UInt(n) => out.push_str(&n.to_string()),
        Value::BigInt(n) => out.push_str(&n.to_string()),
        Value::Float(f) if f.is_finite() => out.push_str(&f.to_string()),
        Value::Float(_) => out.push_str("null"),
        Value::Text(text) => write_json_string(out, text),
        Value::Data(_) => write_json_string(out, &value.to_string()),
        Value::Record(record) => {
            let only_values = record.attrs.is_empty()
                && record
                    .items
                    .iter()
                    .all(|item| matches!(item, Item::ValueItem(_)));
            if only_values {
                out.push('[');
                for (i, item) in record.items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if let Item::ValueItem(value) = item {
                        write_json(out, value);
                    }
                }
                out.push(']');
                return;
            }
            out.push('{');
            let mut first = true;
            let mut entry = |out: &mut String, key: &str, value: &Value| {
                if !std::mem::take(&mut first) {
                    out.push(',');
                }
                write_json_string(out, key);
                out.push(':');
                write_json(out, value);
            };
            for attr in &record.attrs {
                entry(out, &format!("@{}", attr.name), &attr.value);
            }
            for (i, item) in record.items.iter().enumerate() {
                match item {
                    Item::Slot(Value::Text(key), value) => entry(out, key, value),
                    Item::Slot(key, value) => entry(out, &key.to_string(), value),
                    Item::ValueItem(value) => entry(out, &format!("${i}"), value),
                }
            }
            out.push('}');
        }
    }
}

fn write_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
