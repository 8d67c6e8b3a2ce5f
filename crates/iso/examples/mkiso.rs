//! `cargo run -p discrec-iso --example mkiso -- DIR OUT.iso [LABEL]`: make
//! an image of DIR, as `xorriso -as mkisofs -R -J` would.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (dir, out) = (args.get(1).ok_or("usage: mkiso DIR OUT.iso [LABEL]")?, args.get(2).ok_or("OUT.iso")?);
    let label = args.get(3).cloned().unwrap_or_else(|| "CDROM".into());
    let image = discrec_iso::Image::from_dir(dir.as_ref(), &discrec_iso::Options::new(label))?;
    let mut f = std::fs::File::create(out)?;
    std::io::copy(&mut image.reader(), &mut f)?;
    eprintln!("{}: {} bytes, {} files, {} bytes of metadata", out, image.len(), image.files(), image.metadata_len());
    Ok(())
}
