//! Every model `ser` can train, in one table: its name, what people call it, what it is and
//! the features it takes unless told otherwise. The CLI (`--arch`, `--features` defaults),
//! the web Training page and `GET /api/models/kinds` read it.

use crate::bundle::ModelSpec;

/// One trainable model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogueEntry {
    /// The name `--arch` and bundles use.
    pub name: &'static str,
    /// What people call it ("Linear SVM"), for menus and help.
    pub display_name: &'static str,
    /// A sentence or two on what it is and how fast it trains, for people choosing one.
    pub description: &'static str,
    /// The feature set it is trained on by default: pooled models the rich clip summary,
    /// the 2-D CNNs and the 4-layer CNN a log-mel spectrogram, the other frame models MFCC
    /// frames.
    pub default_features: &'static str,
}

/// Every trainable model, quickest to train first within each input kind.
pub const CATALOGUE: [CatalogueEntry; 12] = [
    CatalogueEntry {
        name: "svm-linear",
        display_name: "Linear SVM",
        description: "A linear support-vector machine on a 281-value summary of each clip. Trains in seconds; a solid baseline.",
        default_features: "pooled-rich",
    },
    CatalogueEntry {
        name: "svm-rbf",
        display_name: "SVM (RBF kernel)",
        description: "A kernel support-vector machine on the 281-value clip summary. Fast to train and among the most accurate on small corpora.",
        default_features: "pooled-rich",
    },
    CatalogueEntry {
        name: "random-forest",
        display_name: "Random forest",
        description: "An ensemble of decision trees on the 281-value clip summary. Fast, robust, no tuning.",
        default_features: "pooled-rich",
    },
    CatalogueEntry {
        name: "mlp",
        display_name: "Multilayer perceptron",
        description: "A small fully connected network on the 281-value clip summary. Quick to train.",
        default_features: "pooled-rich",
    },
    CatalogueEntry {
        name: "cnn1d-pooled",
        display_name: "1-D CNN on pooled features",
        description: "Convolution layers over the clip summary vector (report 000).",
        default_features: "pooled-rich",
    },
    CatalogueEntry {
        name: "cnn1d-mfcc",
        display_name: "1-D CNN on MFCC frames",
        description: "Three convolution blocks over 40 MFCCs per 10 ms frame (report 004).",
        default_features: "mfcc40-frames",
    },
    CatalogueEntry {
        name: "cnn4",
        display_name: "4-layer 1-D CNN",
        description: "Four convolution blocks over a log-mel spectrogram normalised by each speaker's average, then the mean and spread of each channel over time: the shipped model, trained its way (the last of the epochs is kept). The most accurate here on unseen speakers, with augmentation.",
        default_features: "logmel64-frames",
    },
    CatalogueEntry {
        name: "cnn-tm",
        display_name: "CNN + Transformer",
        description: "Parallel convolution branches followed by a Transformer encoder over a log-mel spectrogram (report 003). Slow on a CPU.",
        default_features: "logmel64-frames",
    },
    CatalogueEntry {
        name: "resnet9",
        display_name: "ResNet-9",
        description: "A residual 2-D CNN over a log-mel spectrogram. Slow on a CPU.",
        default_features: "logmel64-frames",
    },
    CatalogueEntry {
        name: "transformer",
        display_name: "Transformer",
        description: "A 2-layer Transformer encoder over MFCC frames.",
        default_features: "mfcc40-frames",
    },
    CatalogueEntry {
        name: "lstm",
        display_name: "LSTM",
        description: "A recurrent network (long short-term memory) over MFCC frames.",
        default_features: "mfcc40-frames",
    },
    CatalogueEntry {
        name: "bigru",
        display_name: "Bidirectional GRU",
        description: "Three bidirectional GRU layers over MFCC frames.",
        default_features: "mfcc40-frames",
    },
];

/// The catalogue's entry for the model `name`.
pub fn entry(name: &str) -> Option<&'static CatalogueEntry> {
    CATALOGUE.iter().find(|e| e.name == name)
}

impl ModelSpec {
    /// The feature set this model is trained on unless told otherwise.
    pub fn default_features(&self) -> &'static str {
        entry(self.name()).map_or("logmel64-frames", |e| e.default_features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InputKind;
    use ser_features::FeatureConfig;

    #[test]
    fn the_catalogue_lists_every_model_once() {
        let mut listed: Vec<&str> = CATALOGUE.iter().map(|e| e.name).collect();
        let mut known = ModelSpec::all_names();
        listed.sort_unstable();
        known.sort_unstable();
        assert_eq!(listed, known);
    }

    #[test]
    fn each_model_defaults_to_features_of_its_input_kind() {
        for e in &CATALOGUE {
            let model = ModelSpec::from_name(e.name).unwrap();
            let features = FeatureConfig::named(e.default_features).unwrap();
            let pooled = model.input_kind() == InputKind::Pooled;
            assert_eq!(features.is_pooled(), pooled, "{}", e.name);
            assert_eq!(model.default_features(), e.default_features);
        }
    }
}
