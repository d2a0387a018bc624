//! Saved queries: named sets of filter, view and time range, kept in a JSON file that is
//! replaced atomically on every change, so they survive restarts (and crashes).

use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// A saved query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedQuery {
    /// Stable id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// The view (`logical`, `physical`, …).
    pub view: String,
    /// The filter text.
    #[serde(default)]
    pub filter: String,
    /// Start of the range (RFC 3339, or relative such as `-1h` as the UI keeps it).
    pub from: String,
    /// End of the range.
    pub to: String,
}

/// What a client sends to create or change one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedQueryInput {
    /// Name.
    pub name: String,
    /// View.
    pub view: String,
    /// Filter text.
    #[serde(default)]
    pub filter: String,
    /// Range start.
    pub from: String,
    /// Range end.
    pub to: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Document {
    next_id: u64,
    queries: Vec<SavedQuery>,
}

/// The file and its contents.
pub struct SavedStore {
    path: PathBuf,
    document: Mutex<Document>,
}

impl SavedStore {
    /// Opens (or starts) the store at `path`.
    pub fn open(path: PathBuf) -> Result<Self, String> {
        let document = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Document::default(),
            Err(error) => return Err(format!("{}: {error}", path.display())),
        };
        Ok(Self {
            path,
            document: Mutex::new(document),
        })
    }

    fn save(&self, document: &Document) -> Result<(), String> {
        let write = || -> std::io::Result<()> {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let temporary = self.path.with_extension("json.tmp");
            std::fs::write(&temporary, serde_json::to_vec_pretty(document)?)?;
            std::fs::rename(&temporary, &self.path)
        };
        write().map_err(|e| format!("cannot save {}: {e}", self.path.display()))
    }

    fn change<T>(
        &self,
        edit: impl FnOnce(&mut Document) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut document = self
            .document
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let result = edit(&mut document)?;
        self.save(&document)?;
        Ok(result)
    }

    /// Every saved query, oldest first.
    pub fn list(&self) -> Vec<SavedQuery> {
        self.document
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .queries
            .clone()
    }

    /// Saves a new query.
    pub fn create(&self, input: SavedQueryInput) -> Result<SavedQuery, String> {
        self.change(|document| {
            document.next_id += 1;
            let query = SavedQuery {
                id: document.next_id,
                name: input.name,
                view: input.view,
                filter: input.filter,
                from: input.from,
                to: input.to,
            };
            document.queries.push(query.clone());
            Ok(query)
        })
    }

    /// Replaces a query (renaming it, say); `None` when there is no such id.
    pub fn update(&self, id: u64, input: SavedQueryInput) -> Result<Option<SavedQuery>, String> {
        self.change(|document| {
            let Some(query) = document.queries.iter_mut().find(|q| q.id == id) else {
                return Ok(None);
            };
            *query = SavedQuery {
                id,
                name: input.name,
                view: input.view,
                filter: input.filter,
                from: input.from,
                to: input.to,
            };
            Ok(Some(query.clone()))
        })
    }

    /// Deletes a query; false when there is no such id.
    pub fn delete(&self, id: u64) -> Result<bool, String> {
        self.change(|document| {
            let before = document.queries.len();
            document.queries.retain(|q| q.id != id);
            Ok(document.queries.len() < before)
        })
    }
}
