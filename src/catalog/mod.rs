//! The template catalog: `templates-catalog/{dir}/manifest.json` and the template's
//! files, loaded once at start, with each template's tar.gz bundle built in memory.
//!
//! Bundles follow what Goop2 peers extract (field-notes §1): regular files only, named
//! `{dir}/{relpath}`, mode 0644. Only regular files inside the template's own folder are
//! read: symlinks, devices and anything reached through `..` are skipped, so nothing
//! outside the folder can ever be served.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path};
use std::sync::Arc;

use actix_web::web::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{Map, Value};

/// Largest file a template may ship, in bytes (the Goop2 client's own cap).
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// One template of the catalog.
#[derive(Debug, Clone)]
pub struct Template {
    /// The folder name: the template's id on the wire (`poker`).
    pub dir: String,
    /// Display title (`title`, else `name`, else the folder name).
    pub title: String,
    /// Price in whole credits; 0 = free.
    pub price: i64,
    /// Manifest `version` (`""` if absent).
    pub version: String,
    /// The manifest object as shipped.
    pub manifest: Map<String, Value>,
    /// Relative paths of the files in the bundle, sorted.
    pub files: Vec<String>,
    /// The tar.gz bundle.
    pub bundle: Bytes,
}

/// Why the catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Reading the folder failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A manifest is not valid.
    #[error("template {dir}: {message}")]
    Manifest {
        /// The template folder.
        dir: String,
        /// What is wrong.
        message: String,
    },
}

/// The loaded catalog, keyed by folder name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    templates: BTreeMap<String, Arc<Template>>,
}

/// Whether `dir` is a valid template folder name: 1-64 of `a-z0-9_-`, not starting
/// with `-` or `_`.
pub fn valid_dir_name(dir: &str) -> bool {
    !dir.is_empty()
        && dir.len() <= 64
        && dir
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !dir.starts_with(['-', '_'])
}

impl Catalog {
    /// Loads every `{dir}/manifest.json` below `root`. A missing `root` is an empty
    /// catalog; folders with names outside `a-z0-9_-` or without a manifest are skipped
    /// with a warning.
    ///
    /// # Errors
    /// [`CatalogError`] for unreadable folders and invalid manifests (bad JSON, a
    /// negative or non-integer `price`).
    pub fn load(root: &Path) -> Result<Catalog, CatalogError> {
        let io = |path: &Path, source| CatalogError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut templates = BTreeMap::new();
        if !root.exists() {
            tracing::warn!(path = %root.display(), "template catalog folder not found; the catalog is empty");
            return Ok(Catalog { templates });
        }
        for entry in std::fs::read_dir(root).map_err(|e| io(root, e))? {
            let entry = entry.map_err(|e| io(root, e))?;
            let file_type = entry.file_type().map_err(|e| io(&entry.path(), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !file_type.is_dir() || name.starts_with('.') {
                continue;
            }
            if !valid_dir_name(&name) {
                tracing::warn!(dir = %name, "skipping template folder: name must be a-z, 0-9, '-' or '_'");
                continue;
            }
            let path = entry.path();
            if !path.join("manifest.json").is_file() {
                tracing::warn!(dir = %name, "skipping template folder without manifest.json");
                continue;
            }
            let template = load_template(&name, &path)?;
            templates.insert(name, Arc::new(template));
        }
        Ok(Catalog { templates })
    }

    /// The template in folder `dir`.
    pub fn get(&self, dir: &str) -> Option<&Arc<Template>> {
        self.templates.get(dir)
    }

    /// All templates, by folder name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Template>> {
        self.templates.values()
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }
}

fn manifest_error(dir: &str, message: impl Into<String>) -> CatalogError {
    CatalogError::Manifest {
        dir: dir.to_string(),
        message: message.into(),
    }
}

fn load_template(dir: &str, path: &Path) -> Result<Template, CatalogError> {
    let manifest_path = path.join("manifest.json");
    let raw = std::fs::read(&manifest_path).map_err(|e| CatalogError::Io {
        path: manifest_path.display().to_string(),
        source: e,
    })?;
    let manifest: Map<String, Value> = serde_json::from_slice(&raw)
        .map_err(|e| manifest_error(dir, format!("manifest.json is not a JSON object: {e}")))?;
    let price = match manifest.get("price") {
        None => 0,
        Some(v) => v
            .as_i64()
            .filter(|p| *p >= 0)
            .ok_or_else(|| manifest_error(dir, "price must be a whole number of credits >= 0"))?,
    };
    let text = |key: &str| {
        manifest
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let title = text("title")
        .or_else(|| text("name"))
        .unwrap_or_else(|| dir.to_string());
    let version = text("version").unwrap_or_default();

    let mut files = Vec::new();
    collect_files(path, path, &mut files)?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let bundle = build_bundle(dir, &files).map_err(|e| CatalogError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    Ok(Template {
        dir: dir.to_string(),
        title,
        price,
        version,
        manifest,
        files: files.into_iter().map(|(rel, _)| rel).collect(),
        bundle: Bytes::from(bundle),
    })
}

/// Collects the regular files below `path` as (relative path with `/`, contents).
/// Symlinks and special files are skipped; hidden entries (`.name`) too.
fn collect_files(
    root: &Path,
    path: &Path,
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), CatalogError> {
    let io = |p: &Path, source| CatalogError::Io {
        path: p.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(path).map_err(|e| io(path, e))? {
        let entry = entry.map_err(|e| io(path, e))?;
        let p = entry.path();
        let meta = std::fs::symlink_metadata(&p).map_err(|e| io(&p, e))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if meta.is_dir() {
            collect_files(root, &p, out)?;
            continue;
        }
        if !meta.is_file() {
            tracing::warn!(path = %p.display(), "skipping a symlink or special file in a template");
            continue;
        }
        if meta.len() > MAX_FILE_BYTES {
            tracing::warn!(path = %p.display(), "skipping a template file over 10 MB");
            continue;
        }
        let Ok(rel) = p.strip_prefix(root) else {
            continue;
        };
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            continue;
        }
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let bytes = std::fs::read(&p).map_err(|e| io(&p, e))?;
        out.push((rel, bytes));
    }
    Ok(())
}

/// A reproducible tar.gz: entries `{dir}/{rel}`, mode 0644, mtime 0.
fn build_bundle(dir: &str, files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for (rel, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, format!("{dir}/{rel}"), bytes.as_slice())?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn loads_templates_and_bundles_only_regular_files_inside_the_folder() {
        let root = tempfile::tempdir().unwrap();
        let t = root.path().join("poker");
        std::fs::create_dir_all(t.join("img")).unwrap();
        std::fs::write(
            t.join("manifest.json"),
            r#"{"name":"poker","title":"Hold'em","price":100,"version":"1.0.0"}"#,
        )
        .unwrap();
        std::fs::write(t.join("index.html"), "<html></html>").unwrap();
        std::fs::write(t.join("img/a.txt"), "a").unwrap();
        let secret = root.path().join("secret.txt");
        std::fs::write(&secret, "outside").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&secret, t.join("leak.txt")).unwrap();
        std::fs::create_dir_all(root.path().join("Bad Name")).unwrap();

        let catalog = Catalog::load(root.path()).unwrap();
        assert_eq!(catalog.len(), 1);
        let poker = catalog.get("poker").unwrap();
        assert_eq!(poker.price, 100);
        assert_eq!(poker.title, "Hold'em");
        assert_eq!(
            poker.files,
            vec!["img/a.txt", "index.html", "manifest.json"]
        );

        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&poker.bundle[..]));
        let mut names = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            assert_eq!(entry.header().mode().unwrap(), 0o644);
            let mut body = String::new();
            entry.read_to_string(&mut body).unwrap();
            assert_ne!(body, "outside");
            names.push(entry.path().unwrap().display().to_string());
        }
        assert_eq!(
            names,
            vec!["poker/img/a.txt", "poker/index.html", "poker/manifest.json"]
        );
    }

    #[test]
    fn a_negative_price_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("x")).unwrap();
        std::fs::write(root.path().join("x/manifest.json"), r#"{"price":-1}"#).unwrap();
        let err = Catalog::load(root.path()).unwrap_err().to_string();
        assert!(err.contains("price"), "{err}");
    }
}
