//! Secrets for a single node on the embedded store. Whatever of
//! `RELAY_JWT_SECRET` and `RELAY_DATA_KEY` is not given is generated on
//! first start into `<data dir>/secrets` (owner-only) and read back on every
//! start after, so tokens and sealed data survive restarts with nothing to
//! configure. That file and the database belong together in every backup,
//! and whoever reads the file can open the database.

use std::fs::{OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

pub const FILE: &str = "secrets";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeSecrets {
    pub jwt_secret: String,
    pub data_key: String,
}

/// The secrets in `dir`, created if there are none; `true` when created now.
pub fn load_or_create(dir: &Path) -> Result<(NodeSecrets, bool), String> {
    let path = dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let secrets = toml::from_str(&text)
                .map_err(|e| format!("{}: {}", path.display(), e.message()))?;
            Ok((secrets, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secrets = NodeSecrets {
                jwt_secret: hex_random(),
                data_key: base64::engine::general_purpose::STANDARD
                    .encode(rand::random::<[u8; 32]>()),
            };
            write_private(&path, &secrets).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok((secrets, true))
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn hex_random() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Written to a new file (mode 0600 from the start) and synced, then renamed
/// into place, so a crash leaves either no file or a whole one.
fn write_private(path: &PathBuf, secrets: &NodeSecrets) -> std::io::Result<()> {
    let text = format!(
        "# Caucus node secrets: keep with the database, back up, never share.\n{}",
        toml::to_string(secrets).map_err(std::io::Error::other)?
    );
    let tmp = path.with_extension("new");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.set_permissions(Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_created_once_owner_only_and_read_back() {
        let dir = std::env::temp_dir().join(format!("caucus-secrets-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let (first, created) = load_or_create(&dir).unwrap();
        assert!(created);
        let mode = std::fs::metadata(dir.join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, created) = load_or_create(&dir).unwrap();
        assert!(!created);
        assert_eq!(first.jwt_secret, again.jwt_secret);
        assert_eq!(first.data_key, again.data_key);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
