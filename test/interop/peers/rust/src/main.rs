//! A rust-libp2p Kademlia peer driven over stdin/stdout with the line
//! protocol of test/interop/peers/PROTOCOL.md.
//!
//! ```text
//! interop-peer-rust --mode server|client [--protocol-prefix /ipfs] [--listen /ip4/127.0.0.1/tcp/0]
//! ```

mod cid;
mod node;
mod raw;
mod records;

use std::{io::Write, time::Duration};

use futures::StreamExt;
use libp2p::{Multiaddr, StreamProtocol, kad::Mode};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

/// The command-line options.
struct Args {
    mode: Mode,
    protocol: StreamProtocol,
    listen: Multiaddr,
}

fn parse_args() -> Result<Args, String> {
    let mut mode = None;
    let mut prefix = "/ipfs".to_string();
    let mut listen = "/ip4/127.0.0.1/tcp/0".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--mode" => {
                mode = Some(match value()?.as_str() {
                    "server" => Mode::Server,
                    "client" => Mode::Client,
                    other => return Err(format!("unknown mode {other}")),
                })
            }
            "--protocol-prefix" => prefix = value()?,
            "--listen" => listen = value()?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        mode: mode.ok_or("--mode server|client is required")?,
        protocol: StreamProtocol::try_from_owned(format!(
            "{}/kad/1.0.0",
            prefix.trim_end_matches('/')
        ))
        .map_err(|e| e.to_string())?,
        listen: listen.parse().map_err(|e| format!("--listen: {e}"))?,
    })
}

/// Writes one JSON line to stdout. Lines from the event loop and from
/// raw-request tasks never interleave: each holds the lock for its line.
pub fn emit(line: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("interop-peer-rust: {message}");
            std::process::exit(2);
        }
    };
    let mut node = match node::Node::start(args.mode, args.protocol, args.listen) {
        Ok(node) => node,
        Err(message) => {
            eprintln!("interop-peer-rust: cannot start: {message}");
            std::process::exit(1);
        }
    };

    // requests arrive on stdin, one JSON object a line; end of input stops the peer
    let (requests, mut incoming) = tokio::sync::mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(&line) {
                Ok(request) => {
                    if requests.send(request).is_err() {
                        break;
                    }
                }
                Err(e) => emit(
                    &serde_json::json!({"id": null, "ok": false, "error": format!("bad JSON: {e}")}),
                ),
            }
        }
    });

    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            request = incoming.recv() => match request {
                Some(request) => {
                    if node.request(request) == node::Flow::Stop {
                        break;
                    }
                }
                None => break,
            },
            event = node.swarm.select_next_some() => node.on_swarm_event(event),
            _ = tick.tick() => node.expire(),
        }
    }
    std::process::exit(0);
}
