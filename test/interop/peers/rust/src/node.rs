//! The libp2p host (TCP, Noise, Yamux, Identify, Ping, Kademlia) and the
//! requests of the line protocol, each answered when its kad query ends.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm,
    core::{Endpoint, multiaddr::Protocol},
    identify,
    identity::Keypair,
    kad::{
        self, GetProvidersOk, GetRecordError, GetRecordOk, Mode, ProgressStep, QueryId,
        QueryResult, Quorum, Record, RecordKey, store::RecordStore,
    },
    noise, ping,
    swarm::{
        ConnectionId, DialError, NetworkBehaviour, SwarmEvent,
        dial_opts::{DialOpts, PeerCondition},
    },
    tcp, yamux,
};
use serde_json::{Value, json};

use crate::{cid, emit, raw, records};

/// Every operation's deadline (PROTOCOL.md).
const DEADLINE: Duration = Duration::from_secs(30);

/// kad's own query timeout, a little shorter so its partial results arrive before the deadline.
const QUERY_TIMEOUT: Duration = Duration::from_secs(28);

/// The largest DHT message read or written, as go-libp2p-kad-dht and the other implementations allow
/// (rust-libp2p's default is 16 KiB).
const MAX_MESSAGE: usize = 4 * 1024 * 1024;

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    kad: kad::Behaviour<records::ValidatingStore>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    stream: libp2p_stream::Behaviour,
}

/// What the main loop does after a request.
#[derive(PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// The state of a request waiting for its kad query.
enum Op {
    Put,
    Get {
        key: Vec<u8>,
        found: Vec<(Option<PeerId>, Vec<u8>)>,
    },
    Provide,
    FindProviders {
        count: usize,
        providers: Vec<(PeerId, Vec<Multiaddr>)>,
    },
    FindPeer {
        target: PeerId,
    },
    ClosestPeers,
    Refresh,
}

struct Pending {
    id: Value,
    deadline: Instant,
    op: Op,
}

/// A `connect` waiting for identify to finish with its peer.
struct Connecting {
    id: Value,
    peer: PeerId,
    deadline: Instant,
}

pub struct Node {
    pub swarm: Swarm<Behaviour>,
    keypair: Keypair,
    protocol: StreamProtocol,
    streams: libp2p_stream::Control,
    ready: bool,
    pending: HashMap<QueryId, Pending>,
    connecting: Vec<Connecting>,
    /// Peers identify has reported on a connection that is still open.
    identified: HashSet<PeerId>,
    /// Listen addresses identify reported, for peers kad has no address for.
    listen_addrs: HashMap<PeerId, Vec<Multiaddr>>,
}

fn respond(id: &Value, result: Result<Value, String>) {
    match result {
        Ok(mut body) => {
            body["id"] = id.clone();
            body["ok"] = Value::Bool(true);
            emit(&body);
        }
        Err(error) => emit(&json!({"id": id, "ok": false, "error": error})),
    }
}

fn arg<'a>(request: &'a Value, name: &str) -> Result<&'a str, String> {
    request[name]
        .as_str()
        .ok_or(format!("missing string argument {name}"))
}

fn bytes_arg(request: &Value, name: &str) -> Result<Vec<u8>, String> {
    BASE64
        .decode(arg(request, name)?)
        .map_err(|e| format!("{name}: {e}"))
}

fn peer_arg(request: &Value, name: &str) -> Result<PeerId, String> {
    arg(request, name)?
        .parse()
        .map_err(|e| format!("{name}: {e}"))
}

/// An address without its `/p2p/<id>` suffix, as PROTOCOL.md writes addresses.
fn bare(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect()
}

fn addr_strings(addrs: &[Multiaddr]) -> Vec<String> {
    let mut out: Vec<String> = addrs.iter().map(|a| bare(a).to_string()).collect();
    out.sort();
    out.dedup();
    out
}

impl Node {
    pub fn start(mode: Mode, protocol: StreamProtocol, listen: Multiaddr) -> Result<Node, String> {
        let keypair = Keypair::generate_ed25519();
        let kad_protocol = protocol.clone();
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair.clone())
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| e.to_string())?
            .with_behaviour(|key| {
                let id = key.public().to_peer_id();
                let mut config = kad::Config::new(kad_protocol);
                config
                    .set_query_timeout(QUERY_TIMEOUT)
                    .set_max_packet_size(MAX_MESSAGE)
                    // peers enter the routing table only through `add_address`, called when
                    // identify reports that they serve the DHT protocol (see `identified`)
                    .set_kbucket_inserts(kad::BucketInserts::Manual)
                    // inbound records and provider records are stored by `inbound`
                    .set_record_filtering(kad::StoreInserts::FilterBoth)
                    // `get` corrects outdated peers itself
                    .set_caching(kad::Caching::Disabled);
                let mut kad =
                    kad::Behaviour::with_config(id, records::ValidatingStore::new(id), config);
                kad.set_mode(Some(mode));
                Behaviour {
                    kad,
                    identify: identify::Behaviour::new(
                        identify::Config::new("/ipfs/0.1.0".into(), key.public())
                            .with_agent_version(format!(
                                "interop-peer-rust/{}",
                                env!("CARGO_PKG_VERSION")
                            )),
                    ),
                    ping: ping::Behaviour::default(),
                    stream: libp2p_stream::Behaviour::new(),
                }
            })
            .map_err(|e| e.to_string())?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
            .build();
        swarm.listen_on(listen).map_err(|e| e.to_string())?;
        let streams = swarm.behaviour().stream.new_control();
        Ok(Node {
            swarm,
            keypair,
            protocol,
            streams,
            ready: false,
            pending: HashMap::new(),
            connecting: Vec::new(),
            identified: HashSet::new(),
            listen_addrs: HashMap::new(),
        })
    }

    fn own_addrs(&self) -> Vec<Multiaddr> {
        self.swarm.listeners().cloned().collect()
    }

    /// Every address known for `peer`: the routing table's, those of running
    /// queries (provider and closer-peer answers) and identify's.
    fn known_addrs(&mut self, peer: &PeerId) -> Vec<Multiaddr> {
        if peer == self.swarm.local_peer_id() {
            return self.own_addrs();
        }
        // kad answers the swarm's "where can I dial this peer" with exactly that list
        let mut addrs = self
            .swarm
            .behaviour_mut()
            .kad
            .handle_pending_outbound_connection(
                ConnectionId::new_unchecked(usize::MAX),
                Some(*peer),
                &[],
                Endpoint::Dialer,
            )
            .unwrap_or_default();
        addrs.extend(self.listen_addrs.get(peer).into_iter().flatten().cloned());
        addrs
    }

    fn track(&mut self, id: &Value, query: QueryId, op: Op) {
        let deadline = Instant::now() + DEADLINE;
        self.pending.insert(
            query,
            Pending {
                id: id.clone(),
                deadline,
                op,
            },
        );
    }

    /// Handles one request line.
    pub fn request(&mut self, request: Value) -> Flow {
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let cmd = request["cmd"].as_str().unwrap_or("").to_string();
        if cmd == "stop" {
            respond(&id, Ok(json!({})));
            return Flow::Stop;
        }
        if let Err(error) = self.dispatch(&id, &cmd, &request) {
            respond(&id, Err(error));
        }
        Flow::Continue
    }

    fn dispatch(&mut self, id: &Value, cmd: &str, request: &Value) -> Result<(), String> {
        let kad = &mut self.swarm.behaviour_mut().kad;
        match cmd {
            "addrs" => respond(id, Ok(json!({ "addrs": addr_strings(&self.own_addrs()) }))),
            "connect" => {
                let peer = peer_arg(request, "peer")?;
                let addrs = request["addrs"]
                    .as_array()
                    .ok_or("missing addrs")?
                    .iter()
                    .map(|a| {
                        a.as_str()
                            .unwrap_or("")
                            .parse::<Multiaddr>()
                            .map_err(|e| e.to_string())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if self.identified.contains(&peer) && self.swarm.is_connected(&peer) {
                    respond(id, Ok(json!({})));
                    return Ok(());
                }
                if !self.swarm.is_connected(&peer) {
                    let opts = DialOpts::peer_id(peer)
                        .addresses(addrs)
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build();
                    match self.swarm.dial(opts) {
                        Ok(()) | Err(DialError::DialPeerConditionFalse(_)) => {}
                        Err(e) => return Err(format!("dial: {e}")),
                    }
                }
                let deadline = Instant::now() + DEADLINE;
                self.connecting.push(Connecting {
                    id: id.clone(),
                    peer,
                    deadline,
                });
            }
            "put" => {
                let key = bytes_arg(request, "key")?;
                let value = bytes_arg(request, "value")?;
                records::validate(&key, &value)?;
                let query = kad
                    .put_record(Record::new(key, value), Quorum::One)
                    .map_err(|e| e.to_string())?;
                self.track(id, query, Op::Put);
            }
            "get" => {
                let key = bytes_arg(request, "key")?;
                let query = kad.get_record(RecordKey::new(&key));
                self.track(
                    id,
                    query,
                    Op::Get {
                        key,
                        found: Vec::new(),
                    },
                );
            }
            "provide" => {
                let key = cid::multihash_of(arg(request, "cid")?)?;
                let query = kad
                    .start_providing(RecordKey::new(&key))
                    .map_err(|e| e.to_string())?;
                self.track(id, query, Op::Provide);
            }
            "findProviders" => {
                let key = cid::multihash_of(arg(request, "cid")?)?;
                let count = request["count"].as_u64().unwrap_or(0) as usize;
                let query = kad.get_providers(RecordKey::new(&key));
                self.track(
                    id,
                    query,
                    Op::FindProviders {
                        count,
                        providers: Vec::new(),
                    },
                );
            }
            "findPeer" => {
                let target = peer_arg(request, "peer")?;
                let query = kad.get_closest_peers(target);
                self.track(id, query, Op::FindPeer { target });
            }
            "getClosestPeers" => {
                let key = bytes_arg(request, "key")?;
                let query = kad.get_closest_peers(key);
                self.track(id, query, Op::ClosestPeers);
            }
            "routingTable" => {
                let peers: Vec<String> = kad
                    .kbuckets()
                    .flat_map(|bucket| {
                        bucket
                            .iter()
                            .map(|entry| entry.node.key.preimage().to_string())
                            .collect::<Vec<_>>()
                    })
                    .collect();
                respond(id, Ok(json!({ "peers": peers })));
            }
            "refresh" => {
                let query = kad
                    .bootstrap()
                    .map_err(|_| "no known peers to refresh from".to_string())?;
                self.track(id, query, Op::Refresh);
            }
            "pkRecord" => {
                let peer = self.keypair.public().to_peer_id();
                let key = [b"/pk/".as_slice(), &peer.to_bytes()].concat();
                let record = self.keypair.public().encode_protobuf();
                respond(
                    id,
                    Ok(json!({ "key": BASE64.encode(key), "record": BASE64.encode(record) })),
                );
            }
            "ipnsRecord" => return Err("unsupported".into()),
            "validate" => {
                let key = bytes_arg(request, "key")?;
                let value = bytes_arg(request, "value")?;
                let body = match records::validate(&key, &value) {
                    Ok(()) => json!({ "valid": true }),
                    Err(error) => json!({ "valid": false, "error": error }),
                };
                respond(id, Ok(body));
            }
            "rawRequest" => {
                let peer = peer_arg(request, "peer")?;
                let bytes = bytes_arg(request, "bytes")?;
                let (id, streams, protocol) =
                    (id.clone(), self.streams.clone(), self.protocol.clone());
                tokio::spawn(async move {
                    let exchange = raw::exchange(streams, peer, protocol, bytes);
                    let result = match tokio::time::timeout(DEADLINE, exchange).await {
                        Ok(Ok(outcome)) => Ok(
                            json!({ "response": BASE64.encode(outcome.response), "reset": outcome.reset }),
                        ),
                        Ok(Err(error)) => Err(error),
                        Err(_) => Err("timeout: the stream stayed open for 30 s".into()),
                    };
                    respond(&id, result);
                });
            }
            other => return Err(format!("unknown command {other:?}")),
        }
        Ok(())
    }

    pub fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                // kad announces only confirmed external addresses in ADD_PROVIDER; on loopback
                // nothing would confirm one, so the listen address is declared external
                self.swarm.add_external_address(address);
                if !self.ready {
                    self.ready = true;
                    emit(&json!({
                        "event": "ready",
                        "peerId": self.swarm.local_peer_id().to_string(),
                        "addrs": addr_strings(&self.own_addrs()),
                    }));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => self.identified(peer_id, info),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result,
                step,
                ..
            })) => self.progressed(id, result, step),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::InboundRequest { request })) => {
                self.inbound(request)
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.identified.remove(&peer_id);
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                if !self.swarm.is_connected(&peer) {
                    let (failed, waiting) = std::mem::take(&mut self.connecting)
                        .into_iter()
                        .partition(|c| c.peer == peer);
                    self.connecting = waiting;
                    for connect in failed {
                        respond(&connect.id, Err(format!("dial: {error}")));
                    }
                }
            }
            _ => {}
        }
    }

    /// Identify reported on `peer`: a peer serving our DHT protocol enters
    /// (or stays in) the routing table with its listen addresses; one that
    /// does not leaves it. rust-libp2p's kad cannot learn the listen
    /// address of a peer that dialed us by itself.
    fn identified(&mut self, peer: PeerId, info: identify::Info) {
        let kad = &mut self.swarm.behaviour_mut().kad;
        if info.protocols.contains(&self.protocol) {
            for addr in &info.listen_addrs {
                kad.add_address(&peer, addr.clone());
            }
        } else {
            kad.remove_peer(&peer);
        }
        self.listen_addrs.insert(peer, info.listen_addrs);
        self.identified.insert(peer);
        let (done, waiting) = std::mem::take(&mut self.connecting)
            .into_iter()
            .partition(|c| c.peer == peer);
        self.connecting = waiting;
        for connect in done {
            respond(&connect.id, Ok(json!({})));
        }
    }

    /// Stores what a PUT_VALUE or ADD_PROVIDER brought: records only when
    /// valid and not worse than the stored one (the store decides).
    fn inbound(&mut self, request: kad::InboundRequest) {
        let store = self.swarm.behaviour_mut().kad.store_mut();
        match request {
            kad::InboundRequest::PutRecord {
                record: Some(record),
                ..
            } => {
                let _ = store.put(record);
            }
            kad::InboundRequest::AddProvider {
                record: Some(record),
            } => {
                if let Err(e) = store.add_provider(record) {
                    eprintln!("provider record not stored: {e}");
                }
            }
            _ => {}
        }
    }

    fn progressed(&mut self, query: QueryId, result: QueryResult, step: ProgressStep) {
        let Some(mut pending) = self.pending.remove(&query) else {
            return;
        };
        let answer: Option<Result<Value, String>> = match (&mut pending.op, result) {
            (Op::Put, QueryResult::PutRecord(result)) => Some(result.map(|_| json!({})).map_err(|e| e.to_string())),
            (Op::Get { found, .. }, QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(record)))) => {
                found.push((record.peer, record.record.value));
                None
            }
            (Op::Get { key, found }, QueryResult::GetRecord(result)) => {
                let timed_out = matches!(result, Err(GetRecordError::Timeout { .. }));
                let (key, found) = (std::mem::take(key), std::mem::take(found));
                Some(self.best_record(key, found, timed_out))
            }
            (Op::Provide, QueryResult::StartProviding(result)) => {
                Some(result.map(|_| json!({})).map_err(|e| e.to_string()))
            }
            (Op::FindProviders { count, providers }, QueryResult::GetProviders(result)) => {
                if let Ok(GetProvidersOk::FoundProviders { providers: found, .. }) = &result {
                    for peer in found {
                        if !providers.iter().any(|(known, _)| known == peer) {
                            let addrs = self.known_addrs(peer);
                            providers.push((*peer, addrs));
                        }
                    }
                }
                let enough = *count > 0 && providers.len() >= *count;
                if enough && let Some(mut running) = self.swarm.behaviour_mut().kad.query_mut(&query) {
                    running.finish();
                }
                if enough || step.last {
                    let list: Vec<Value> = providers
                        .iter()
                        .take(if *count > 0 { *count } else { usize::MAX })
                        .map(|(peer, addrs)| json!({ "id": peer.to_string(), "addrs": addr_strings(addrs) }))
                        .collect();
                    if result.is_err() && list.is_empty() {
                        Some(Err("timeout".into()))
                    } else {
                        Some(Ok(json!({ "providers": list })))
                    }
                } else {
                    None
                }
            }
            (Op::FindPeer { target }, QueryResult::GetClosestPeers(result)) => {
                let target = *target;
                let (peers, timed_out) = match result {
                    Ok(ok) => (ok.peers, false),
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => (peers, true),
                };
                match peers.into_iter().find(|p| p.peer_id == target) {
                    Some(info) => {
                        let mut addrs = info.addrs;
                        addrs.extend(self.known_addrs(&target));
                        Some(Ok(json!({ "peer": { "id": target.to_string(), "addrs": addr_strings(&addrs) } })))
                    }
                    None if timed_out => Some(Err("timeout".into())),
                    None => Some(Ok(json!({ "peer": null }))),
                }
            }
            (Op::ClosestPeers, QueryResult::GetClosestPeers(result)) => Some(
                result
                    .map(|ok| json!({ "peers": ok.peers.iter().map(|p| p.peer_id.to_string()).collect::<Vec<_>>() }))
                    .map_err(|e| e.to_string()),
            ),
            (Op::Refresh, QueryResult::Bootstrap(result)) => match result {
                _ if !step.last => None,
                Ok(_) => Some(Ok(json!({}))),
                Err(e) => Some(Err(e.to_string())),
            },
            (_, other) => Some(Err(format!("unexpected query result {other:?}"))),
        };
        match answer {
            Some(answer) => respond(&pending.id, answer),
            None => {
                self.pending.insert(query, pending);
            }
        }
    }

    /// The best valid record among those a `get` found; peers that
    /// answered with another record get the best one (entry correction).
    fn best_record(
        &mut self,
        key: Vec<u8>,
        found: Vec<(Option<PeerId>, Vec<u8>)>,
        timed_out: bool,
    ) -> Result<Value, String> {
        let valid: Vec<&[u8]> = found
            .iter()
            .map(|(_, value)| value.as_slice())
            .filter(|value| records::validate(&key, value).is_ok())
            .collect();
        if valid.is_empty() {
            return if timed_out {
                Err("timeout".into())
            } else {
                Ok(json!({ "value": null }))
            };
        }
        let best = valid[records::select(&key, &valid)].to_vec();
        let outdated: Vec<PeerId> = found
            .iter()
            .filter(|(_, value)| *value != best)
            .filter_map(|(peer, _)| *peer)
            .collect();
        if !outdated.is_empty() {
            let record = Record::new(key, best.clone());
            self.swarm
                .behaviour_mut()
                .kad
                .put_record_to(record, outdated.into_iter(), Quorum::All);
        }
        Ok(json!({ "value": BASE64.encode(best) }))
    }

    /// Answers every request whose deadline passed, ending its query.
    pub fn expire(&mut self) {
        let now = Instant::now();
        let expired: Vec<QueryId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(query, _)| *query)
            .collect();
        for query in expired {
            if let Some(pending) = self.pending.remove(&query) {
                if let Some(mut running) = self.swarm.behaviour_mut().kad.query_mut(&query) {
                    running.finish();
                }
                respond(&pending.id, Err("timeout: no result within 30 s".into()));
            }
        }
        let (late, waiting) = std::mem::take(&mut self.connecting)
            .into_iter()
            .partition(|c| c.deadline <= now);
        self.connecting = waiting;
        for connect in late {
            respond(
                &connect.id,
                Err("timeout: identify did not finish within 30 s".into()),
            );
        }
    }
}
