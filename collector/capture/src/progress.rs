//! A progress bar for long files, drawn on the terminal only.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

/// Shows how far into a file the reader is.
pub struct FileProgress {
    bar: ProgressBar,
}

impl FileProgress {
    /// A bar over the file's size (indicatif draws nothing when stderr is not a terminal).
    pub fn new(path: &Path) -> Self {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        let bar = ProgressBar::new(size);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        Self { bar }
    }

    /// Moves the bar to `position` bytes.
    pub fn set(&self, position: u64) {
        self.bar.set_position(position);
    }

    /// Ends the bar.
    pub fn finish(&self) {
        self.bar.finish();
    }
}
