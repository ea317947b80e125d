//! `rawRequest`: write bytes as they are on a new DHT stream (opened with
//! libp2p-stream beside kad, which only handles inbound DHT streams) and
//! read what comes back until the remote ends the stream or one whole frame
//! has arrived.
//!
//! rust-libp2p's yamux reads a reset stream as a clean end of input, so the
//! kind of end is told by what a write does afterwards: a stream the remote
//! only closed for writing can still be written to, a reset one cannot.

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::Control;

/// At most this much of an answer is kept.
const MAX_RESPONSE: usize = 1024 * 1024;

/// What the opener saw: the bytes the remote wrote and whether the stream
/// ended with a reset rather than a clean close.
pub struct Outcome {
    pub response: Vec<u8>,
    pub reset: bool,
}

/// The length of the first frame of `bytes` (varint prefix included) once
/// its prefix is complete.
fn frame_length(bytes: &[u8]) -> Option<usize> {
    let mut length = 0usize;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        length |= usize::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return length.checked_add(i + 1);
        }
    }
    None
}

/// Opens a stream, writes `bytes` and reads until the remote ends the
/// stream, one whole frame came back, or 1 MiB did.
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
    if stream.write_all(&bytes).await.is_err() || stream.flush().await.is_err() {
        // the remote reset the stream before taking all the bytes
        return Ok(Outcome {
            response: Vec::new(),
            reset: true,
        });
    }
    let mut response = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let whole = frame_length(&response).is_some_and(|length| response.len() >= length);
        if whole || response.len() >= MAX_RESPONSE {
            response.truncate(MAX_RESPONSE);
            let _ = stream.close().await;
            return Ok(Outcome {
                response,
                reset: false,
            });
        }
        match stream.read(&mut chunk).await {
            Ok(0) => {
                let reset = stream.write(&[]).await.is_err();
                return Ok(Outcome { response, reset });
            }
            Ok(n) => response.extend_from_slice(&chunk[..n]),
            Err(_) => {
                return Ok(Outcome {
                    response,
                    reset: true,
                });
            }
        }
    }
}
