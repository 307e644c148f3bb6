//! Reading multipart uploads with size limits, and naming what users upload.

use std::path::Path;

use axum::extract::multipart::{Field, MultipartError};
use axum::http::StatusCode;
use tokio::io::AsyncWriteExt;

use crate::config::human_bytes;
use crate::error::AppError;

/// Local file header of a ZIP archive.
const ZIP_MAGIC: &[u8; 4] = b"PK\x03\x04";

/// A multipart error as a client-facing error.
pub fn multipart_error(err: MultipartError) -> AppError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge("the upload is larger than this server accepts".to_owned())
    } else {
        AppError::BadRequest(format!("could not read the upload: {}", err.body_text()))
    }
}

/// The user's file name reduced to a display name: no folders, no control characters.
pub fn display_name(raw: Option<&str>, fallback: &str) -> String {
    let base = raw.unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let clean = clean.trim();
    if clean.is_empty() {
        fallback.to_owned()
    } else {
        clean.to_owned()
    }
}

/// A text field, capped in size.
pub async fn text_field(field: Field<'_>) -> Result<String, AppError> {
    let name = field.name().unwrap_or("field").to_owned();
    let text = field.text().await.map_err(multipart_error)?;
    if text.len() > 1000 {
        return Err(AppError::BadRequest(format!(
            "the '{name}' field is too long"
        )));
    }
    Ok(text.trim().to_owned())
}

/// Read a file field into memory, refusing more than `max` bytes.
pub async fn read_limited(
    mut field: Field<'_>,
    name: &str,
    max: u64,
    what: &str,
) -> Result<Vec<u8>, AppError> {
    let mut data = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if (data.len() + chunk.len()) as u64 > max {
            return Err(too_large(name, max, what));
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

fn too_large(name: &str, max: u64, what: &str) -> AppError {
    AppError::PayloadTooLarge(format!(
        "{name} is larger than the {} limit for {what}",
        human_bytes(max)
    ))
}

/// Stream a dataset ZIP to `dest`, checking its name, magic bytes and size.
/// Nothing is left at `dest` on error.
pub async fn save_zip(
    field: Field<'_>,
    name: &str,
    dest: &Path,
    max: u64,
) -> Result<u64, AppError> {
    if !name.to_lowercase().ends_with(".zip") {
        return Err(AppError::BadRequest(format!(
            "{name} is not a .zip file; upload the dataset as a ZIP archive"
        )));
    }
    let result = write_zip(field, name, dest, max).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(dest).await;
    }
    result
}

async fn write_zip(
    mut field: Field<'_>,
    name: &str,
    dest: &Path,
    max: u64,
) -> Result<u64, AppError> {
    if let Some(dir) = dest.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(AppError::internal)?;
    }
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(AppError::internal)?;
    let mut head: Vec<u8> = Vec::with_capacity(4);
    let mut written = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        written += chunk.len() as u64;
        if written > max {
            return Err(too_large(name, max, "dataset ZIPs"));
        }
        if head.len() < 4 {
            head.extend(chunk.iter().take(4 - head.len()));
        }
        file.write_all(&chunk).await.map_err(AppError::internal)?;
    }
    if head.as_slice() != ZIP_MAGIC.as_slice() {
        return Err(AppError::BadRequest(format!(
            "{name} is not a ZIP archive (its content does not start like one)"
        )));
    }
    file.flush().await.map_err(AppError::internal)?;
    Ok(written)
}
