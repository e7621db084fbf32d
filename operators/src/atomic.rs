//! Atomic file writes: write to a temp name beside the target, fsync, rename.

use std::path::{Path, PathBuf};

/// The temp name used while `path` is being written (same directory, so rename is atomic).
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Finishes an atomic write: renames `tmp` onto `path` if writing succeeded, else removes `tmp`.
pub fn commit(result: std::io::Result<()>, tmp: &Path, path: &Path) -> std::io::Result<()> {
    match result.and_then(|()| std::fs::rename(tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(tmp);
            Err(e)
        }
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    commit(result, &tmp, path)
}

/// Removes the file at `path`; one that is not there is no error (another process sharing the
/// directory may have removed it first). An error names the file.
pub fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(std::io::Error::new(e.kind(), format!("removing {}: {e}", path.display())))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_whole_files_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write(&path, b"first").unwrap();
        write(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert!(!path.exists());
        let error = remove(dir.path()).expect_err("a directory is not a file").to_string();
        assert!(error.starts_with(&format!("removing {}: ", dir.path().display())), "{error}");
    }
}
