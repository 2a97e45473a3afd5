//! The one fact about a shared object the harness needs: its `DT_SONAME`, the
//! name a program linked against it asks the dynamic loader for. Read from
//! the section headers: the `SHT_DYNAMIC` section and the string table it
//! links to. ELF32 and ELF64, either byte order.

use std::path::Path;

const SHT_DYNAMIC: u32 = 6;
const DT_NULL: u64 = 0;
const DT_SONAME: u64 = 14;

struct Elf<'a> {
    bytes: &'a [u8],
    wide: bool,
    big: bool,
}

impl Elf<'_> {
    fn uint(&self, at: u64, len: usize) -> Result<u64, String> {
        let at = usize::try_from(at).map_err(|_| "offset out of range".to_string())?;
        let b = at
            .checked_add(len)
            .and_then(|end| self.bytes.get(at..end))
            .ok_or_else(|| format!("truncated at offset {at}"))?;
        let mut v = 0u64;
        for i in 0..len {
            let byte = if self.big { b[i] } else { b[len - 1 - i] };
            v = (v << 8) | u64::from(byte);
        }
        Ok(v)
    }

    /// A word: 8 bytes in ELF64, 4 in ELF32.
    fn word(&self, at: u64) -> Result<u64, String> {
        self.uint(at, if self.wide { 8 } else { 4 })
    }

    fn section(&self, index: u64) -> Result<Section, String> {
        let (shoff, shentsize) = if self.wide {
            (self.uint(0x28, 8)?, self.uint(0x3a, 2)?)
        } else {
            (self.uint(0x20, 4)?, self.uint(0x2e, 2)?)
        };
        let at = shoff + index * shentsize;
        Ok(if self.wide {
            Section {
                kind: self.uint(at + 4, 4)? as u32,
                offset: self.uint(at + 0x18, 8)?,
                size: self.uint(at + 0x20, 8)?,
                link: self.uint(at + 0x28, 4)?,
            }
        } else {
            Section {
                kind: self.uint(at + 4, 4)? as u32,
                offset: self.uint(at + 0x10, 4)?,
                size: self.uint(at + 0x14, 4)?,
                link: self.uint(at + 0x18, 4)?,
            }
        })
    }

    fn string(&self, at: u64) -> Result<String, String> {
        let at = usize::try_from(at).map_err(|_| "offset out of range".to_string())?;
        let rest = self.bytes.get(at..).ok_or("string outside the file")?;
        let len = rest.iter().position(|&b| b == 0).ok_or("unterminated string")?;
        String::from_utf8(rest[..len].to_vec()).map_err(|_| "soname is not UTF-8".to_string())
    }
}

struct Section {
    kind: u32,
    offset: u64,
    size: u64,
    link: u64,
}

/// The soname of the shared object at `path`, or None when it has none.
pub fn soname(path: &Path) -> Result<Option<String>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    soname_of(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn soname_of(bytes: &[u8]) -> Result<Option<String>, String> {
    if bytes.len() < 0x40 || &bytes[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    let wide = match bytes[4] {
        1 => false,
        2 => true,
        c => return Err(format!("unknown ELF class {c}")),
    };
    let big = match bytes[5] {
        1 => false,
        2 => true,
        d => return Err(format!("unknown ELF byte order {d}")),
    };
    let elf = Elf { bytes, wide, big };
    let shnum = if wide { elf.uint(0x3c, 2)? } else { elf.uint(0x30, 2)? };
    let entry = if wide { 16 } else { 8 };
    for i in 0..shnum {
        let dynamic = elf.section(i)?;
        if dynamic.kind != SHT_DYNAMIC {
            continue;
        }
        let strtab = elf.section(dynamic.link)?;
        for n in 0..dynamic.size / entry {
            let at = dynamic.offset + n * entry;
            let tag = elf.word(at)?;
            if tag == DT_NULL {
                break;
            }
            if tag == DT_SONAME {
                let name = elf.word(at + entry / 2)?;
                if name >= strtab.size {
                    return Err("soname outside its string table".into());
                }
                return elf.string(strtab.offset + name).map(Some);
            }
        }
    }
    Ok(None)
}
