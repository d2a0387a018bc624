//! Where finished files go: renamed into place in a local directory, or uploaded to object
//! storage from a local staging directory.
//!
//! A file is written under a hidden `.inprogress` name and becomes visible only once complete:
//! by an atomic rename locally, by a single `put` (atomic in S3-compatible stores) remotely.
//! Remotely, a finished file waits in staging as `.ready` until its upload succeeds, so an
//! unreachable store delays files instead of losing them, also across restarts.

use std::path::{Path, PathBuf};

use object_store::{ObjectStoreExt, PutPayload};
use spider_collector::ComponentError;
use spider_lake::{Lake, LakeConfig};

/// Suffix of a file being written.
pub const IN_PROGRESS: &str = ".inprogress";
/// Suffix of a finished file waiting in staging for its upload.
const READY: &str = ".ready";

/// The place datasets are written to.
pub enum Destination {
    /// A local directory (the default).
    Local {
        /// Dataset root.
        root: PathBuf,
    },
    /// An object store, with files staged locally until uploaded.
    Remote {
        /// The store and where in it the datasets go.
        lake: Lake,
        /// Local staging directory.
        staging: PathBuf,
    },
}

impl Destination {
    /// A local destination.
    pub fn local(root: impl Into<PathBuf>) -> Self {
        Self::Local { root: root.into() }
    }

    /// An object-store destination (`s3://bucket/prefix`, `gs://…`, `az://…`), files staged in
    /// `staging` until uploaded.
    pub fn remote(lake: &LakeConfig, staging: PathBuf) -> Result<Self, ComponentError> {
        let opened = lake
            .open()
            .map_err(|e| ComponentError::new(e.to_string()))?;
        Ok(Self::Remote {
            lake: opened,
            staging,
        })
    }

    /// The local directory files are written in.
    fn work_dir(&self) -> &Path {
        match self {
            Destination::Local { root } => root,
            Destination::Remote { staging, .. } => staging,
        }
    }

    /// Where to write `name` in `dir` (relative) while it is in progress.
    pub fn in_progress_path(&self, dir: &str, name: &str) -> PathBuf {
        self.work_dir()
            .join(dir)
            .join(format!(".{name}{IN_PROGRESS}"))
    }

    /// Makes a finished in-progress file visible as `dir/name`.
    pub async fn publish(&self, finished: &Path, dir: &str, name: &str) -> std::io::Result<()> {
        match self {
            Destination::Local { root } => rename_durably(finished, &root.join(dir).join(name)),
            Destination::Remote { staging, .. } => {
                let ready = staging.join(dir).join(format!("{name}{READY}"));
                rename_durably(finished, &ready)?;
                self.upload_ready().await.map(|_| ())
            }
        }
    }

    /// Uploads every file waiting in staging; returns how many went up.
    pub async fn upload_ready(&self) -> std::io::Result<usize> {
        let Destination::Remote { lake, staging } = self else {
            return Ok(0);
        };
        let store = lake.store();
        let mut uploaded = 0;
        for ready in files_ending(staging, READY) {
            let relative = ready
                .strip_prefix(staging)
                .unwrap_or(&ready)
                .to_string_lossy();
            let key = relative.trim_end_matches(READY);
            let location = lake.key(key);
            let bytes = tokio::fs::read(&ready).await?;
            store
                .put(&location, PutPayload::from(bytes))
                .await
                .map_err(|e| std::io::Error::other(format!("upload of {key} to {lake}: {e}")))?;
            tokio::fs::remove_file(&ready).await?;
            uploaded += 1;
        }
        Ok(uploaded)
    }

    /// Deletes in-progress files that a killed writer of this host left behind; returns how many.
    /// Files of other hosts' writers are theirs: agents on several nodes can share one volume.
    pub fn remove_leftovers(&self, host: &str) -> usize {
        files_ending(self.work_dir(), IN_PROGRESS)
            .into_iter()
            .filter(|path| {
                path.file_name()
                    .is_some_and(|name| written_by(&name.to_string_lossy(), host))
            })
            .filter(|path| std::fs::remove_file(path).is_ok())
            .count()
    }

    /// Where the datasets can be read, for messages.
    pub fn describe(&self) -> String {
        match self {
            Destination::Local { root } => root.display().to_string(),
            Destination::Remote { lake, .. } => lake.to_string(),
        }
    }
}

/// Files below `dir` whose name ends with `suffix` (published `.parquet`, `.inprogress`, staged
/// `.ready`), sorted.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Whether an in-progress file name (`.NAME.inprogress`, NAME a
/// [`data_file_name`](spider_records::catalog::data_file_name)) is `host`'s, and not that of a
/// host whose name merely starts the same way (`node` and `node-1`).
fn written_by(name: &str, host: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|rest| rest.strip_suffix(IN_PROGRESS))
        .and_then(spider_records::catalog::writer_of)
        == Some(host)
}

/// Renames a file (already synced) and syncs the directory that now holds it, so that after a
/// power loss the file is either there whole or not there at all.
fn rename_durably(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)?;
    match to.parent() {
        Some(directory) => std::fs::File::open(directory)?.sync_all(),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::written_by;

    #[test]
    fn leftovers_are_told_apart_by_their_writer_host() {
        let name = ".node-1-42-1763700000000-000001.parquet.inprogress";
        assert!(written_by(name, "node-1"));
        assert!(!written_by(name, "node"));
        assert!(!written_by(name, "node-10"));
        assert!(!written_by(
            ".node-1-42-x-000001.parquet.inprogress",
            "node-1"
        ));
        assert!(!written_by("node-1-42-1-1.parquet", "node-1"));
    }
}
