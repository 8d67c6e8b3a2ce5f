//! What the tests share: a scratch directory with a records directory
//! and image files.

use std::path::PathBuf;

/// A directory of this test's own, removed when dropped.
pub struct Scratch {
    pub dir: PathBuf,
    /// The owner-record directory the recorders here use.
    pub run: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("discrec-it.{name}.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let run = dir.join("run");
        std::fs::create_dir_all(&run).unwrap();
        Scratch { dir, run }
    }

    /// An image file of 1 MiB, standing in for a drive.
    pub fn image(&self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::File::create(&p).unwrap().set_len(1 << 20).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
