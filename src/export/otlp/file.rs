//! The OTLP file exporter: one `ExportMetricsServiceRequest` per line in
//! the OTLP/JSON encoding (the OpenTelemetry Collector's file exporter and
//! `otlpjsonfile` receiver format), to a file or to standard output, with
//! optional rotation by size.

use crate::collect::data::ResourceMetrics;
use crate::error::{Error, Result};
use crate::export::PushExporter;
use crate::temporality::TemporalityPreference;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Builds an [`OtlpFileExporter`].
#[derive(Clone, Debug, Default)]
pub struct OtlpFileExporterBuilder {
    path: Option<PathBuf>,
    max_bytes: Option<u64>,
    max_backups: usize,
    temporality: TemporalityPreference,
}

impl OtlpFileExporterBuilder {
    /// Writes to this file (appending; created when missing). Without a
    /// path, lines go to standard output.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Rotates the file before a line would make it larger than
    /// `max_bytes`: `path` becomes `path.1`, `path.1` becomes `path.2`, ...
    /// and at most `max_backups` old files are kept (0 keeps none: the
    /// file is truncated). A single line larger than `max_bytes` is still
    /// written whole. Ignored for standard output.
    pub fn with_rotation(mut self, max_bytes: u64, max_backups: usize) -> Self {
        self.max_bytes = Some(max_bytes.max(1));
        self.max_backups = max_backups;
        self
    }

    /// Temporality the exporter asks its reader for (default cumulative).
    pub fn with_temporality(mut self, t: TemporalityPreference) -> Self {
        self.temporality = t;
        self
    }

    /// Opens the file (so a bad path fails here, not at the first export).
    pub fn build(self) -> Result<OtlpFileExporter> {
        let target = match &self.path {
            None => Target::Stdout,
            Some(p) => {
                let f = open_append(p)?;
                let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                Target::File {
                    path: p.clone(),
                    file: f,
                    size,
                }
            }
        };
        Ok(OtlpFileExporter {
            state: Mutex::new(Some(target)),
            max_bytes: self.max_bytes,
            max_backups: self.max_backups,
            temporality: self.temporality,
        })
    }
}

fn open_append(p: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .map_err(|e| Error::InvalidArgument(format!("cannot open {}: {e}", p.display())))
}

enum Target {
    Stdout,
    File {
        path: PathBuf,
        file: File,
        size: u64,
    },
}

/// Writes each snapshot as one line of OTLP/JSON. Attach it to a provider
/// through a [`PeriodicReader`](crate::readers::PeriodicReader).
pub struct OtlpFileExporter {
    state: Mutex<Option<Target>>,
    max_bytes: Option<u64>,
    max_backups: usize,
    temporality: TemporalityPreference,
}

impl std::fmt::Debug for OtlpFileExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpFileExporter")
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

fn io_err(what: &str, p: &Path, e: std::io::Error) -> Error {
    Error::Failed(format!("{what} {}: {e}", p.display()))
}

fn backup(p: &Path, i: usize) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(format!(".{i}"));
    PathBuf::from(s)
}

impl OtlpFileExporter {
    /// A builder (standard output, no rotation, cumulative).
    pub fn builder() -> OtlpFileExporterBuilder {
        OtlpFileExporterBuilder::default()
    }

    fn lock(&self) -> MutexGuard<'_, Option<Target>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn rotate(&self, path: &Path, file: &mut File, size: &mut u64) -> Result<()> {
        let _ = file.flush();
        if self.max_backups > 0 {
            for i in (1..self.max_backups).rev() {
                let from = backup(path, i);
                if from.exists() {
                    std::fs::rename(&from, backup(path, i + 1))
                        .map_err(|e| io_err("cannot rotate", &from, e))?;
                }
            }
            std::fs::rename(path, backup(path, 1)).map_err(|e| io_err("cannot rotate", path, e))?;
        }
        *file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(|e| io_err("cannot reopen", path, e))?;
        *size = 0;
        Ok(())
    }

    /// Writes one line (a JSON object followed by `\n`).
    fn write_line(&self, line: &[u8]) -> Result<()> {
        let mut g = self.lock();
        match g.as_mut() {
            None => Err(Error::Shutdown),
            Some(Target::Stdout) => {
                let mut out = std::io::stdout().lock();
                out.write_all(line)
                    .and_then(|_| out.flush())
                    .map_err(|e| Error::Failed(format!("cannot write to stdout: {e}")))
            }
            Some(Target::File { path, file, size }) => {
                if let Some(max) = self.max_bytes {
                    if *size > 0 && *size + line.len() as u64 > max {
                        self.rotate(path, file, size)?;
                    }
                }
                file.write_all(line)
                    .and_then(|_| file.flush())
                    .map_err(|e| io_err("cannot write", path, e))?;
                *size += line.len() as u64;
                Ok(())
            }
        }
    }
}

impl PushExporter for OtlpFileExporter {
    fn export(&self, metrics: &ResourceMetrics, _deadline: Instant) -> Result<()> {
        if metrics.point_count() == 0 {
            return if self.lock().is_none() {
                Err(Error::Shutdown)
            } else {
                Ok(())
            };
        }
        let mut line = String::new();
        super::encode_json(metrics, &mut line);
        line.push('\n');
        self.write_line(line.as_bytes())
    }

    fn temporality(&self) -> TemporalityPreference {
        self.temporality
    }

    fn force_flush(&self, _timeout: Duration) -> Result<()> {
        match self.lock().as_mut() {
            Some(Target::File { file, path, .. }) => file
                .sync_data()
                .map_err(|e| io_err("cannot flush", path, e)),
            _ => Ok(()),
        }
    }

    fn shutdown(&self, timeout: Duration) -> Result<()> {
        let r = self.force_flush(timeout);
        *self.lock() = None;
        r
    }

    fn name(&self) -> &'static str {
        "otlp-file"
    }
}
