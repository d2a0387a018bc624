//! A lake's location, parsed once: the store it names, the URL its datasets are under, and the
//! local directory when it is one.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreScheme};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::listing::{ListingStats, ReadingStore};

/// The URL schemes of the stores a lake can be in.
const SCHEMES: [&str; 9] = [
    "file", "s3", "s3a", "gs", "az", "adl", "azure", "abfs", "abfss",
];

/// What names a lake: its location and the object-store options, as a user writes them.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LakeConfig {
    /// A directory, `file:///dir`, `s3://bucket/prefix`, `gs://bucket/prefix` or
    /// `az://container/prefix`.
    pub location: String,
    /// Object-store options over the environment's (`endpoint`, `region`, `allow_http`, …).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// The options' names only: their values may be secrets.
impl fmt::Debug for LakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LakeConfig")
            .field("location", &self.location)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl LakeConfig {
    /// A lake in a local directory.
    pub fn local(dir: impl AsRef<Path>) -> Self {
        Self {
            location: dir.as_ref().display().to_string(),
            options: BTreeMap::new(),
        }
    }

    /// Whether the location names an object store rather than a directory.
    pub fn is_object_store(&self) -> bool {
        self.location
            .split_once("://")
            .is_some_and(|(scheme, _)| scheme != "file")
    }

    /// The lake this names.
    pub fn open(&self) -> Result<Lake, LakeError> {
        Lake::open(self)
    }
}

/// Why a lake's location cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// Not a path or a URL of a supported store.
    #[error("{location}: {reason}")]
    Location {
        /// The location as given.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An option the store does not know, or a value it refuses.
    #[error("storage option {key:?}: {reason}")]
    Option {
        /// The option's name.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A lake: the store its datasets are in and where, in that store, they are.
#[derive(Debug, Clone)]
pub struct Lake {
    /// What readers see: the files compacted files replace hidden, listings maybe kept.
    store: Arc<dyn ObjectStore>,
    /// The store itself.
    raw: Arc<dyn ObjectStore>,
    /// The root's URL, ending in `/` (`s3://bucket/prefix/`, `file:///data/`).
    url: Url,
    /// The root's key prefix in the store.
    prefix: ObjectPath,
    /// The directory, for a local lake.
    local: Option<PathBuf>,
    /// The store listings go through, when it keeps them.
    listing: Option<Arc<ReadingStore>>,
}

impl Lake {
    fn open(config: &LakeConfig) -> Result<Self, LakeError> {
        let location = config.location.trim();
        let refuse = |reason: String| LakeError::Location {
            location: location.to_owned(),
            reason,
        };
        if location.is_empty() {
            return Err(refuse(
                "no location: give a directory or an object-store URL".into(),
            ));
        }
        if !location.contains("://") {
            return Self::local(Path::new(location), config);
        }
        let url = Url::parse(location).map_err(|e| refuse(e.to_string()))?;
        let supported = "use a directory, file:///dir, s3://bucket/prefix, gs://bucket/prefix \
                         or az://container/prefix";
        // The bucket is the host: the store's own https:// forms put it in the path, where the
        // readers' URLs and the writers' keys would disagree on it.
        if !SCHEMES.contains(&url.scheme()) {
            return Err(refuse(format!("not a supported store: {supported}")));
        }
        let (scheme, prefix) =
            ObjectStoreScheme::parse(&url).map_err(|e| refuse(format!("{e}: {supported}")))?;
        let store: Arc<dyn ObjectStore> = match scheme {
            ObjectStoreScheme::Local => {
                let dir = url
                    .to_file_path()
                    .map_err(|()| refuse("not a local path".into()))?;
                return Self::local(&dir, config);
            }
            ObjectStoreScheme::AmazonS3 => Arc::new(
                with_options::<AmazonS3ConfigKey, _>(
                    AmazonS3Builder::from_env().with_url(location),
                    &config.options,
                    AmazonS3Builder::with_config,
                )?
                .build()
                .map_err(|e| refuse(e.to_string()))?,
            ),
            ObjectStoreScheme::GoogleCloudStorage => Arc::new(
                with_options::<GoogleConfigKey, _>(
                    GoogleCloudStorageBuilder::from_env().with_url(location),
                    &config.options,
                    GoogleCloudStorageBuilder::with_config,
                )?
                .build()
                .map_err(|e| refuse(e.to_string()))?,
            ),
            ObjectStoreScheme::MicrosoftAzure => Arc::new(
                with_options::<AzureConfigKey, _>(
                    MicrosoftAzureBuilder::from_env().with_url(location),
                    &config.options,
                    MicrosoftAzureBuilder::with_config,
                )?
                .build()
                .map_err(|e| refuse(e.to_string()))?,
            ),
            _ => return Err(refuse(format!("not a supported store: {supported}"))),
        };
        let mut root = url.clone();
        root.set_query(None);
        root.set_fragment(None);
        if !root.path().ends_with('/') {
            root.set_path(&format!("{}/", root.path()));
        }
        Ok(Self {
            store: reading(store.clone()),
            raw: store,
            url: root,
            prefix,
            local: None,
            listing: None,
        })
    }

    fn local(dir: &Path, config: &LakeConfig) -> Result<Self, LakeError> {
        let refuse = |reason: String| LakeError::Location {
            location: config.location.clone(),
            reason,
        };
        if let Some(key) = config.options.keys().next() {
            return Err(LakeError::Option {
                key: key.clone(),
                reason: "storage options apply to object stores, not to a directory".into(),
            });
        }
        let absolute = normalized(dir).map_err(|e| refuse(e.to_string()))?;
        let url = Url::from_directory_path(&absolute)
            .map_err(|()| refuse("not an absolute path".into()))?;
        let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
        Ok(Self {
            store: reading(store.clone()),
            raw: store,
            prefix: ObjectPath::from_url_path(url.path()).map_err(|e| refuse(e.to_string()))?,
            url,
            local: Some(absolute),
            listing: None,
        })
    }

    /// The store the datasets are in, as readers see it: a file that a compacted file replaces
    /// is not listed ([`crate::compacted`]).
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The store itself, every file listed: for what deletes files (retention, compaction).
    pub fn raw_store(&self) -> Arc<dyn ObjectStore> {
        self.raw.clone()
    }

    /// The root's URL, ending in `/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL of the store itself (`s3://bucket`), which DataFusion registers the store under.
    pub fn store_url(&self) -> Url {
        let mut url = self.url.clone();
        url.set_path("");
        url
    }

    /// The URL of one dataset's directory, ending in `/`.
    pub fn dataset_url(&self, dataset: &str) -> String {
        format!("{}{dataset}/", self.url)
    }

    /// The key of `relative` (`network_usage/date=…/file.parquet`) in the store.
    pub fn key(&self, relative: &str) -> ObjectPath {
        ObjectPath::from(format!("{}/{relative}", self.prefix).trim_start_matches('/'))
    }

    /// The directories directly below `relative` (relative to the root, and so returned; sorted).
    pub async fn directories(&self, relative: &str) -> object_store::Result<Vec<String>> {
        let listed = self
            .store
            .list_with_delimiter(Some(&self.key(relative)))
            .await?;
        let root = self.key("");
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|prefix| {
                let parts: Vec<String> = prefix
                    .prefix_match(&root)?
                    .map(|part| part.as_ref().to_owned())
                    .collect();
                Some(parts.join("/"))
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// The directory, for a local lake.
    pub fn local_dir(&self) -> Option<&Path> {
        self.local.as_deref()
    }

    /// This lake read through a listing cache whose listings live `ttl` (none for a local lake,
    /// whose listing is a directory read and whose tests expect a file the moment it lands).
    pub fn listed_within(self, ttl: Duration) -> Self {
        if self.local.is_some() || ttl.is_zero() {
            return self;
        }
        let listing = Arc::new(ReadingStore::new(self.raw.clone(), ttl));
        Self {
            store: listing.clone(),
            listing: Some(listing),
            ..self
        }
    }

    /// How the listing cache has been used, when listings go through one.
    pub fn listing_stats(&self) -> Option<ListingStats> {
        self.listing.as_ref().map(|cache| cache.stats())
    }
}

/// `store` as readers see it, nothing kept.
fn reading(store: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
    Arc::new(ReadingStore::new(store, Duration::ZERO))
}

/// `dir` absolute, without `.` or `..` (which object-store paths refuse): resolved when it
/// exists, else by its components (a lake the writers have not created yet).
fn normalized(dir: &Path) -> std::io::Result<PathBuf> {
    if let Ok(resolved) = dir.canonicalize() {
        return Ok(resolved);
    }
    let mut clean = PathBuf::new();
    for part in std::path::absolute(dir)?.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    Ok(clean)
}

/// Displays the root without credentials (URLs carry none; options are not shown).
impl fmt::Display for Lake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.local {
            Some(dir) => write!(f, "{}", dir.display()),
            None => write!(f, "{}", self.url),
        }
    }
}

/// Applies `options` to a builder through its typed keys, refusing the unknown ones (a typo in
/// `endpoint` must not silently send the data to AWS).
fn with_options<Key, Builder>(
    builder: Builder,
    options: &BTreeMap<String, String>,
    apply: fn(Builder, Key, String) -> Builder,
) -> Result<Builder, LakeError>
where
    Key: std::str::FromStr,
    Key::Err: fmt::Display,
{
    options.iter().try_fold(builder, |builder, (key, value)| {
        let parsed = key
            .to_ascii_lowercase()
            .parse::<Key>()
            .map_err(|e| LakeError::Option {
                key: key.clone(),
                reason: e.to_string(),
            })?;
        Ok(apply(builder, parsed, value.clone()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lake(location: &str, options: &[(&str, &str)]) -> Result<Lake, LakeError> {
        LakeConfig {
            location: location.into(),
            options: options
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
        .open()
    }

    #[test]
    fn a_directory_and_a_file_url_name_the_same_local_lake() {
        let dir = std::env::temp_dir().join("spider-lake-location");
        let from_path = lake(dir.to_str().unwrap(), &[]).unwrap();
        let from_url = lake(&format!("file://{}", dir.display()), &[]).unwrap();
        assert_eq!(from_path.url(), from_url.url());
        assert!(from_path.url().as_str().ends_with("/spider-lake-location/"));
        assert_eq!(from_path.local_dir(), Some(dir.as_path()));
        // `..` and `.` resolve, whether the directory exists or not yet.
        let roundabout = lake(
            &format!(
                "{}/x/../spider-lake-location/.",
                dir.parent().unwrap().display()
            ),
            &[],
        );
        assert_eq!(roundabout.unwrap().url(), from_path.url());
        let existing = std::env::temp_dir();
        let through_parent = lake(
            &format!(
                "{}/../{}",
                existing.display(),
                existing.file_name().unwrap().to_str().unwrap()
            ),
            &[],
        );
        assert_eq!(
            through_parent.unwrap().local_dir(),
            Some(existing.canonicalize().unwrap().as_path())
        );
        assert_eq!(
            from_path.dataset_url("packets"),
            format!("{}packets/", from_path.url())
        );
    }

    #[test]
    fn object_store_urls_keep_their_bucket_and_prefix() {
        let options = [
            ("region", "eu-west-1"),
            ("access_key_id", "a"),
            ("secret_access_key", "b"),
        ];
        let s3 = lake("s3://bucket/some/prefix", &options).unwrap();
        assert_eq!(s3.url().as_str(), "s3://bucket/some/prefix/");
        assert_eq!(s3.store_url().as_str(), "s3://bucket");
        assert_eq!(
            s3.key("network_usage/x.parquet").as_ref(),
            "some/prefix/network_usage/x.parquet"
        );
        // An encoded prefix is the decoded key, as the readers' URL decodes it.
        let spaced = lake("s3://bucket/a%20b", &options).unwrap();
        assert_eq!(spaced.key("hosts/x").as_ref(), "a b/hosts/x");
        let root = lake("s3://bucket", &options).unwrap();
        assert_eq!(root.key("packets/x.parquet").as_ref(), "packets/x.parquet");
        assert_eq!(root.dataset_url("packets"), "s3://bucket/packets/");
        let azure = lake(
            "az://container/lake",
            &[
                ("account_name", "devstoreaccount1"),
                ("use_emulator", "true"),
            ],
        )
        .unwrap();
        assert_eq!(azure.dataset_url("hosts"), "az://container/lake/hosts/");
        assert!(azure.local_dir().is_none());
        assert_eq!(azure.to_string(), "az://container/lake/");
    }

    #[test]
    fn mistakes_are_named() {
        let error = lake("s3://bucket/p", &[("endpiont", "http://x")]).unwrap_err();
        assert!(error.to_string().contains("endpiont"), "{error}");
        let error = lake("ftp://host/p", &[]).unwrap_err();
        assert!(error.to_string().contains("s3://bucket"), "{error}");
        let error = lake("/data", &[("region", "x")]).unwrap_err();
        assert!(error.to_string().contains("not to a directory"), "{error}");
        assert!(lake("  ", &[]).is_err());
        let https = lake("https://s3.eu-west-1.amazonaws.com/bucket/p", &[]).unwrap_err();
        assert!(
            https.to_string().contains("not a supported store"),
            "{https}"
        );
        // Option values stay out of debug output.
        let config = LakeConfig {
            location: "s3://b/p".into(),
            options: [("secret_access_key".to_owned(), "hunter2".to_owned())].into(),
        };
        let shown = format!("{config:?}");
        assert!(
            shown.contains("secret_access_key") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(LakeConfig::local("/data").open().is_ok());
        assert!(!LakeConfig::local("/data").is_object_store());
        assert!(
            LakeConfig {
                location: "gs://b/p".into(),
                options: BTreeMap::new()
            }
            .is_object_store()
        );
    }
}
