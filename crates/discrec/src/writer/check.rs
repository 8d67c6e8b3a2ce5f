//! What is refused before the first sector: every check a write makes on
//! the recorder, the medium and the source, so that a write-once disc is
//! never spent on a write that could have been refused.

use super::Source;
use crate::error::{Error, Result};
use crate::medium::{self, Medium};
use crate::target::Target;

/// Check that `medium` can take `source` from its start; the error IMAPI2
/// gives when it cannot.
pub(super) fn check_medium(t: &Target, m: &Medium, source: &Source) -> Result<()> {
    if let Some((dev, ino, rdev)) = source.identity {
        let same = match t.key {
            crate::key::DriveKey::File { dev: d, ino: i } => (d, i) == (dev, ino),
            crate::key::DriveKey::Block { major, minor } => rdev != 0 && rdev == rustix::fs::makedev(major, minor),
        };
        if same {
            return Err(Error::InvalidArgument(format!(
                "{} is the target {} itself: a source cannot be written onto itself; name another target",
                source.name,
                t.given.display()
            )));
        }
    }
    let why = || m.why_not.clone().unwrap_or_else(|| format!("{} cannot be written", t.given.display()));
    if !m.recorder_supported {
        return Err(Error::RecorderNotSupported { target: t.given.clone(), detail: why() });
    }
    if !m.medium_supported {
        return Err(Error::MediaNotSupported { target: t.given.clone(), detail: why() });
    }
    if !m.is_writable_from_start() {
        let detail = m.why_not.clone().unwrap_or_else(|| {
            let what = if m.state.contains(medium::MediaState::APPENDABLE) {
                "holds a session already (appending sessions is not supported yet)"
            } else {
                "is closed"
            };
            format!("the disc in {} {what} ({}); insert a blank disc", t.given.display(), m.state)
        });
        return Err(Error::MediaNotBlank { target: t.given.clone(), detail });
    }
    if source.sectors() > m.free_sectors {
        return Err(Error::StreamTooLarge {
            target: t.given.clone(),
            source_name: source.name.clone(),
            needed: source.sectors(),
            free: m.free_sectors,
        });
    }
    Ok(())
}
