//! Decompression by content, never by file name, with the decoders' memory capped: an xz
//! or zstd stream may ask for a window of gigabytes, and an image is hostile input.

use std::io::{BufRead, BufReader, Read};

/// xz decoder memory cap. `xz -9` needs 65 MiB to decode; an image asking for more is
/// broken or an attack.
pub const XZ_MEMLIMIT: u64 = 256 << 20;
/// zstd window cap (2^27 = 128 MiB; `zstd --ultra -22` uses 2^27).
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    /// The compression of a stream starting with `head` (at least 6 bytes when there are).
    pub fn detect(head: &[u8]) -> Result<Compression, String> {
        Ok(match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => Compression::Xz,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [b'B', b'Z', b'h', ..] => return Err("bzip2 is not supported; recompress with xz, gzip or zstd".into()),
            [b'h', b's', b'q', b's', ..] => {
                return Err("a squashfs image is not supported; use the image's root.tar.xz (rootfs.tar.xz)".into())
            }
            _ => Compression::None,
        })
    }

    /// A file-name suffix for this compression, as stored and exported.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => "tar",
            Compression::Gzip => "tar.gz",
            Compression::Xz => "tar.xz",
            Compression::Zstd => "tar.zst",
        }
    }
}

/// A reader of the decompressed bytes of `src`.
pub fn reader<'a, R: Read + 'a>(src: R) -> Result<Box<dyn Read + 'a>, String> {
    let mut src = BufReader::with_capacity(256 << 10, src);
    let head = src.fill_buf().map_err(|e| format!("cannot read: {e}"))?;
    Ok(match Compression::detect(head)? {
        Compression::None => Box::new(src),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(src)),
        Compression::Xz => {
            let stream = xz2::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, xz2::stream::CONCATENATED)
                .map_err(|e| format!("cannot set up the xz decoder: {e}"))?;
            Box::new(xz2::bufread::XzDecoder::new_stream(src, stream))
        }
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(src).map_err(|e| format!("cannot set up the zstd decoder: {e}"))?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(|e| format!("cannot cap the zstd window: {e}"))?;
            Box::new(d)
        }
    })
}

/// A decoder error in words a user can act on.
pub fn explain(e: &std::io::Error) -> String {
    let s = e.to_string();
    if s.contains("memory limit") || s.contains("MemLimit") {
        format!("the xz stream needs more than {} MiB of memory to decode (a dictionary no image needs); refusing it", XZ_MEMLIMIT >> 20)
    } else if s.contains("Frame requires too much memory") || s.contains("window") {
        format!("the zstd stream needs a window larger than {} MiB; refusing it", 1u64 << (ZSTD_WINDOW_LOG_MAX - 20))
    } else if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "the archive ends early (truncated)".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn detects_by_content() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8, 0, 0, 0]).unwrap(), Compression::Gzip);
        assert_eq!(Compression::detect(b"\xfd7zXZ\0").unwrap(), Compression::Xz);
        assert_eq!(Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0]).unwrap(), Compression::Zstd);
        assert_eq!(Compression::detect(b"./etc/").unwrap(), Compression::None);
        assert!(Compression::detect(b"BZh91AY").is_err());
    }

    #[test]
    fn round_trips_each_format() {
        let data = b"hello image".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&data).unwrap();
        let zs = zstd::encode_all(&data[..], 3).unwrap();
        for packed in [gz.finish().unwrap(), xz.finish().unwrap(), zs, data.clone()] {
            let mut out = Vec::new();
            reader(&packed[..]).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
    }
}
