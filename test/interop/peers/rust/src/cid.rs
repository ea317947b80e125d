//! Just enough CID parsing to find the multihash a provider record is keyed
//! by: CIDv0 (`Qm…`, base58btc multihash) and CIDv1 in base32 (`b…`, `B…`)
//! or base58btc (`z…`).

fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(9) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

fn base32(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let digit = ALPHABET.iter().position(|&a| a == c.to_ascii_lowercase())? as u32;
        buffer = (buffer << 5) | digit;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn check_multihash(bytes: &[u8]) -> Result<(), String> {
    let (_, rest) = varint(bytes).ok_or("bad multihash code")?;
    let (len, digest) = varint(rest).ok_or("bad multihash length")?;
    if digest.len() as u64 != len {
        return Err("multihash length does not match its digest".into());
    }
    Ok(())
}

/// The multihash bytes of the CID written as `text`.
pub fn multihash_of(text: &str) -> Result<Vec<u8>, String> {
    if text.len() == 46 && text.starts_with("Qm") {
        let multihash = bs58::decode(text).into_vec().map_err(|e| e.to_string())?;
        check_multihash(&multihash)?;
        return Ok(multihash);
    }
    let bytes = match text.chars().next() {
        Some('b') | Some('B') => base32(&text[1..]).ok_or("bad base32")?,
        Some('z') => bs58::decode(&text[1..])
            .into_vec()
            .map_err(|e| e.to_string())?,
        _ => return Err(format!("unsupported CID encoding: {text}")),
    };
    let (version, rest) = varint(&bytes).ok_or("bad CID version")?;
    if version != 1 {
        return Err(format!("unsupported CID version {version}"));
    }
    let (_codec, multihash) = varint(rest).ok_or("bad CID codec")?;
    check_multihash(multihash)?;
    Ok(multihash.to_vec())
}
