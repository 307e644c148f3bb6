//! librosa-compatible audio features: STFT, mel, MFCC, chroma, spectral descriptors, pitch.
