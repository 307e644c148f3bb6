//! `ser features FILE... --set NAME [--json | --npy OUT]`: a named feature set per file,
//! computed with the same code path that training and prediction use.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use npyz::WriterBuilder;
use rayon::prelude::*;
use ser_features::{Extractor, FeatureConfig, FeatureMatrix};

use crate::output::table;

#[derive(clap::Args)]
pub struct Args {
    /// Audio files to featurise.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Feature set name (pooled180, mfcc40-frames, logmel64-frames, logmel128-frames, pooled-rich).
    #[arg(long, default_value = "pooled180")]
    set: String,
    /// Print the values as JSON.
    #[arg(long, conflicts_with = "npy")]
    json: bool,
    /// Write NPY (features x frames, float32): a file for one input, a folder for several.
    #[arg(long, value_name = "OUT")]
    npy: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = FeatureConfig::named(&args.set)?;
    let results: Vec<anyhow::Result<FeatureMatrix>> = args
        .files
        .par_iter()
        .map_init(
            || Extractor::new(&config),
            |extractor, path| featurise(extractor, &config, path),
        )
        .collect();

    let mut failures = 0;
    let mut done = Vec::new();
    for (path, result) in args.files.iter().zip(results) {
        match result {
            Ok(matrix) => done.push((path, matrix)),
            Err(err) => {
                failures += 1;
                eprintln!("error: {err:#}");
            }
        }
    }
    if let Some(out) = &args.npy {
        write_npy_outputs(out, &done, args.files.len() == 1)?;
    } else if args.json {
        print_json(&config, &done)?;
    } else {
        print_summary(&done);
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn featurise(
    extractor: &mut Result<Extractor, ser_features::FeatureError>,
    config: &FeatureConfig,
    path: &Path,
) -> anyhow::Result<FeatureMatrix> {
    let extractor = extractor.as_mut().map_err(|e| anyhow::anyhow!("{e}"))?;
    let options = ser_audio::LoadOptions {
        target_rate: Some(config.sample_rate),
        ..Default::default()
    };
    let audio = ser_audio::load(path, &options)?;
    extractor
        .extract(&audio.samples)
        .with_context(|| format!("{}: feature extraction failed", path.display()))
}

fn print_summary(done: &[(&PathBuf, FeatureMatrix)]) {
    let rows: Vec<Vec<String>> = done
        .iter()
        .map(|(path, m)| {
            let (min, max) = m
                .data
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
            vec![
                path.display().to_string(),
                format!("{} x {}", m.rows, m.cols),
                format!("{min:.4}"),
                format!("{max:.4}"),
            ]
        })
        .collect();
    print!("{}", table(&["file", "shape", "min", "max"], &rows));
}

fn print_json(config: &FeatureConfig, done: &[(&PathBuf, FeatureMatrix)]) -> anyhow::Result<()> {
    let items: Vec<serde_json::Value> = done
        .iter()
        .map(|(path, m)| {
            let rows: Vec<&[f32]> = m.data.chunks(m.cols.max(1)).collect();
            serde_json::json!({ "file": path, "rows": m.rows, "cols": m.cols, "values": rows })
        })
        .collect();
    let doc = serde_json::json!({ "feature_config": config, "files": items });
    println!("{}", serde_json::to_string(&doc)?);
    Ok(())
}

fn write_npy_outputs(
    out: &Path,
    done: &[(&PathBuf, FeatureMatrix)],
    single: bool,
) -> anyhow::Result<()> {
    if single {
        if let Some((_, matrix)) = done.first() {
            write_npy(out, matrix)?;
        }
        return Ok(());
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create folder {}", out.display()))?;
    for (path, matrix) in done {
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        write_npy(&out.join(format!("{stem}.npy")), matrix)?;
    }
    Ok(())
}

fn write_npy(path: &Path, matrix: &FeatureMatrix) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut writer = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[matrix.rows as u64, matrix.cols as u64])
        .writer(std::io::BufWriter::new(file))
        .begin_nd()?;
    writer.extend(matrix.data.iter().copied())?;
    writer.finish()?;
    Ok(())
}
