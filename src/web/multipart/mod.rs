//! `multipart/form-data` bodies, read part by part as they arrive: a
//! file part can go to disk chunk by chunk, never whole in memory.
//!
//! ```
//! use percore::web::{HttpError, Request};
//!
//! async fn upload(mut req: Request) -> Result<String, HttpError> {
//!     let mut form = req.multipart()?;
//!     let mut saved = Vec::new();
//!     while let Some(mut part) = form.next_part().await? {
//!         match part.safe_file_name() {
//!             // A file: to disk under a name that cannot leave the directory.
//!             Some(name) => {
//!                 let path = std::env::temp_dir().join(&name);
//!                 let bytes = part.save_to(&path).await?;
//!                 saved.push(format!("{name} ({bytes} bytes)"));
//!             }
//!             // A field: small, in memory.
//!             None => {
//!                 let name = part.name().unwrap_or("").to_string();
//!                 saved.push(format!("{name} = {}", part.text().await?));
//!             }
//!         }
//!     }
//!     Ok(saved.join("\n"))
//! }
//! ```

mod disposition;
mod parser;

use std::path::Path;

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::HeaderMap;
use percore_http::RequestBody;
use percore_runtime::fs::File;

pub use parser::{Event, MultipartError, MultipartLimits, Parser};

use super::HttpError;

impl From<MultipartError> for HttpError {
    fn from(e: MultipartError) -> HttpError {
        match e {
            MultipartError::Malformed(_) => HttpError::bad_request(e.to_string()),
            MultipartError::TooLarge(_) => HttpError::payload_too_large(e.to_string()),
        }
    }
}

/// The boundary of a `multipart/form-data` `Content-Type`: 415 for another
/// type, 400 for a missing or invalid boundary.
pub(crate) fn boundary(headers: &HeaderMap) -> Result<String, HttpError> {
    let value = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut params = value.split(';');
    let media_type = params.next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("multipart/form-data") {
        let found = if media_type.is_empty() {
            "none"
        } else {
            media_type
        };
        return Err(HttpError::unsupported_media_type(format!(
            "expected Content-Type multipart/form-data, got {found}"
        )));
    }
    let boundary = params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .ok_or_else(|| HttpError::bad_request("multipart/form-data without a boundary"))?;
    let valid = (1..=70).contains(&boundary.len())
        && boundary.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && !boundary.ends_with(' ');
    if !valid {
        return Err(HttpError::bad_request("invalid multipart boundary"));
    }
    Ok(boundary)
}

/// A multipart body being read (`req.multipart()`): its parts, in order.
pub struct Multipart {
    body: RequestBody,
    parser: Parser,
    /// The head of the next part, found while the previous one was read.
    next_head: Option<HeaderMap>,
    ended: bool,
}

impl std::fmt::Debug for Multipart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multipart")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl Multipart {
    pub(crate) fn new(body: RequestBody, boundary: &str, limits: MultipartLimits) -> Multipart {
        Multipart {
            body,
            parser: Parser::new(boundary, limits),
            next_head: None,
            ended: false,
        }
    }

    /// The next parser event, reading the body as needed.
    async fn event(&mut self) -> Result<Event, HttpError> {
        loop {
            match self.parser.next()? {
                Event::NeedMore => match self.body.chunk().await {
                    Some(chunk) => self.parser.push(&chunk?)?,
                    None => self.parser.finish(),
                },
                event => return Ok(event),
            }
        }
    }

    /// The next part (what is left of the previous one is skipped), or
    /// `None` after the last. A malformed body is a 400, one over a limit
    /// a 413; a part without `Content-Disposition: form-data` is a 400.
    pub async fn next_part(&mut self) -> Result<Option<Part<'_>>, HttpError> {
        let headers = loop {
            if let Some(head) = self.next_head.take() {
                break head;
            }
            if self.ended {
                return Ok(None);
            }
            match self.event().await? {
                Event::Part(head) => break head,
                Event::Data(_) => {} // the rest of a part the caller left
                Event::End => self.ended = true,
                Event::NeedMore => unreachable!("event() reads until it has one"),
            }
        };
        let disposition = headers
            .get(http::header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .and_then(disposition::parse)
            .ok_or_else(|| {
                HttpError::bad_request("a part has no Content-Disposition: form-data")
            })?;
        Ok(Some(Part {
            form: self,
            headers,
            name: disposition.0,
            file_name: disposition.1,
            done: false,
        }))
    }
}

/// One part of a multipart body: its head, and its data to read in chunks.
pub struct Part<'a> {
    form: &'a mut Multipart,
    headers: HeaderMap,
    name: Option<String>,
    file_name: Option<String>,
    done: bool,
}

impl std::fmt::Debug for Part<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Part")
            .field("name", &self.name)
            .field("file_name", &self.file_name)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl Part<'_> {
    /// The part's header fields.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The form field's name (`Content-Disposition`'s `name`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The file name the client gave, as it gave it: never use it as a
    /// path; see [`safe_file_name`](Self::safe_file_name).
    pub fn file_name(&self) -> Option<&str> {
        self.file_name.as_deref()
    }

    /// The client's file name reduced to a plain name that cannot leave a
    /// directory (last path component; no control characters, leading
    /// dots or separators); `None` for a part that is not a file or whose
    /// name has nothing left.
    pub fn safe_file_name(&self) -> Option<String> {
        disposition::safe_file_name(self.file_name.as_deref()?)
    }

    /// The part's `Content-Type`, if it has one.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
    }

    /// The next chunk of the part's data; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, HttpError> {
        if self.done {
            return Ok(None);
        }
        match self.form.event().await? {
            Event::Data(data) => return Ok(Some(data)),
            Event::Part(next) => self.form.next_head = Some(next),
            Event::End => self.form.ended = true,
            Event::NeedMore => unreachable!("event() reads until it has one"),
        }
        self.done = true;
        Ok(None)
    }

    /// The whole part in memory (bounded by `MultipartLimits::max_part_size`).
    pub async fn bytes(&mut self) -> Result<Bytes, HttpError> {
        let mut all = BytesMut::new();
        while let Some(chunk) = self.chunk().await? {
            all.extend_from_slice(&chunk);
        }
        Ok(all.freeze())
    }

    /// The whole part as UTF-8 text (400 if it is not).
    pub async fn text(&mut self) -> Result<String, HttpError> {
        let bytes = self.bytes().await?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| HttpError::bad_request("a multipart field is not valid UTF-8"))
    }

    /// Writes the part's data to `path` (created or truncated) chunk by
    /// chunk as it arrives; returns the bytes written. On failure the
    /// partial file is removed.
    pub async fn save_to(&mut self, path: impl AsRef<Path>) -> Result<u64, HttpError> {
        let path = path.as_ref();
        let file = File::create(path)
            .await
            .map_err(|e| HttpError::internal(format!("cannot create {}: {e}", path.display())))?;
        let written = self.write_into(&file).await;
        if written.is_err() {
            let _ = std::fs::remove_file(path);
        }
        written
    }

    async fn write_into(&mut self, file: &File) -> Result<u64, HttpError> {
        let mut offset = 0u64;
        while let Some(chunk) = self.chunk().await? {
            let len = chunk.len() as u64;
            let (result, _) = file.write_all_at(chunk, offset).await;
            result.map_err(|e| HttpError::internal(format!("writing an upload failed: {e}")))?;
            offset += len;
        }
        Ok(offset)
    }
}
