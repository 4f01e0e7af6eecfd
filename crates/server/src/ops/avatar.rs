//! Avatars (contract §7): an uploaded PNG, JPEG or WebP is decoded and re-encoded in its own
//! format — at most 512×512, every byte of metadata (EXIF with its location, comments, colour
//! profiles) left behind — on the blocking pool, with the decoder's allocations bounded, so a
//! crafted image can neither stall the runtime nor blow up memory.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};
use portcullis_domain::ports::Avatar;
use sha2::{Digest, Sha256};

/// The longest side kept, in pixels.
pub const MAX_SIDE: u32 = 512;
/// The largest image decoded, per side: past it the upload is refused before decoding.
const MAX_DECODED_SIDE: u32 = 4096;
/// What the decoder may allocate (a 4096×4096 RGBA image is 64 MiB).
const MAX_DECODER_ALLOC: u64 = 64 * 1024 * 1024;

/// Why an upload was refused; each maps to one status.
#[derive(Debug, thiserror::Error)]
pub enum AvatarError {
    /// 415: not one of the three types.
    #[error("an avatar must be image/png, image/jpeg or image/webp")]
    UnsupportedType,
    /// 400: the bytes are not an image of the type it was sent as.
    #[error("the body is not a valid {0} image: {1}")]
    Undecodable(&'static str, String),
    /// 500: encoding failed (ours).
    #[error("encoding the avatar failed: {0}")]
    Encode(String),
}

/// Decodes at once, at most: one a core. Past it an upload is told to come back (503), so a
/// burst of uploads can hold neither every core nor `n × MAX_DECODER_ALLOC` of memory.
pub fn decoders() -> std::sync::Arc<tokio::sync::Semaphore> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::sync::Arc::new(tokio::sync::Semaphore::new(cores))
}

/// The format a `Content-Type` names (parameters ignored), if it is one we take.
pub fn format_of(content_type: &str) -> Option<ImageFormat> {
    match content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase().as_str() {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}

fn mime(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::WebP => "image/webp",
        _ => "image/png",
    }
}

/// Decodes `bytes` as `format` (the sniffed format must agree), scales it down to fit
/// [`MAX_SIDE`] and encodes it again, metadata-free. CPU-bound: call it off the runtime.
pub fn reencode(bytes: &[u8], format: ImageFormat, now: chrono::DateTime<chrono::Utc>) -> Result<Avatar, AvatarError> {
    let name = mime(format);
    let bad = |e: &dyn std::fmt::Display| AvatarError::Undecodable(name, e.to_string());
    let sniffed = image::guess_format(bytes).map_err(|e| bad(&e))?;
    if sniffed != format {
        return Err(AvatarError::Undecodable(name, format!("the bytes are {}", mime_name(sniffed))));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODED_SIDE);
    limits.max_image_height = Some(MAX_DECODED_SIDE);
    limits.max_alloc = Some(MAX_DECODER_ALLOC);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| bad(&e))?;
    let img = if img.width() > MAX_SIDE || img.height() > MAX_SIDE { img.thumbnail(MAX_SIDE, MAX_SIDE) } else { img };
    let mut out = Cursor::new(Vec::new());
    // JPEG has no alpha; the other two keep it. WebP is encoded losslessly (the crate's only
    // WebP encoder), PNG and JPEG as the image crate does by default.
    let written = match format {
        ImageFormat::Jpeg => img.into_rgb8().write_to(&mut out, format),
        _ => img.into_rgba8().write_to(&mut out, format),
    };
    written.map_err(|e| AvatarError::Encode(e.to_string()))?;
    let data = out.into_inner();
    let etag = format!("\"{}\"", hex(&Sha256::digest(&data)));
    Ok(Avatar { content_type: name.to_owned(), data, etag, updated_at: now })
}

fn mime_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Png => "PNG",
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::WebP => "WebP",
        ImageFormat::Gif => "GIF",
        _ => "another format",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use image::{DynamicImage, RgbaImage};

    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgba8(RgbaImage::from_pixel(w, h, image::Rgba([200, 10, 10, 255])))
            .write_to(&mut out, ImageFormat::Png)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn a_large_image_is_scaled_to_fit_and_keeps_its_format() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let a = reencode(&png(1024, 256), ImageFormat::Png, now).unwrap();
        assert_eq!(a.content_type, "image/png");
        let back = image::load_from_memory(&a.data).unwrap();
        assert_eq!((back.width(), back.height()), (512, 128));
        assert!(a.etag.starts_with('"') && a.etag.len() == 66);
        let small = reencode(&png(40, 30), ImageFormat::Png, now).unwrap();
        let back = image::load_from_memory(&small.data).unwrap();
        assert_eq!((back.width(), back.height()), (40, 30), "a small one is not scaled up");
    }

    #[test]
    fn bytes_that_are_not_the_named_type_are_refused() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(matches!(reencode(b"not an image", ImageFormat::Png, now), Err(AvatarError::Undecodable(..))));
        assert!(matches!(reencode(&png(4, 4), ImageFormat::Jpeg, now), Err(AvatarError::Undecodable(..))));
        let mut cut = png(64, 64);
        cut.truncate(cut.len() / 2);
        assert!(matches!(reencode(&cut, ImageFormat::Png, now), Err(AvatarError::Undecodable(..))));
        assert_eq!(format_of("image/png; charset=x"), Some(ImageFormat::Png));
        assert_eq!(format_of("image/gif"), None);
    }

    #[test]
    fn a_huge_declared_size_is_refused_before_decoding() {
        // A PNG header that claims 100000 x 100000 pixels (a decompression bomb's shape).
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(matches!(reencode(&bomb, ImageFormat::Png, now), Err(AvatarError::Undecodable(..))));
    }
}
