//! The keys AuthService signs access tokens with: a key set, one Ed25519 private key per
//! line (64 hex digits; blank lines and `#` comments allowed). The first key signs; every
//! key's public half is published at `/.well-known/jwks.json` and accepted. So a new key
//! is rolled in by adding it second (verifiers learn it), then moving it first (it signs),
//! then, once the old key's tokens have expired, removing the old one.
//!
//! Deployed, the set comes from a file every AuthService process reads (a Kubernetes
//! Secret, `--signing-keys`); embedded, from the data directory, where a set of one key is
//! made on first start (owner-only), so tokens issued before a restart stay valid after it.

use std::path::Path;

use anyhow::Context;
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::rngs::OsRng;

pub const KEY_FILE: &str = "jwt-ed25519.key";

/// A key set: at least one key; the first signs.
#[derive(Clone)]
pub struct SigningKeys {
    keys: Vec<SigningKey>,
}

impl SigningKeys {
    /// The key new tokens are signed with.
    pub fn signing(&self) -> &SigningKey {
        &self.keys[0]
    }

    /// Every key's public half: what verifiers accept.
    pub fn verifying(&self) -> Vec<VerifyingKey> {
        self.keys.iter().map(SigningKey::verifying_key).collect()
    }

    /// Reads a key set from `text`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = parse_key(line).with_context(|| format!("line {}", n + 1))?;
            keys.push(key);
        }
        anyhow::ensure!(!keys.is_empty(), "the key set holds no key");
        Ok(SigningKeys { keys })
    }

    /// Reads the key set in the file at `path`.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let text = std::str::from_utf8(&text)
            .map_err(|_| anyhow::anyhow!("the key set is not text"))
            .and_then(Self::parse)
            .with_context(|| format!("reading the key set {}", path.display()))?;
        Ok(text)
    }

    /// Loads the key set of the data directory `dir`, or makes one of one key and saves it.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(KEY_FILE);
        if path.exists() {
            return Self::from_file(&path);
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let key = SigningKey::generate(&mut OsRng);
        let tmp = dir.join(format!("{KEY_FILE}.tmp"));
        write_private(&tmp, &format!("{}\n", hex(&key.to_bytes())))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("saving {}", path.display()))?;
        tracing::info!(path = %path.display(), "generated a new token signing key");
        Ok(SigningKeys { keys: vec![key] })
    }
}

/// One key: 64 hex digits, the 32 bytes of an Ed25519 seed.
fn parse_key(text: &str) -> anyhow::Result<SigningKey> {
    anyhow::ensure!(
        text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()),
        "a key is 64 hex digits"
    );
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        // ASCII hex digits only, checked above: every slice falls on characters.
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).context("not hex")?;
    }
    Ok(SigningKey::from_bytes(&seed))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let first = SigningKeys::load_or_create(dir.path()).unwrap();
        let second = SigningKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(first.signing().to_bytes(), second.signing().to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key file is readable by others");
        }
    }

    #[test]
    fn the_first_key_of_a_set_signs_and_every_key_verifies() {
        let set = format!(
            "# rolled in on 2026-12-01\n{}\n\n{}\n",
            "ab".repeat(32),
            "01".repeat(32)
        );
        let keys = SigningKeys::parse(&set).unwrap();
        assert_eq!(keys.signing().to_bytes(), [0xab; 32]);
        let verifying = keys.verifying();
        assert_eq!(verifying.len(), 2);
        assert_eq!(
            verifying[1],
            SigningKey::from_bytes(&[1; 32]).verifying_key()
        );
    }

    /// A key file whose bytes are not ASCII hex (here: 64 bytes, some of them in
    /// multi-byte characters) is a clear error at start, naming the file; it used to
    /// panic on slicing inside a character.
    #[test]
    fn a_key_file_that_is_not_hex_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        for bad in [
            // A character of two bytes across the first pair of digits: the slicing of
            // the old parser panicked here.
            format!("a\u{e9}{}", "a".repeat(61)).into_bytes(),
            format!("é{}", "a".repeat(62)).into_bytes(),
            vec![0xff; 64],
            "zz".repeat(32).into_bytes(),
            b"abcd".to_vec(),
            b"# only a comment\n".to_vec(),
        ] {
            std::fs::write(&path, &bad).unwrap();
            let err = match SigningKeys::load_or_create(dir.path()) {
                Ok(_) => panic!("{bad:?} read as a key"),
                Err(e) => format!("{e:#}"),
            };
            assert!(err.contains(KEY_FILE), "{err}");
        }
    }
}
