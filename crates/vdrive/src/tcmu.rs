//! The TCMU command ring (`include/uapi/linux/target_core_user.h`): the
//! kernel's LIO user backstore puts each SCSI command in a ring in the
//! memory of `/dev/uioN`, with iovecs into a data area of the same
//! mapping; we answer in place and kick the kernel with a `write`.
//!
//! Layout (all little-endian, packed): the mailbox (`version` u16,
//! `flags` u16, `cmdr_off` u32, `cmdr_size` u32, `cmd_head` u32 at 12,
//! `cmd_tail` u32 at 64), then the ring of entries: an 8-byte header
//! (`len_op` u32, `cmd_id` u16, `kflags` u8, `uflags` u8) and either the
//! request (`iov_cnt` u32 at 8, `iov_bidi_cnt` at 12, `iov_dif_cnt` at 16,
//! `cdb_off` u64 at 24 and iovecs of 16 bytes from 48: the request struct
//! inside the packed entry is not packed, so its u64s are 8-aligned) or,
//! over the same
//! bytes once the data has moved, the response (`scsi_status` at 8,
//! `read_len` u32 at 12, 96 bytes of sense from 16).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::Path;

use crate::sys::Mapping;

const MB_FLAGS: usize = 2;
const MB_CMDR_OFF: usize = 4;
const MB_CMDR_SIZE: usize = 8;
const MB_HEAD: usize = 12;
const MB_TAIL: usize = 64;
const FLAG_CAP_READ_LEN: u16 = 1 << 1;
const OP_PAD: u32 = 0;
const OP_CMD: u32 = 1;
const UFLAG_UNKNOWN_OP: u8 = 0x1;
const UFLAG_READ_LEN: u8 = 0x2;
const SENSE_SIZE: usize = 96;
/// More iovecs than this in one command is a malformed entry.
const MAX_IOVS: u32 = 4096;

/// One SCSI command from the ring, copied out.
pub struct Command {
    /// The CDB (16 bytes; the opcode group says how many count).
    pub cdb: [u8; 16],
    /// (offset in the mapping, length) of each data buffer.
    iovs: Vec<(usize, usize)>,
    entry: usize,
}

impl Command {
    /// Bytes of data the initiator moves (in either direction).
    pub fn data_len(&self) -> usize {
        self.iovs.iter().map(|i| i.1).sum()
    }
}

/// What the handler answers.
pub enum Reply {
    /// GOOD, with `data` sent to the initiator (may be shorter than asked).
    Good(Vec<u8>),
    /// CHECK CONDITION with fixed-format sense data.
    Check([u8; 18]),
}

/// The open ring of one TCMU device.
pub struct Ring {
    file: File,
    map: Mapping,
    cmdr_off: usize,
    cmdr_size: usize,
    read_len: bool,
}

impl Ring {
    /// Open `/dev/uioN` (named `uio`) and map its region.
    pub fn open(uio: &str) -> io::Result<Ring> {
        let size_file = format!("/sys/class/uio/{uio}/maps/map0/size");
        let size = std::fs::read_to_string(&size_file)?;
        let size = usize::from_str_radix(size.trim().trim_start_matches("0x"), 16)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{size_file}: {e}")))?;
        let file = File::options().read(true).write(true).open(Path::new("/dev").join(uio))?;
        let map = Mapping::new(file.as_fd(), size)?;
        let mut b = [0u8; 2];
        map.read(MB_FLAGS, &mut b)?;
        let flags = u16::from_le_bytes(b);
        let cmdr_off = map.load_u32(MB_CMDR_OFF)? as usize;
        let cmdr_size = map.load_u32(MB_CMDR_SIZE)? as usize;
        if cmdr_size == 0 || cmdr_off.checked_add(cmdr_size).is_none_or(|end| end > map.len()) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "the TCMU mailbox describes no ring"));
        }
        Ok(Ring { file, map, cmdr_off, cmdr_size, read_len: flags & FLAG_CAP_READ_LEN != 0 })
    }

    /// Wait for the kernel to say there is work (or that it gave up).
    pub fn wait(&mut self) -> io::Result<()> {
        let mut x = [0u8; 4];
        loop {
            match self.file.read(&mut x) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Tell the kernel we completed entries.
    fn kick(&mut self) -> io::Result<()> {
        self.file.write_all(&0u32.to_ne_bytes())
    }

    fn u32_at(&self, off: usize) -> io::Result<u32> {
        let mut b = [0u8; 4];
        self.map.read(off, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64_at(&self, off: usize) -> io::Result<u64> {
        let mut b = [0u8; 8];
        self.map.read(off, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Serve every entry now in the ring with `handle`; returns how many
    /// commands were answered.
    pub fn serve(&mut self, handle: &mut dyn FnMut(&Command, &mut Data) -> Reply) -> io::Result<usize> {
        let mut served = 0;
        loop {
            let head = self.map.load_u32(MB_HEAD)? as usize;
            let tail = self.map.load_u32(MB_TAIL)? as usize;
            if head == tail {
                break;
            }
            let entry = self.cmdr_off + tail;
            let len_op = self.u32_at(entry)?;
            let len = (len_op & !7) as usize;
            if len == 0 || len > self.cmdr_size {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("ring entry of {len} bytes")));
            }
            match len_op & 7 {
                OP_PAD => {}
                OP_CMD => {
                    let cmd = self.command(entry)?;
                    let mut data = Data { map: &self.map, iovs: &cmd.iovs };
                    let reply = handle(&cmd, &mut data);
                    self.respond(&cmd, reply)?;
                    served += 1;
                }
                // A task management notice (TMR) or an op of a newer
                // kernel: nothing to do but say so.
                _ => {
                    let mut f = [0u8; 1];
                    self.map.read(entry + 7, &mut f)?;
                    self.map.write(entry + 7, &[f[0] | UFLAG_UNKNOWN_OP])?;
                }
            }
            self.map.store_u32(MB_TAIL, ((tail + len) % self.cmdr_size) as u32)?;
        }
        if served > 0 {
            self.kick()?;
        }
        Ok(served)
    }

    fn command(&self, entry: usize) -> io::Result<Command> {
        let iov_cnt = self.u32_at(entry + 8)?;
        let bidi = self.u32_at(entry + 12)?;
        let cdb_off = self.u64_at(entry + 24)? as usize;
        let n = iov_cnt.saturating_add(bidi);
        if n > MAX_IOVS {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{n} iovecs in one command")));
        }
        let mut iovs = Vec::with_capacity(n as usize);
        for i in 0..iov_cnt as usize {
            let base = self.u64_at(entry + 48 + 16 * i)? as usize;
            let len = self.u64_at(entry + 56 + 16 * i)? as usize;
            iovs.push((base, len));
        }
        let mut cdb = [0u8; 16];
        // The CDB may sit near the end of the mapping: copy what fits.
        let fit = self.map.len().saturating_sub(cdb_off).min(16);
        self.map.read(cdb_off, &mut cdb[..fit])?;
        Ok(Command { cdb, iovs, entry })
    }

    fn respond(&self, cmd: &Command, reply: Reply) -> io::Result<()> {
        // The response overlays the request: write it only now.
        let e = cmd.entry;
        let mut rsp = [0u8; 8 + SENSE_SIZE];
        let mut uflags = [0u8; 1];
        self.map.read(e + 7, &mut uflags)?;
        match reply {
            Reply::Good(data) => {
                let n = copy_in(&self.map, &cmd.iovs, &data)?;
                // A short (or empty) data-in says how much it was, so the
                // initiator sees no stale bytes of the data area.
                if self.read_len && n < cmd.data_len() {
                    uflags[0] |= UFLAG_READ_LEN;
                    rsp[4..8].copy_from_slice(&(n as u32).to_le_bytes());
                }
            }
            Reply::Check(sense) => {
                rsp[0] = 0x02;
                rsp[8..8 + sense.len()].copy_from_slice(&sense);
            }
        }
        self.map.write(e + 8, &rsp)?;
        self.map.write(e + 7, &uflags)
    }
}

/// The data buffers of one command, for the handler to read (data-out).
pub struct Data<'a> {
    map: &'a Mapping,
    iovs: &'a [(usize, usize)],
}

impl Data<'_> {
    /// Gather the initiator's data into `buf` (cleared first).
    pub fn read_into(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        for &(off, len) in self.iovs {
            let at = buf.len();
            buf.resize(at + len, 0);
            self.map.read(off, &mut buf[at..])?;
        }
        Ok(())
    }

    /// Write the initiator's data to `file` at `offset`, from the ring's
    /// data area itself.
    pub fn write_to(&mut self, file: &File, mut offset: u64) -> io::Result<()> {
        for &(off, len) in self.iovs {
            self.map.write_to_file(off, len, file, offset)?;
            offset += len as u64;
        }
        Ok(())
    }
}

fn copy_in(map: &Mapping, iovs: &[(usize, usize)], data: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    for &(off, len) in iovs {
        if done >= data.len() {
            break;
        }
        let n = len.min(data.len() - done);
        map.write(off, &data[done..done + n])?;
        done += n;
    }
    Ok(done)
}
