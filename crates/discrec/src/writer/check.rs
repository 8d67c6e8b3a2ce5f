//! What is refused before the first sector: every check a write makes on
//! the recorder, the medium and the source, so that a write-once disc is
//! never spent on a write that could have been refused, and a rewritable
//! one is never written over without being told to.

use super::Source;
use crate::error::{Error, Result};
use crate::medium::{MediaState, Medium, WriteMethod};
use crate::target::Target;

/// What must be done to a disc before its first sector is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prepare {
    /// Nothing: write.
    Nothing,
    /// Format it (a randomly writable disc never formatted).
    Format,
    /// Blank it (a rewritable disc written in order, which the caller
    /// told to overwrite).
    Blank,
}

/// Check that `medium` can take `source` from its next writable address
/// (`overwrite`: over what a rewritable disc holds); what must be done to
/// it first, or the error IMAPI2 gives when it cannot.
pub(super) fn check_medium(t: &Target, m: &Medium, source: &Source, overwrite: bool) -> Result<Prepare> {
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
    let disc = || format!("the {:?} in {}", m.physical_type, t.given.display());
    let not_blank = |detail: String| Err(Error::MediaNotBlank { target: t.given.clone(), detail });
    let prepare = if m.state.contains(MediaState::RANDOMLY_WRITABLE) {
        if m.profile.is_some() && m.state.contains(MediaState::NON_EMPTY_SESSION) && !overwrite {
            return not_blank(format!(
                "{} holds data; burn with --overwrite (IMAPI2's ForceOverwrite) to write over it, or erase it first (`discrec erase`)",
                disc()
            ));
        }
        if m.needs_format {
            Prepare::Format
        } else {
            Prepare::Nothing
        }
    } else if m.state.contains(MediaState::BLANK) {
        Prepare::Nothing
    } else if m.erasable && overwrite && !m.state.contains(MediaState::WRITE_PROTECTED) {
        Prepare::Blank
    } else {
        let detail = m.why_not.clone().unwrap_or_else(|| match () {
            _ if m.erasable => format!(
                "{} holds {} session(s) ({}); erase it first (`discrec erase`), or burn with --overwrite",
                disc(),
                m.sessions,
                m.state
            ),
            _ if m.state.contains(MediaState::APPENDABLE) => {
                format!(
                    "{} holds a session already (appending sessions is not supported yet); insert a blank disc",
                    disc()
                )
            }
            _ => format!("{} is closed ({}); insert a blank disc", disc(), m.state),
        });
        return not_blank(detail);
    };
    if prepare == Prepare::Blank {
        // Its room is known once blank: checked again then, before the
        // first sector.
        return Ok(prepare);
    }
    let needed = source.sectors() + overhead(m);
    if needed > m.free_sectors {
        return Err(Error::StreamTooLarge {
            target: t.given.clone(),
            source_name: source.name.clone(),
            needed,
            free: m.free_sectors,
        });
    }
    Ok(prepare)
}

/// Sectors a recording takes beyond its data: the run-out blocks a CD
/// drive writes after a track written at once.
fn overhead(m: &Medium) -> u64 {
    match m.method {
        Some(WriteMethod::TrackAtOnce) => 2,
        _ => 0,
    }
}
