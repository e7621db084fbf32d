//! Content hashes: of typed configs (the hash names the outputs a config produced) and of bytes
//! (a track's id when its metadata has none).

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The first 16 hex digits of the SHA-256 of `config`'s canonical JSON (fields in declaration
/// order, floats printed shortest-round-trip), so equal configs hash equally on every machine.
pub fn stable_hash<T: Serialize>(config: &T) -> String {
    let json = serde_json::to_vec(config).expect("configs are plain data and always serialise");
    hex::encode(&Sha256::digest(&json)[..8])
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Example {
        a: u32,
        b: f32,
    }

    #[test]
    fn hash_is_stable_and_content_sensitive() {
        let h = stable_hash(&Example { a: 1, b: 0.5 });
        assert_eq!(h.len(), 16);
        assert_eq!(h, stable_hash(&Example { a: 1, b: 0.5 }));
        assert_ne!(h, stable_hash(&Example { a: 2, b: 0.5 }));
        // Pinned: a change here silently renames every output directory.
        assert_eq!(h, hex::encode(&Sha256::digest(br#"{"a":1,"b":0.5}"#)[..8]));
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
