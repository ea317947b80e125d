//! `rawRequest`: write bytes as they are on a new DHT stream (opened with
//! libp2p-stream beside kad, which only handles inbound DHT streams) and
//! read what comes back until the remote ends the stream.

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::Control;

/// At most this much of an answer is kept.
const MAX_RESPONSE: usize = 1024 * 1024;

/// What the opener saw: the bytes the remote wrote and whether the stream
/// ended with a reset (any read error) rather than a clean close.
pub struct Outcome {
    pub response: Vec<u8>,
    pub reset: bool,
}

/// Opens a stream, writes `bytes`, closes the writing side and reads until
/// the remote closes or resets the stream (or 1 MiB came back).
pub async fn exchange(
    mut control: Control,
    peer: PeerId,
    protocol: StreamProtocol,
    bytes: Vec<u8>,
) -> Result<Outcome, String> {
    let mut stream = control
        .open_stream(peer, protocol)
        .await
        .map_err(|e| format!("open stream: {e}"))?;
    if stream.write_all(&bytes).await.is_err() || stream.close().await.is_err() {
        // the remote reset the stream before taking all the bytes
        return Ok(Outcome {
            response: Vec::new(),
            reset: true,
        });
    }
    let mut response = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) => {
                return Ok(Outcome {
                    response,
                    reset: false,
                });
            }
            Ok(n) => {
                let room = MAX_RESPONSE - response.len();
                response.extend_from_slice(&chunk[..n.min(room)]);
                if response.len() == MAX_RESPONSE {
                    return Ok(Outcome {
                        response,
                        reset: false,
                    });
                }
            }
            Err(_) => {
                return Ok(Outcome {
                    response,
                    reset: true,
                });
            }
        }
    }
}
