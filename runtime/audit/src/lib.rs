//! The tamper-evident audit log. Every entry is canonically encoded (`entry`) and chained:
//! its hash is SHA-256 over the previous hash and its bytes (HMAC-SHA-256 when a key is
//! configured). Checkpoints sign the Merkle tree head (RFC 6962/9162, `merkle`) with Ed25519,
//! so one entry's inclusion can be proved offline and a rewritten history is caught even when
//! its chain was recomputed. `log` appends and recovers; `verify` reads a log back and names
//! the position and kind of any change.

#![forbid(unsafe_code)]

pub mod entry;
pub mod log;
pub mod merkle;
pub mod retention;
pub mod search;
pub mod verify;

pub use entry::Entry;
pub use log::{AuditLog, LogError};

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use merkle::{Hash, hex, unhex};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The keys of a log: the checkpoint signing key, and the optional chain key.
#[derive(Clone)]
pub struct Keys {
    pub signing: SigningKey,
    pub hmac: Option<Vec<u8>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        write!(f, "Keys {{ public: {} }}", self.public_hex())
    }
}

impl Keys {
    /// From a 32-byte Ed25519 seed in hex.
    pub fn from_seed_hex(seed: &str, hmac: Option<Vec<u8>>) -> Option<Keys> {
        Some(Keys {
            signing: SigningKey::from_bytes(&unhex(seed.trim())?),
            hmac,
        })
    }

    /// A new random signing key.
    pub fn generate(hmac: Option<Vec<u8>>) -> Keys {
        Keys {
            signing: SigningKey::generate(&mut rand_core::OsRng),
            hmac,
        }
    }

    /// The signing key's seed, hex (to store it).
    pub fn seed_hex(&self) -> String {
        hex(&self.signing.to_bytes())
    }

    /// The public key, hex: what `vigil audit verify --key` takes.
    pub fn public_hex(&self) -> String {
        hex(self.signing.verifying_key().as_bytes())
    }
}

/// The chain: `SHA-256(prev || entry)`, or `HMAC-SHA-256(key, prev || entry)`.
pub fn chain(keys: &Keys, prev: &Hash, entry: &[u8]) -> Hash {
    chain_with(keys.hmac.as_deref(), prev, entry)
}

/// [`chain`] with just the optional HMAC key (what a verifier has).
pub fn chain_with(hmac: Option<&[u8]>, prev: &Hash, entry: &[u8]) -> Hash {
    match hmac {
        Some(k) => {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(k).expect("HMAC takes any key");
            m.update(prev);
            m.update(entry);
            m.finalize().into_bytes().into()
        }
        None => {
            let mut h = Sha256::new();
            h.update(prev);
            h.update(entry);
            h.finalize().into()
        }
    }
}

/// A signed tree head: the log's first `size` entries have Merkle root `root` and chain hash
/// `head`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub size: u64,
    pub root: String,
    pub head: String,
    pub ts: i64,
    /// The signer's public key, hex.
    pub key: String,
    /// Ed25519 over [`Checkpoint::message`], hex.
    pub sig: String,
}

impl Checkpoint {
    /// The signed bytes.
    pub fn message(size: u64, root: &str, head: &str, ts: i64) -> Vec<u8> {
        format!("vigil-audit-checkpoint\nsize {size}\nroot {root}\nhead {head}\nts {ts}\n")
            .into_bytes()
    }

    pub fn sign(keys: &Keys, size: u64, root: Hash, head: Hash, ts: i64) -> Checkpoint {
        let (root, head) = (hex(&root), hex(&head));
        let sig = keys
            .signing
            .sign(&Checkpoint::message(size, &root, &head, ts));
        Checkpoint {
            size,
            root,
            head,
            ts,
            key: keys.public_hex(),
            sig: hex(&sig.to_bytes()),
        }
    }

    /// The signature holds for `public` (hex).
    pub fn verify_signature(&self, public: &str) -> bool {
        let Some(pk) = unhex(public).and_then(|b| VerifyingKey::from_bytes(&b).ok()) else {
            return false;
        };
        let Some(sig) = sig_bytes(&self.sig) else {
            return false;
        };
        pk.verify(
            &Checkpoint::message(self.size, &self.root, &self.head, self.ts),
            &ed25519_dalek::Signature::from_bytes(&sig),
        )
        .is_ok()
    }
}

pub(crate) fn sig_bytes(s: &str) -> Option<[u8; 64]> {
    if s.len() != 128 {
        return None;
    }
    let mut out = [0u8; 64];
    let (a, b) = s.split_at(64);
    out[..32].copy_from_slice(&unhex(a)?);
    out[32..].copy_from_slice(&unhex(b)?);
    Some(out)
}
