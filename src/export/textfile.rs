//! The Prometheus text file exporter, for node_exporter's textfile
//! collector: each export writes the text exposition to `<path>.<pid>.tmp`,
//! flushes it to disk and renames it over `<path>`, so the collector never
//! reads a half-written file. The file should end in `.prom` and live in
//! the directory given to node_exporter's `--collector.textfile.directory`;
//! the temporary name does not end in `.prom`, so the collector ignores it.
//!
//! Timestamps are never written (the textfile collector rejects them).
//!
//! ```
//! use ferrometer::export::textfile::TextFileExporter;
//! use ferrometer::export::PushExporter;
//! use ferrometer::{ManualReader, MeterProvider};
//! let dir = std::env::temp_dir().join(format!("fm-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let reader = ManualReader::default();
//! let provider = MeterProvider::builder().with_reader(reader.clone()).build();
//! provider.meter("m").u64_counter("jobs").build().unwrap().add(1, &[]);
//! let exporter = TextFileExporter::new(dir.join("app.prom"));
//! exporter.export(&reader.collect().unwrap(), std::time::Instant::now() + std::time::Duration::from_secs(1)).unwrap();
//! assert!(std::fs::read_to_string(dir.join("app.prom")).unwrap().contains("jobs_total"));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use super::prometheus::{encode, EncodeOptions, Format};
use super::push::PushExporter;
use crate::collect::data::ResourceMetrics;
use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Writes the exposition atomically to a file on every export.
#[derive(Debug)]
pub struct TextFileExporter {
    path: PathBuf,
    tmp: PathBuf,
    options: EncodeOptions,
    remove_on_shutdown: bool,
    /// Serializes writers (two readers sharing one exporter).
    lock: Mutex<()>,
}

impl TextFileExporter {
    /// An exporter writing to `path` (conventionally `*.prom`).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let mut tmp = path.clone().into_os_string();
        tmp.push(format!(".{}.tmp", std::process::id()));
        TextFileExporter {
            path,
            tmp: tmp.into(),
            options: EncodeOptions::default().with_timestamps(false),
            remove_on_shutdown: false,
            lock: Mutex::new(()),
        }
    }

    /// Encoder options (timestamps stay off).
    pub fn with_encode_options(mut self, o: EncodeOptions) -> Self {
        self.options = o.with_timestamps(false);
        self
    }

    /// Removes the file at shutdown (default: keep the last values).
    pub fn with_remove_on_shutdown(mut self, on: bool) -> Self {
        self.remove_on_shutdown = on;
        self
    }

    /// The target path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&self, body: &[u8]) -> std::io::Result<()> {
        let mut f = std::fs::File::create(&self.tmp)?;
        let r = f.write_all(body).and_then(|_| f.sync_data());
        drop(f);
        if let Err(e) = r.and_then(|_| std::fs::rename(&self.tmp, &self.path)) {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(e);
        }
        Ok(())
    }
}

impl PushExporter for TextFileExporter {
    fn export(&self, metrics: &ResourceMetrics, deadline: Instant) -> Result<()> {
        let mut body = Vec::new();
        encode(metrics, Format::Text, &self.options, &mut body);
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if Instant::now() >= deadline {
            return Err(Error::Timeout);
        }
        self.write(&body).map_err(|e| {
            Error::Failed(format!(
                "writing the metrics file {}: {e}",
                self.path.display()
            ))
        })
    }

    fn shutdown(&self, _timeout: Duration) -> Result<()> {
        if self.remove_on_shutdown {
            match std::fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::Failed(format!(
                        "removing the metrics file {}: {e}",
                        self.path.display()
                    )))
                }
            }
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "textfile"
    }
}
