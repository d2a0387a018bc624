//! Saved queries: named sets of filter, view and time range, kept in the server's JSON file
//! `saved_queries.json`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::json_file::JsonFile;

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

/// The saved queries' file.
pub struct SavedStore {
    file: JsonFile<Document>,
}

impl SavedStore {
    /// Opens (or starts) the store at `path`.
    pub fn open(path: PathBuf) -> Result<Self, String> {
        Ok(Self {
            file: JsonFile::open(path)?,
        })
    }

    fn change<T>(
        &self,
        edit: impl FnOnce(&mut Document) -> Result<T, String>,
    ) -> Result<T, String> {
        self.file.change(edit)
    }

    /// Every saved query, oldest first.
    pub fn list(&self) -> Vec<SavedQuery> {
        self.file.read(|document| document.queries.clone())
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
