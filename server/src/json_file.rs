//! A JSON document kept in one file for the server's own state (saved queries, capture
//! requests): read once at start, replaced atomically (temporary file + rename) on every change,
//! so it survives restarts and crashes whole.

use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a store refused a change (a 400 or a 409), or why it could not keep it.
#[derive(Debug)]
pub enum Refused {
    /// The client asked for something wrong.
    Invalid(String),
    /// The request is right but the store is at a limit (active captures, an ended capture, saved queries).
    Busy(String),
    /// The file could not be written.
    Storage(StoreError),
}

/// A store's file that could not be read at start, or saved after a change.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// It exists but is not the JSON document, or cannot be read.
    #[error("{}: {reason}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The change could not be written; the document in memory holds it, the file does not.
    #[error("cannot save {}: {reason}", path.display())]
    Unsaved {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The file and the document it holds.
pub struct JsonFile<D> {
    path: PathBuf,
    document: Mutex<D>,
}

impl<D: Default + Serialize + DeserializeOwned> JsonFile<D> {
    /// Opens the file at `path`, or starts an empty document when there is none.
    pub fn open(path: PathBuf) -> Result<Self, StoreError> {
        let unreadable = |reason: String| StoreError::Unreadable {
            path: path.clone(),
            reason,
        };
        let document = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => D::default(),
            Err(error) => return Err(unreadable(error.to_string())),
        };
        Ok(Self {
            path,
            document: Mutex::new(document),
        })
    }

    fn save(&self, document: &D) -> Result<(), StoreError> {
        let write = || -> std::io::Result<()> {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let temporary = self.path.with_extension("json.tmp");
            std::fs::write(&temporary, serde_json::to_vec_pretty(document)?)?;
            std::fs::rename(&temporary, &self.path)
        };
        write().map_err(|e| StoreError::Unsaved {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }

    /// Reads the document.
    pub fn read<T>(&self, look: impl FnOnce(&D) -> T) -> T {
        look(&self.document.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Changes the document and saves it; `edit`'s answer is returned once it is saved.
    pub fn change<T>(&self, edit: impl FnOnce(&mut D) -> T) -> Result<T, StoreError> {
        let mut document = self
            .document
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let result = edit(&mut document);
        self.save(&document)?;
        Ok(result)
    }
}
