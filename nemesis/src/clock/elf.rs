//! The check that a program reads the clock through libc, where a preloaded
//! libfaketime can fake it: a look at its ELF program headers (an interpreter, so
//! dynamically linked) and dynamic symbols (an imported libc clock function).

use std::path::Path;

/// libc functions through which a program reads the clock; a program that imports
/// none of them is not affected by libfaketime.
const LIBC_CLOCK_FUNCTIONS: [&str; 3] = ["clock_gettime", "gettimeofday", "time"];

/// `Ok` when `program` reads the clock through libc, so that a preloaded libfaketime
/// fakes it; `Err` says why its clock cannot be faulted (statically linked, or
/// dynamically linked without importing any libc clock function, as Go programs
/// such as etcd, which read the vDSO directly).
pub fn check_binary(program: &Path) -> std::result::Result<(), String> {
    let bytes = std::fs::read(program).map_err(|e| {
        format!(
            "cannot read {} to check its clock calls: {e}",
            program.display()
        )
    })?;
    let refuse = |why: &str| {
        Err(format!(
            "clock faults cannot act on {}: {why}, so a preloaded libfaketime does not \
             change the clock it sees; drop `clock` from --nemesis for this store",
            program.display()
        ))
    };
    match linkage(&bytes) {
        None => refuse("it is not a 64-bit little-endian ELF program faultline can inspect"),
        Some(Linkage::Static) => refuse("it is statically linked (no ELF interpreter)"),
        Some(Linkage::NoLibcClock) => refuse(
            "it imports none of libc's clock functions (clock_gettime, gettimeofday, time); \
             Go programs, for one, read the clock through the vDSO themselves",
        ),
        Some(Linkage::LibcClock) => Ok(()),
    }
}

/// How a program reaches the clock, as far as its ELF headers tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Linkage {
    /// No program interpreter: libc (if any) is linked in, preloading has no effect.
    Static,
    /// Dynamically linked, but no libc clock function is imported.
    NoLibcClock,
    /// Imports a libc clock function: preloading intercepts it.
    LibcClock,
}

/// Reads the linkage of an ELF64 little-endian file; `None` when it is not one (or
/// its headers point outside the file).
fn linkage(b: &[u8]) -> Option<Linkage> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| {
        let v = u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?);
        usize::try_from(v).ok()
    };
    if b.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (phoff, phentsize, phnum) = (u64_at(0x20)?, u16_at(0x36)?, u16_at(0x38)?);
    let (shoff, shentsize, shnum) = (u64_at(0x28)?, u16_at(0x3a)?, u16_at(0x3c)?);
    const PT_INTERP: u32 = 3;
    const SHT_DYNSYM: u32 = 11;
    let mut interp = false;
    for i in 0..usize::from(phnum) {
        interp |= u32_at(phoff + i * usize::from(phentsize))? == PT_INTERP;
    }
    if !interp {
        return Some(Linkage::Static);
    }
    // (type, offset, size, link, entry size) of section `i`.
    let section = |i: usize| {
        let at = shoff + i * usize::from(shentsize);
        Some((
            u32_at(at + 4)?,
            u64_at(at + 0x18)?,
            u64_at(at + 0x20)?,
            u32_at(at + 0x28)?,
            u64_at(at + 0x38)?,
        ))
    };
    for i in 0..usize::from(shnum) {
        let (kind, offset, size, link, entsize) = section(i)?;
        if kind != SHT_DYNSYM || entsize == 0 {
            continue;
        }
        let (_, strings, strings_size, _, _) = section(link as usize)?;
        let names = b.get(strings..strings + strings_size)?;
        for sym in 0..size / entsize {
            let at = offset + sym * entsize;
            let undefined = u16_at(at + 6)? == 0;
            let name_at = u32_at(at)? as usize;
            let name = names.get(name_at..)?.split(|&c| c == 0).next()?;
            if undefined && LIBC_CLOCK_FUNCTIONS.iter().any(|f| f.as_bytes() == name) {
                return Some(Linkage::LibcClock);
            }
        }
    }
    Some(Linkage::NoLibcClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_that_bypass_libc_clocks_are_refused() {
        // This test program reads its clock through libc's clock_gettime.
        let me = std::env::current_exe().unwrap();
        check_binary(&me).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("script.sh");
        std::fs::write(&text, "#!/bin/sh\n").unwrap();
        let err = check_binary(&text).unwrap_err();
        assert!(err.contains("not a 64-bit"), "{err}");
        // An ELF header with no program headers at all: no interpreter, static.
        let mut header = b"\x7fELF\x02\x01\x01".to_vec();
        header.resize(64, 0);
        let fake = dir.path().join("static");
        std::fs::write(&fake, &header).unwrap();
        let err = check_binary(&fake).unwrap_err();
        assert!(err.contains("statically linked"), "{err}");
        if let Some(etcd) = ["/usr/bin/etcd", "/usr/local/bin/etcd"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.is_file())
        {
            let err = check_binary(etcd).unwrap_err();
            assert!(err.contains("vDSO"), "{err}");
        }
    }
}
