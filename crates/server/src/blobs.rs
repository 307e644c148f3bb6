//! Where uploads, checkpoints and model bundles live: one object store, chosen by URL.
//!
//! Everything above this module names files by key (`users/<id>/models/<id>.bundle`); the
//! database stores keys, and replicas and workers only ever pass keys. The store is
//! [`object_store`]'s interface with three implementations:
//! - a local folder (the default: the data folder, or `file:///path`), used in place: the
//!   engine reads a key's file where it lies;
//! - S3 or any S3-compatible service (`s3://bucket/prefix`; credentials, region and endpoint
//!   from the usual `AWS_*` variables);
//! - memory (`memory://name`, shared by every server of this process under that name: tests).
//!
//! The engine works on files, so a key it needs from a remote store is fetched into the
//! local data folder first, and checkpoints written there are copied back
//! ([`Blobs::upload_snapshot`]).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use futures_util::{StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as Key;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::AsyncWriteExt;

use crate::error::ServerError;

/// The store of one server or worker.
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// The folder of a local store: a key's file is `root/key`.
    local_root: Option<PathBuf>,
    /// This process's data folder, where it keeps local copies of keys (`<folder>/<key>`:
    /// the key's own file when the store is the data folder).
    mirror_root: PathBuf,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blobs({})", self.store)
    }
}

impl Blobs {
    /// The store `url` names, or the data folder when there is none.
    pub fn open(url: Option<&str>, data_dir: &Path) -> Result<Self, ServerError> {
        let bad = |why: String| ServerError::Storage {
            url: url.unwrap_or_default().to_owned(),
            why,
        };
        let url = url.map(str::trim).filter(|u| !u.is_empty());
        let blobs = match url {
            None => Self::local(data_dir),
            Some(u) if u.starts_with("s3://") || u.starts_with("s3a://") => {
                Self::s3(u).map_err(|e| bad(e.to_string()))
            }
            Some(u) if u.starts_with("memory://") => Ok(Self::memory(&u["memory://".len()..])),
            Some(u) if u.starts_with("file://") => Self::local(Path::new(&u["file://".len()..])),
            Some(u) if u.contains("://") => Err(bad(
                "unknown kind of store: give a folder, file:///path, s3://bucket/prefix or memory://name".to_owned(),
            )),
            Some(folder) => Self::local(Path::new(folder)),
        }?;
        Ok(Self {
            mirror_root: data_dir.to_path_buf(),
            ..blobs
        })
    }

    fn local(dir: &Path) -> Result<Self, ServerError> {
        let err = |source| ServerError::DataDir {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let root = dir.canonicalize().map_err(err)?;
        let store = LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| err(io::Error::from(e)))?
            .with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(store),
            local_root: Some(root),
            mirror_root: PathBuf::new(),
        })
    }

    fn s3(url: &str) -> Result<Self, object_store::Error> {
        // reqwest's rustls takes the process-wide crypto provider; ring is the one built in.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_url(url)
            .build()?;
        let prefix = url
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .map(|(_, prefix)| prefix.trim_matches('/'))
            .unwrap_or("");
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(store)
        } else {
            Arc::new(PrefixStore::new(store, prefix))
        };
        Ok(Self {
            store,
            local_root: None,
            mirror_root: PathBuf::new(),
        })
    }

    fn memory(name: &str) -> Self {
        static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
        let mut stores = STORES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let store = stores.entry(name.to_owned()).or_default().clone();
        Self {
            store,
            local_root: None,
            mirror_root: PathBuf::new(),
        }
    }

    /// Where this process keeps its local copy of `key`: `<data_dir>/<key>`, which is the
    /// key's own file when the store is the data folder. Keys are made by the server from
    /// its own ids, so this stays inside.
    pub fn local_copy(&self, key: &str) -> PathBuf {
        self.mirror_root.join(key)
    }

    /// A local file holding `key`, fetched from a remote store into [`Blobs::local_copy`]
    /// the first time (for keys whose content never changes, such as model bundles).
    pub async fn local_file(&self, key: &str) -> io::Result<PathBuf> {
        self.fetch(key, &self.local_copy(key))
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("{key}: {e}")))
    }

    /// Deletes `key` from the store and this process's local copy of it (other processes'
    /// copies stay until their data folders are cleaned).
    pub async fn delete_with_copy(&self, key: &str) -> io::Result<()> {
        let deleted = self.delete(key).await;
        let _ = tokio::fs::remove_file(self.local_copy(key)).await;
        deleted
    }

    /// The folder of a local store.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }

    /// The file of `key` when the store is a local folder.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.local_root.as_ref().map(|root| root.join(key))
    }

    /// Whether `key`'s file is `file` itself (a local store laid out like the data folder).
    fn is_in_place(&self, key: &str, file: &Path) -> bool {
        self.local_path(key).is_some_and(|p| p == file)
    }

    /// Store `bytes` under `key`.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> io::Result<()> {
        self.store
            .put(&Key::from(key), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// The bytes under `key`; `None` when there are none.
    pub async fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match self.store.get(&Key::from(key)).await {
            Ok(found) => Ok(Some(found.bytes().await?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Move the local `file` into the store under `key` (a rename in a local store; streamed
    /// up, then removed, otherwise).
    pub async fn import(&self, key: &str, file: &Path) -> io::Result<()> {
        if self.is_in_place(key, file) {
            return Ok(());
        }
        if let Some(dest) = self.local_path(key) {
            if let Some(dir) = dest.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            if tokio::fs::rename(file, &dest).await.is_err() {
                tokio::fs::copy(file, &dest).await?;
                tokio::fs::remove_file(file).await?;
            }
            return Ok(());
        }
        self.upload_file(key, file).await?;
        tokio::fs::remove_file(file).await
    }

    async fn upload_file(&self, key: &str, file: &Path) -> io::Result<()> {
        let mut source = tokio::fs::File::open(file).await?;
        let mut sink = BufWriter::new(self.store.clone(), Key::from(key));
        match tokio::io::copy(&mut source, &mut sink).await {
            Ok(_) => sink.shutdown().await,
            Err(e) => {
                let _ = sink.abort().await;
                Err(e)
            }
        }
    }

    /// A local file holding `key`: its own file in a local store, else a copy fetched to
    /// `cache` (kept: keys name immutable content, or content this process rewrites).
    pub async fn fetch(&self, key: &str, cache: &Path) -> io::Result<PathBuf> {
        if let Some(path) = self.local_path(key) {
            return Ok(path);
        }
        if tokio::fs::try_exists(cache).await? {
            return Ok(cache.to_path_buf());
        }
        self.download(key, cache).await?;
        Ok(cache.to_path_buf())
    }

    /// Write `key` to `dest`, whole or not at all (a temporary file renamed at the end).
    async fn download(&self, key: &str, dest: &Path) -> io::Result<()> {
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let partial = dest.with_extension(format!("part-{}", crate::ids::new_id()));
        let result = async {
            let mut stream = self.store.get(&Key::from(key)).await?.into_stream();
            let mut file = tokio::fs::File::create(&partial).await?;
            while let Some(chunk) = stream.try_next().await? {
                file.write_all(&chunk).await?;
            }
            file.sync_all().await?;
            tokio::fs::rename(&partial, dest).await
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        result
    }

    /// Remove `key`; a key that is not there is not an error.
    pub async fn delete(&self, key: &str) -> io::Result<()> {
        match self.store.delete(&Key::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove every key under the folder `prefix`.
    pub async fn delete_all(&self, prefix: &str) -> io::Result<()> {
        let keys = self.keys(prefix).await?;
        for key in keys {
            self.delete(&key).await?;
        }
        Ok(())
    }

    /// The keys under the folder `prefix`.
    pub async fn keys(&self, prefix: &str) -> io::Result<Vec<String>> {
        let prefix = Key::from(prefix);
        match self
            .store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
        {
            Ok(keys) => Ok(keys),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Copy a settled snapshot of the local folder `dir` (a checkpoint being rewritten as
    /// training goes) under `prefix`, for [`Blobs::download_snapshot`].
    ///
    /// The writer renames each file into place (dotfiles are its temporary files, skipped)
    /// and writes each folder's `marker` last, so a folder is settled when none of its files
    /// is newer than its marker and none changed while read. Objects cannot be replaced
    /// together, so each snapshot goes to its own key folder and a last small object names
    /// the complete one: a copy cut short leaves the previous snapshot named.
    /// Returns the snapshot's time (its newest marker's) when it uploaded; `None` when it is
    /// not settled (try again later) or not after `after`. Nothing to do when `dir` is
    /// `prefix`'s own folder in a local store.
    pub async fn upload_snapshot(
        &self,
        dir: &Path,
        prefix: &str,
        marker: &str,
        after: Option<SystemTime>,
    ) -> io::Result<Option<SystemTime>> {
        if self.is_in_place(prefix, dir) {
            return Ok(None);
        }
        let (dir, marker) = (dir.to_path_buf(), marker.to_owned());
        let snapshot = tokio::task::spawn_blocking(move || read_snapshot(&dir, &marker))
            .await
            .map_err(io::Error::other)??;
        let Some((newest, files)) = snapshot else {
            return Ok(None);
        };
        if after.is_some_and(|after| newest <= after) {
            return Ok(None);
        }
        let version = newest
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .to_string();
        for (relative, bytes) in files {
            self.put(&format!("{prefix}/{version}/{relative}"), bytes)
                .await?;
        }
        let pointer = format!("{prefix}/{CURRENT}");
        self.put(&pointer, version.clone().into_bytes()).await?;
        let current = format!("{prefix}/{version}/");
        for key in self.keys(prefix).await? {
            if key != pointer && !key.starts_with(&current) {
                self.delete(&key).await?;
            }
        }
        Ok(Some(newest))
    }

    /// Replace the local `dir` by the snapshot [`Blobs::upload_snapshot`] last completed
    /// under `prefix` (none: `dir` is left empty); returns how many files. Nothing to do
    /// when `dir` is `prefix`'s own folder in a local store.
    pub async fn download_snapshot(&self, prefix: &str, dir: &Path) -> io::Result<usize> {
        if self.is_in_place(prefix, dir) {
            return Ok(0);
        }
        match tokio::fs::remove_dir_all(dir).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let Some(version) = self.get(&format!("{prefix}/{CURRENT}")).await? else {
            return Ok(0);
        };
        let version = String::from_utf8_lossy(&version).trim().to_owned();
        let base = Key::from(format!("{prefix}/{version}"));
        let keys = self.keys(base.as_ref()).await?;
        let count = keys.len();
        let downloads = keys.into_iter().map(|key| {
            let relative = key.strip_prefix(base.as_ref()).unwrap_or(&key);
            let dest = folder_path(dir, relative);
            async move { self.download(&key, &dest).await }
        });
        futures_util::stream::iter(downloads)
            .buffer_unordered(4)
            .try_collect::<()>()
            .await?;
        Ok(count)
    }
}

/// The object naming a prefix's complete snapshot.
const CURRENT: &str = "current";

/// The files under `dir` with their bytes and the newest marker's time, if settled (see
/// [`Blobs::upload_snapshot`]).
type Snapshot = (SystemTime, Vec<(String, Vec<u8>)>);

fn read_snapshot(dir: &Path, marker: &str) -> io::Result<Option<Snapshot>> {
    let files: Vec<_> = files_under(dir)?
        .into_iter()
        .filter(|(relative, _)| !relative.rsplit('/').next().unwrap_or("").starts_with('.'))
        .collect();
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified());
    let folder = |relative: &str| relative.rsplit_once('/').map_or("", |(f, _)| f).to_owned();
    let mut markers = HashMap::new();
    for (relative, path) in &files {
        if relative.rsplit('/').next() == Some(marker) {
            markers.insert(folder(relative), modified(path)?);
        }
    }
    let mut read = Vec::with_capacity(files.len());
    for (relative, path) in files {
        let before = modified(&path)?;
        let bytes = std::fs::read(&path)?;
        let settled = modified(&path)? == before
            && markers.get(&folder(&relative)).is_none_or(|m| before <= *m);
        if !settled {
            return Ok(None);
        }
        read.push((relative, bytes));
    }
    for (folder, time) in &markers {
        let path = folder_path(dir, folder).join(marker);
        if modified(&path)? != *time {
            return Ok(None);
        }
    }
    Ok(markers.values().max().map(|newest| (*newest, read)))
}

fn folder_path(dir: &Path, relative: &str) -> PathBuf {
    relative
        .split('/')
        .filter(|p| !p.is_empty())
        .fold(dir.to_path_buf(), |d, p| d.join(p))
}

/// Every file under `dir` as (`/`-separated path relative to `dir`, path); none when
/// `dir` is missing.
fn files_under(dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let mut pending = vec![(String::new(), dir.to_path_buf())];
    while let Some((relative, folder)) = pending.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let relative = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            if entry.file_type()?.is_dir() {
                pending.push((relative, path));
            } else {
                found.push((relative, path));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memory store of its own, named after the test.
    fn memory(test: &str) -> Blobs {
        Blobs::open(
            Some(&format!("memory://{test}-{}", std::process::id())),
            Path::new("unused"),
        )
        .unwrap()
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// A checkpoint as the engine writes it: weights, then the marker naming them.
    fn checkpoint(dir: &Path, epoch: u32) {
        for name in ["last.ser", "state.json"] {
            let temp = dir.join(format!(".{name}.tmp"));
            write(&temp, &epoch.to_string());
            std::fs::rename(&temp, dir.join(name)).unwrap();
        }
    }

    fn tree(dir: &Path) -> Vec<(String, String)> {
        let mut files: Vec<_> = files_under(dir)
            .unwrap()
            .into_iter()
            .map(|(name, path)| (name, std::fs::read_to_string(path).unwrap()))
            .collect();
        files.sort();
        files
    }

    #[tokio::test]
    async fn keys_round_trip_and_delete() {
        let blobs = memory("round-trip");
        blobs
            .put("users/a/models/m.bundle", b"m".to_vec())
            .await
            .unwrap();
        blobs
            .put("users/a/uploads/j.zip", b"z".to_vec())
            .await
            .unwrap();
        assert_eq!(
            blobs.get("users/a/models/m.bundle").await.unwrap().unwrap(),
            b"m"
        );
        assert_eq!(blobs.get("users/a/nothing").await.unwrap(), None);
        blobs.delete("users/a/nothing").await.unwrap();
        blobs.delete_all("users/a").await.unwrap();
        assert_eq!(blobs.get("users/a/uploads/j.zip").await.unwrap(), None);
        assert!(blobs.keys("users").await.unwrap().is_empty());
    }

    #[test]
    fn urls_choose_the_store() {
        let dir = tempfile::TempDir::new().unwrap();
        let folder = dir.path().join("store");
        let local = Blobs::open(Some(folder.to_str().unwrap()), dir.path()).unwrap();
        assert_eq!(
            local.local_root(),
            Some(folder.canonicalize().unwrap().as_path())
        );
        let file_url = format!("file://{}", folder.display());
        assert!(
            Blobs::open(Some(&file_url), dir.path())
                .unwrap()
                .local_root()
                .is_some()
        );
        let default = Blobs::open(None, dir.path()).unwrap();
        assert_eq!(
            default.local_root(),
            Some(dir.path().canonicalize().unwrap().as_path())
        );
        let s3 = Blobs::open(Some("s3://bucket/some/prefix"), dir.path()).unwrap();
        assert!(s3.local_root().is_none() && s3.local_path("k").is_none());
        let unknown = Blobs::open(Some("ftp://host/x"), dir.path()).unwrap_err();
        assert!(unknown.to_string().contains("ftp://host/x"), "{unknown}");
    }

    /// A local store uses files in place; any other gets copies in and out.
    #[tokio::test]
    async fn files_move_in_and_are_fetched_out() {
        let dir = tempfile::TempDir::new().unwrap();
        let local = Blobs::open(None, dir.path()).unwrap();
        let root = local.local_root().unwrap().to_path_buf();
        let received = root.join("users/a/uploads/j.zip");
        write(&received, "zip");
        local
            .import("users/a/uploads/j.zip", &received)
            .await
            .unwrap();
        assert_eq!(
            local
                .fetch("users/a/uploads/j.zip", Path::new("/nowhere"))
                .await
                .unwrap(),
            received
        );
        let bundle = root.join("work/model.ser");
        write(&bundle, "bundle");
        local
            .import("users/a/models/m.bundle", &bundle)
            .await
            .unwrap();
        assert!(!bundle.exists());
        assert_eq!(
            std::fs::read_to_string(root.join("users/a/models/m.bundle")).unwrap(),
            "bundle"
        );

        let remote = memory("move");
        let file = dir.path().join("out/model.ser");
        write(&file, "bundle");
        remote
            .import("users/a/models/m.bundle", &file)
            .await
            .unwrap();
        assert!(!file.exists(), "imported files leave the local folder");
        let copy = dir.path().join("mirror/users/a/models/m.bundle");
        assert_eq!(
            remote
                .fetch("users/a/models/m.bundle", &copy)
                .await
                .unwrap(),
            copy
        );
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), "bundle");
        let missing = remote
            .fetch("users/a/models/gone", &dir.path().join("gone"))
            .await;
        assert_eq!(missing.unwrap_err().kind(), io::ErrorKind::NotFound);
        assert!(
            files_under(&dir.path().join("gone")).unwrap().is_empty(),
            "no partial file"
        );
    }

    #[tokio::test]
    async fn checkpoints_travel_as_whole_snapshots() {
        let dir = tempfile::TempDir::new().unwrap();
        let (here, there) = (dir.path().join("here"), dir.path().join("there"));
        let blobs = memory("snapshots");
        checkpoint(&here.join("member-0"), 1);
        checkpoint(&here.join("member-1"), 1);
        let first = blobs
            .upload_snapshot(&here, "jobs/j", "state.json", None)
            .await
            .unwrap();
        assert!(first.is_some());
        assert_eq!(
            blobs
                .upload_snapshot(&here, "jobs/j", "state.json", first)
                .await
                .unwrap(),
            None,
            "nothing newer"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        checkpoint(&here.join("member-0"), 2);
        let second = blobs
            .upload_snapshot(&here, "jobs/j", "state.json", first)
            .await
            .unwrap();
        assert!(second > first);
        write(&there.join("stale.txt"), "old");
        assert_eq!(blobs.download_snapshot("jobs/j", &there).await.unwrap(), 4);
        assert_eq!(
            tree(&there),
            tree(&here),
            "the newest snapshot, without temp files"
        );
        assert!(tree(&there).iter().all(|(name, _)| !name.contains(".tmp")));
        // Only the newest snapshot and its pointer stay.
        assert_eq!(blobs.keys("jobs/j").await.unwrap().len(), 5);

        // Weights newer than their marker: a save in progress, not copied.
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(&here.join("member-1/last.ser"), "3");
        assert_eq!(
            blobs
                .upload_snapshot(&here, "jobs/j", "state.json", second)
                .await
                .unwrap(),
            None
        );
        blobs.download_snapshot("jobs/j", &there).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(there.join("member-1/last.ser")).unwrap(),
            "1"
        );

        // Nothing stored: an empty folder.
        assert_eq!(
            blobs.download_snapshot("jobs/other", &there).await.unwrap(),
            0
        );
        assert!(tree(&there).is_empty());
    }

    #[tokio::test]
    async fn a_local_store_in_the_work_folder_copies_nothing() {
        let dir = tempfile::TempDir::new().unwrap();
        let blobs = Blobs::open(None, dir.path()).unwrap();
        let work = blobs.local_path("jobs/j").unwrap();
        checkpoint(&work.join("member-0"), 1);
        assert_eq!(
            blobs
                .upload_snapshot(&work, "jobs/j", "state.json", None)
                .await
                .unwrap(),
            None
        );
        assert_eq!(blobs.download_snapshot("jobs/j", &work).await.unwrap(), 0);
        assert_eq!(tree(&work).len(), 2, "left in place");
    }
}
