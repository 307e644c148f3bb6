//! Emotion dataset readers, label vocabularies, speaker-independent splits and leakage checks.
