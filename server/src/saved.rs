//! Saved queries: named sets of filter, view and time range, kept in the server's JSON file
//! `saved_queries.json`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::json_file::{JsonFile, Refused, StoreError};
use spider_query::filter::MAX_FILTER_BYTES;

/// A saved query: its id and what the client gave, stored and answered as one flat object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedQuery {
    /// Stable id.
    pub id: u64,
    /// The rest of it. (Flattened, the input's `deny_unknown_fields` only governs what a
    /// client sends, not the stored file.)
    #[serde(flatten)]
    pub query: SavedQueryInput,
}

/// The most saved queries kept.
pub const MAX_SAVED_QUERIES: usize = 1_000;
/// The longest name of a saved query, in bytes.
pub const MAX_SAVED_NAME_BYTES: usize = 200;
/// The longest `from` or `to`, in bytes.
const MAX_INSTANT_BYTES: usize = 64;

/// What a client sends to create or change one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedQueryInput {
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

impl SavedQueryInput {
    /// Whether it could be kept: a name, and every field within its size.
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a saved query needs a name".into());
        }
        for (field, value, longest) in [
            ("name", &self.name, MAX_SAVED_NAME_BYTES),
            ("view", &self.view, MAX_INSTANT_BYTES),
            ("filter", &self.filter, MAX_FILTER_BYTES),
            ("from", &self.from, MAX_INSTANT_BYTES),
            ("to", &self.to, MAX_INSTANT_BYTES),
        ] {
            if value.len() > longest {
                return Err(format!("{field} must be at most {longest} bytes"));
            }
        }
        Ok(())
    }
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
    pub fn open(path: PathBuf) -> Result<Self, StoreError> {
        Ok(Self {
            file: JsonFile::open(path)?,
        })
    }

    fn change<T>(&self, edit: impl FnOnce(&mut Document) -> T) -> Result<T, StoreError> {
        self.file.change(edit)
    }

    /// Every saved query, oldest first.
    pub fn list(&self) -> Vec<SavedQuery> {
        self.file.read(|document| document.queries.clone())
    }

    /// Saves a new query, unless [`MAX_SAVED_QUERIES`] are saved already.
    pub fn create(&self, input: SavedQueryInput) -> Result<SavedQuery, Refused> {
        let created = self.change(|document| {
            if document.queries.len() >= MAX_SAVED_QUERIES {
                return Err(Refused::Busy(format!(
                    "{MAX_SAVED_QUERIES} queries are saved, the most kept: delete one first"
                )));
            }
            document.next_id += 1;
            let query = SavedQuery {
                id: document.next_id,
                query: input,
            };
            document.queries.push(query.clone());
            Ok(query)
        });
        created.map_err(Refused::Storage)?
    }

    /// Replaces a query (renaming it, say); `None` when there is no such id.
    pub fn update(
        &self,
        id: u64,
        input: SavedQueryInput,
    ) -> Result<Option<SavedQuery>, StoreError> {
        self.change(|document| {
            let query = document.queries.iter_mut().find(|q| q.id == id)?;
            query.query = input;
            Some(query.clone())
        })
    }

    /// Deletes a query; false when there is no such id.
    pub fn delete(&self, id: u64) -> Result<bool, StoreError> {
        self.change(|document| {
            let before = document.queries.len();
            document.queries.retain(|q| q.id != id);
            document.queries.len() < before
        })
    }
}
