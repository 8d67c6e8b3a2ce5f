//! What is refused before the first sector: every check a write makes on
//! the recorder, the medium and the source, so that a write-once disc is
//! never spent on a write that could have been refused, and a rewritable
//! one is never written over without being told to.

use super::Source;
use crate::error::{Error, Result};
use crate::medium::{self, MediaState, Medium, WriteMethod};
use crate::target::Target;

/// What must be done to a disc before its first sector is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prepare {
    /// Nothing: write.
    Nothing,
    /// Format it (a randomly writable disc never formatted).
    Format,
    /// Erase it (a rewritable disc written in order, which the caller
    /// told to overwrite).
    Erase,
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
    check_writable(t, m)?;
    let disc = || format!("the {:?} in {}", m.physical_type, t.given.display());
    let not_blank = |detail: String| Err(Error::MediaNotBlank { target: t.given.clone(), detail });
    // By its profile, whatever else the drive says of it.
    let rewritable = m.profile.is_some_and(medium::is_erasable_profile);
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
        if m.needs_format {
            Prepare::Format
        } else {
            Prepare::Nothing
        }
    } else if rewritable && overwrite && !m.state.contains(MediaState::WRITE_PROTECTED) {
        Prepare::Erase
    } else {
        let detail = m.why_not.clone().map(|w| match m.profile.is_none() && overwrite {
            true => format!("{w} (--overwrite is for rewritable discs, not image files)"),
            false => w,
        });
        let detail = detail.unwrap_or_else(|| match () {
            _ if rewritable => format!(
                "{} holds {} session(s) ({}); erase it first (`discrec erase`), or burn with --overwrite",
                disc(),
                m.sessions,
                m.state
            ),

            _ if m.state.contains(MediaState::APPENDABLE) => {
                format!(
                    "{} holds a session already; add one to it with --append (a directory), or insert a blank disc",
                    disc()
                )
            }
            _ => format!("{} is closed ({}); insert a blank disc", disc(), m.state),
        });
        return not_blank(detail);
    };
    // Erased, the disc holds what the whole disc holds (checked again once
    // it is erased, before the first sector).
    let free = if prepare == Prepare::Erase { m.total_sectors } else { m.free_sectors };
    check_fits(t, m, source, free)?;
    Ok(prepare)
}

/// The recorder and the medium can be written at all (what the medium's
/// `why_not` says when not), whatever is on the disc.
pub(super) fn check_writable(t: &Target, m: &Medium) -> Result<()> {
    let why = || m.why_not.clone().unwrap_or_else(|| format!("{} cannot be written", t.given.display()));
    if !m.recorder_supported {
        return Err(Error::RecorderNotSupported { target: t.given.clone(), detail: why() });
    }
    if !m.medium_supported {
        return Err(Error::MediaNotSupported { target: t.given.clone(), detail: why() });
    }
    Ok(())
}

/// `source` fits in `free` sectors, counting what the recording takes
/// beyond its data.
pub(super) fn check_fits(t: &Target, m: &Medium, source: &Source, free: u64) -> Result<()> {
    let needed = source.sectors() + overhead(m);
    if needed > free {
        return Err(Error::StreamTooLarge { target: t.given.clone(), source_name: source.name.clone(), needed, free });
    }
    Ok(())
}

/// Sectors a recording takes beyond its data: the run-out blocks a CD
/// drive writes after a track written at once.
fn overhead(m: &Medium) -> u64 {
    match m.method {
        Some(WriteMethod::TrackAtOnce) => 2,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disc(profile: u16, state: MediaState, method: WriteMethod) -> Medium {
        // The drive calls each erasable, wrongly for some: the profile decides.
        Medium::for_tests(profile, state, method)
    }

    fn check(m: &Medium, sectors: u64, overwrite: bool) -> Result<Prepare> {
        let file = std::env::temp_dir().join(format!("discrec-check-{}-{sectors}-{overwrite}", std::process::id()));
        std::fs::write(&file, b"").unwrap();
        let t = Target::resolve(&file).unwrap();
        let src = Source::stream("src", std::io::empty(), sectors * 2048).unwrap();
        let r = check_medium(&t, m, &src, overwrite);
        let _ = std::fs::remove_file(&file);
        r
    }

    const USED: MediaState = MediaState(MediaState::APPENDABLE.0 | MediaState::NON_EMPTY_SESSION.0);

    #[test]
    fn a_source_the_whole_disc_cannot_hold_is_refused_before_the_erase() {
        let cd_rw = disc(0x000A, USED, WriteMethod::TrackAtOnce);
        assert_eq!(check(&cd_rw, 500, true).unwrap(), Prepare::Erase);
        // 999 sectors and the 2 run-out blocks: more than the 1000 it holds.
        assert!(matches!(check(&cd_rw, 999, true), Err(Error::StreamTooLarge { needed: 1001, free: 1000, .. })));
        assert!(matches!(check(&cd_rw, 500, false), Err(Error::MediaNotBlank { .. })));
    }

    #[test]
    fn a_write_once_disc_is_never_erased_whatever_the_drive_says() {
        for (profile, method) in [(0x0009, WriteMethod::TrackAtOnce), (0x001B, WriteMethod::Incremental)] {
            let used = disc(profile, USED, method);
            assert!(matches!(check(&used, 10, true), Err(Error::MediaNotBlank { .. })), "{profile:#x}");
        }
        assert_eq!(crate::medium::method_of(0x0042), None, "BD-R in random recording mode is not written");
    }

    #[test]
    fn a_rewritable_with_data_needs_overwrite_and_a_blank_one_is_formatted_when_it_must() {
        let with_data =
            disc(0x001A, MediaState::RANDOMLY_WRITABLE | MediaState::NON_EMPTY_SESSION, WriteMethod::RandomAccess);
        assert!(matches!(check(&with_data, 10, false), Err(Error::MediaNotBlank { .. })));
        assert_eq!(check(&with_data, 10, true).unwrap(), Prepare::Nothing);
        let mut fresh = disc(0x001A, MediaState::RANDOMLY_WRITABLE | MediaState::BLANK, WriteMethod::RandomAccess);
        fresh.needs_format = true;
        assert_eq!(check(&fresh, 10, false).unwrap(), Prepare::Format);
        let mut dvd_rw = disc(0x0014, MediaState::BLANK, WriteMethod::Incremental);
        dvd_rw.needs_format = true;
        assert_eq!(check(&dvd_rw, 10, false).unwrap(), Prepare::Format);
    }
}
