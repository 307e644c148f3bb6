//! Property tests: parsers never panic on odd names, splits on random datasets never leak.

use std::path::Path;

use proptest::prelude::*;
use ser_corpus::scheme::{SCHEMES, parse_name};
use ser_corpus::{
    CacheKey, CacheMode, Clip, Corpus, Dataset, Emotion, FeatureCache, Protocol, SplitOptions,
    check_no_leakage, guess_emotion, make_splits,
};

proptest! {
    #[test]
    fn name_parsers_never_panic(name in "\\PC{0,30}", dir in "\\PC{0,10}") {
        let _ = Emotion::parse(&name);
        let path = Path::new(&dir).join(format!("{name}.wav"));
        for scheme in SCHEMES {
            let _ = parse_name(scheme, &path);
        }
        let _ = guess_emotion(&path);
    }

    #[test]
    fn damaged_cache_entries_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path(), CacheMode::ReadWrite);
        let key = CacheKey::for_bytes(b"a", "b");
        let path = cache.entry_path(&key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        prop_assert!(cache.get(&key).is_none());
    }

    #[test]
    fn kfold_never_leaks(
        speakers in 2usize..12,
        labels in 1usize..5,
        per in 1usize..4,
        extra in proptest::collection::vec((0usize..12, 0usize..5), 0..20),
        folds in 2usize..6,
        seed in any::<u64>(),
    ) {
        let data = random_dataset(speakers, labels, per, &extra);
        let protocol = Protocol::SpeakerKFold { folds };
        let opts = SplitOptions { seed, val_fraction: 0.2 };
        match make_splits(&data, &protocol, &opts) {
            Ok(splits) => {
                prop_assert_eq!(splits.len(), folds);
                let mut tested: Vec<usize> = splits.iter().flat_map(|s| s.test.clone()).collect();
                tested.sort_unstable();
                prop_assert_eq!(tested, (0..data.len()).collect::<Vec<_>>());
                for split in &splits {
                    prop_assert!(check_no_leakage(&data, split).is_ok());
                }
            }
            Err(_) => prop_assert!(data.speakers().len() < folds),
        }
    }

    #[test]
    fn random_split_never_shares_recordings(
        speakers in 1usize..6,
        labels in 1usize..5,
        per in 1usize..6,
        fraction in 0.05f64..0.9,
        seed in any::<u64>(),
    ) {
        let mut data = random_dataset(speakers, labels, per, &[]);
        let copies: Vec<Clip> = data.clips.iter().map(|c| Clip { path: c.path.with_extension("aug.wav"), ..c.clone() }).collect();
        data.clips.extend(copies);
        let protocol = Protocol::Random { test_fraction: fraction };
        let splits = make_splits(&data, &protocol, &SplitOptions { seed, val_fraction: 0.1 }).unwrap();
        prop_assert!(check_no_leakage(&data, &splits[0]).is_ok());
    }
}

fn random_dataset(speakers: usize, labels: usize, per: usize, extra: &[(usize, usize)]) -> Dataset {
    let mut clips = Vec::new();
    let mut push = |s: usize, l: usize| {
        let n = clips.len();
        clips.push(Clip {
            path: format!("{s}/{n}.wav").into(),
            speaker: s.to_string(),
            emotion: Emotion::ALL[l].name().to_string(),
            recording_id: format!("rec{n}"),
            corpus: Corpus::Folders,
            extra: Default::default(),
        });
    };
    for s in 0..speakers {
        for l in 0..labels {
            for _ in 0..per {
                push(s, l);
            }
        }
    }
    for &(s, l) in extra {
        push(s % speakers, l % labels);
    }
    Dataset::new("random", clips)
}
