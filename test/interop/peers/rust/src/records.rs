//! Record validation as PROTOCOL.md asks for it: the `/test` namespace
//! (`v<digits>:<text>`, highest version wins, see
//! test/interop/support/validator.ts) and `/pk` (the value is the public key
//! whose peer ID is the key's multihash). `/ipns` is not validated here:
//! rust-libp2p has no IPNS support, so those records are refused as
//! "unsupported".
//!
//! Inbound PUT_VALUE records reach the program (`StoreInserts::FilterBoth`),
//! which stores them in a [`ValidatingStore`]; kad itself then answers with
//! the usual echo, also for a record the store refused. The store could
//! refuse records itself under `StoreInserts::Unfiltered`, but kad 0.49 then
//! leaves the refused request's stream open for as long as the connection
//! lives (its reset never wakes the stream), and after 32 of them it drops
//! every new DHT stream of that connection.

use std::borrow::Cow;

use libp2p::{
    PeerId,
    identity::PublicKey,
    kad::{
        ProviderRecord, Record, RecordKey,
        store::{Error as StoreError, MemoryStore, RecordStore, Result as StoreResult},
    },
};

/// The version of a `/test` value, `None` unless it is `v<1 to 9 digits>:…`.
pub fn version_of(value: &[u8]) -> Option<u64> {
    let rest = value.strip_prefix(b"v")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 9 || rest.get(digits) != Some(&b':') {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Whether `value` is a valid record value for `key`, with the reason when not.
pub fn validate(key: &[u8], value: &[u8]) -> Result<(), String> {
    if key.starts_with(b"/test/") {
        return match version_of(value) {
            Some(_) => Ok(()),
            None => Err("value is not v<version>:<text>".into()),
        };
    }
    if let Some(multihash) = key.strip_prefix(b"/pk/") {
        let peer = PeerId::from_bytes(multihash)
            .map_err(|_| "key is not /pk/<peer id multihash>".to_string())?;
        let public = PublicKey::try_decode_protobuf(value)
            .map_err(|_| "value is not a public key".to_string())?;
        return if public.to_peer_id() == peer {
            Ok(())
        } else {
            Err("public key does not match the key".into())
        };
    }
    if key.starts_with(b"/ipns/") {
        return Err("unsupported".into());
    }
    Err("no validator for this namespace".into())
}

/// The index of the best of `values` for `key`: the first of the highest
/// `/test` version (an invalid value never wins); the first for other
/// namespaces, whose valid records are all equal (`/pk`).
pub fn select(key: &[u8], values: &[&[u8]]) -> usize {
    if !key.starts_with(b"/test/") {
        return 0;
    }
    let mut best = 0;
    for (i, value) in values.iter().enumerate().skip(1) {
        let rank = |v: &[u8]| version_of(v).map_or(-1, |n| n as i64);
        if rank(value) > rank(values[best]) {
            best = i;
        }
    }
    best
}

/// A memory store that refuses records [`validate`] rejects and keeps a
/// stored record that is better than a new one (as go-libp2p-kad-dht does).
/// Local puts go through it too.
pub struct ValidatingStore {
    inner: MemoryStore,
}

impl ValidatingStore {
    pub fn new(local: PeerId) -> Self {
        Self {
            inner: MemoryStore::new(local),
        }
    }
}

impl RecordStore for ValidatingStore {
    type RecordsIter<'a> = <MemoryStore as RecordStore>::RecordsIter<'a>;
    type ProvidedIter<'a> = <MemoryStore as RecordStore>::ProvidedIter<'a>;

    fn get(&self, key: &RecordKey) -> Option<Cow<'_, Record>> {
        self.inner.get(key)
    }

    fn put(&mut self, record: Record) -> StoreResult<()> {
        if let Err(reason) = validate(record.key.as_ref(), &record.value) {
            eprintln!(
                "refusing record {:?}: {reason}",
                String::from_utf8_lossy(record.key.as_ref())
            );
            // the store's error type has no "invalid" case
            return Err(StoreError::ValueTooLarge);
        }
        if let Some(stored) = self.inner.get(&record.key) {
            let key = record.key.to_vec();
            if select(&key, &[&record.value, &stored.value]) == 1 {
                // the stored record wins (kad has echoed the one it was sent)
                return Ok(());
            }
        }
        self.inner.put(record)
    }

    fn remove(&mut self, key: &RecordKey) {
        self.inner.remove(key)
    }

    fn records(&self) -> Self::RecordsIter<'_> {
        self.inner.records()
    }

    fn add_provider(&mut self, record: ProviderRecord) -> StoreResult<()> {
        self.inner.add_provider(record)
    }

    fn providers(&self, key: &RecordKey) -> Vec<ProviderRecord> {
        self.inner.providers(key)
    }

    fn provided(&self) -> Self::ProvidedIter<'_> {
        self.inner.provided()
    }

    fn remove_provider(&mut self, key: &RecordKey, provider: &PeerId) {
        self.inner.remove_provider(key, provider)
    }
}
