//! Audio decoding, resampling, mix-down, augmentation and voice-activity detection.
