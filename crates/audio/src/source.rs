//! Opening a file or an in-memory buffer as a symphonia media source, after the cheap checks
//! that need no decoder (empty input, a known container at the start, WAV header sanity).

use std::fs::File;
use std::io::Cursor;
use std::path::Path;

use symphonia::core::io::{MediaSource, ReadOnlySource};

use crate::AudioError;
use crate::magic::check_start;
use crate::wav_header::{WavFacts, check_wav};

/// Where the bytes come from.
enum Origin<'a> {
    File,
    Bytes(&'a [u8]),
}

/// An opened input: its name for messages, its size, and what a WAV header said.
pub(crate) struct Input<'a> {
    pub name: &'a Path,
    pub len: u64,
    pub wav: Option<WavFacts>,
    origin: Origin<'a>,
}

impl<'a> Input<'a> {
    pub fn file(path: &'a Path) -> Result<Self, AudioError> {
        let mut file = File::open(path).map_err(|e| io_error(path, e))?;
        let len = file.metadata().map_err(|e| io_error(path, e))?.len();
        if len == 0 {
            return Err(AudioError::Empty {
                file: path.to_owned(),
            });
        }
        let wav = check_wav(&mut file, len, path)?;
        if wav.is_none() {
            check_start(&mut file, len, path)?;
        }
        Ok(Self {
            name: path,
            len,
            wav,
            origin: Origin::File,
        })
    }

    pub fn bytes(bytes: &'a [u8], name: &'a Path) -> Result<Self, AudioError> {
        if bytes.is_empty() {
            return Err(AudioError::Empty {
                file: name.to_owned(),
            });
        }
        let len = bytes.len() as u64;
        let wav = check_wav(&mut Cursor::new(bytes), len, name)?;
        if wav.is_none() {
            check_start(&mut Cursor::new(bytes), len, name)?;
        }
        Ok(Self {
            name,
            len,
            wav,
            origin: Origin::Bytes(bytes),
        })
    }

    /// The file extension, used as a hint for the container probe.
    pub fn extension(&self) -> Option<String> {
        self.name
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
    }

    /// A fresh stream over the input from its first byte. A non-seekable stream stops
    /// demuxers from reading ahead to the end of the file (to find the duration or trailing
    /// tags), which fails on a file whose tail is cut off.
    pub fn media_source(&self, seekable: bool) -> Result<Box<dyn MediaSource + 'a>, AudioError> {
        Ok(match (&self.origin, seekable) {
            (Origin::Bytes(b), true) => Box::new(Cursor::new(*b)),
            (Origin::Bytes(b), false) => Box::new(ReadOnlySource::new(Cursor::new(*b))),
            (Origin::File, seekable) => {
                let file = File::open(self.name).map_err(|e| io_error(self.name, e))?;
                if seekable {
                    Box::new(file)
                } else {
                    Box::new(ReadOnlySource::new(file))
                }
            }
        })
    }
}

fn io_error(path: &Path, source: std::io::Error) -> AudioError {
    AudioError::Io {
        file: path.to_owned(),
        source,
    }
}
