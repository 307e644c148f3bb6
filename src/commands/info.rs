//! `ser info FILE...`: container, codec, rate, channels and duration per file.
//! `ser info --model M`: what a model knows and what it was trained and measured on, so a
//! user can tell when not to trust it.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::output::table;

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["files", "model"]))]
pub struct Args {
    /// Audio files to inspect.
    files: Vec<PathBuf>,
    /// Describe this model instead ("default" = the shipped one): its emotions, training
    /// corpora and speakers, and its within- and cross-corpus figures.
    #[arg(long, conflicts_with = "files")]
    model: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(model) = &args.model {
        return describe_model(model, args.json);
    }
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    let mut failures = 0;
    for path in &args.files {
        match ser_audio::probe(path) {
            Ok(info) => {
                rows.push(vec![
                    path.display().to_string(),
                    info.container.clone(),
                    info.codec.clone(),
                    info.sample_rate.to_string(),
                    info.channels.to_string(),
                    info.bits_per_sample.map_or("-".into(), |b| b.to_string()),
                    format!("{:.3}", info.duration_s),
                ]);
                json_rows.push(serde_json::json!({ "file": path, "info": info }));
            }
            Err(err) => {
                failures += 1;
                eprintln!("error: {err}");
                json_rows.push(serde_json::json!({ "file": path, "error": err.to_string() }));
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json_rows)?);
    } else if !rows.is_empty() {
        let header = [
            "file",
            "container",
            "codec",
            "rate",
            "channels",
            "bits",
            "seconds",
        ];
        print!("{}", table(&header, &rows));
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints a model card: architecture, emotions, training data, calibration and the figures
/// the bundle stores.
fn describe_model(name: &str, json: bool) -> anyhow::Result<ExitCode> {
    let bundle = crate::default_model::bundle(Some(name))?;
    let meta = &bundle.meta;
    let provenance = |key: &str| meta.provenance.get(key).map_or("-", String::as_str);
    let figures = &meta.metrics["speaker_independent"];
    if json {
        let card = serde_json::json!({
            "model": meta.model,
            "members": meta.members,
            "features": meta.features.as_ref().map(|f| &f.name),
            "labels": meta.labels,
            "temperature": meta.temperature,
            "uncertain_below": meta.uncertain_below,
            "provenance": meta.provenance,
            "figures": figures,
        });
        println!("{}", serde_json::to_string_pretty(&card)?);
        return Ok(ExitCode::SUCCESS);
    }
    let features = meta.features.as_ref().map_or("-", |f| f.name.as_str());
    println!("model        {name}");
    println!(
        "network      {} on {features}",
        meta.model.label(meta.members)
    );
    println!("emotions     {}", meta.labels.join(", "));
    println!("trained on   {}", ser_train::pipeline::trained_on(meta));
    println!("training     {}", provenance(ser_train::pipeline::TRAINING));
    match meta.temperature {
        Some(t) => match meta.provenance.get("temperature") {
            Some(how) => println!("calibration  temperature {how}"),
            None => println!("calibration  temperature {t:.2}, fitted on validation speakers"),
        },
        None => println!("calibration  none (probabilities as the network gives them)"),
    }
    if let Some(threshold) = meta.uncertain_below {
        println!("uncertain    below {:.0} % confidence", 100.0 * threshold);
    }
    println!("\nfigures (speakers never seen in training; the recipe cross-validated):");
    match figures.as_object() {
        Some(protocols) if !protocols.is_empty() => {
            for (protocol, f) in protocols {
                println!("  {protocol:<48} {}", figure_line(f));
                for (group, g) in f["per_corpus"].as_object().into_iter().flatten() {
                    println!("    {group:<46} {}", figure_line(g));
                }
                if let Some(line) = unseen_corpus_calibration(f) {
                    println!("    {line}");
                }
            }
        }
        _ => println!("  none stored in the bundle"),
    }
    let across = if figures.get("corpus-out").is_some() {
        "expect the cross-corpus figures (corpus-out), not the within-corpus ones"
    } else {
        "expect much less than these within-corpus figures (cross-corpus figures: docs/models.md)"
    };
    println!(
        "\nIt can only name the emotions above, and has heard only the speakers, languages and \
         recording conditions of its training corpora: on other speech, {across}."
    );
    Ok(ExitCode::SUCCESS)
}

/// "ECE with an unseen corpus's temperature: ravdess 0.058, ased 0.027" from corpus-out
/// figures (the ECE of the lines above uses each fold's validation temperature).
fn unseen_corpus_calibration(f: &serde_json::Value) -> Option<String> {
    let per_corpus = f[super::train::UNSEEN_CORPUS_ECE].as_object()?;
    let parts: Vec<String> = per_corpus
        .iter()
        .filter_map(|(corpus, ece)| Some(format!("{corpus} {:.3}", ece.as_f64()?)))
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "ECE with the temperature fitted on the other corpora (as for speech the model \
             never heard; the lines above use validation speakers'): {}",
            parts.join(", ")
        )
    })
}

/// "UA 65.9 ± 4.1 %  WA 66.1 ± 4.2 %  F1 ... ECE 0.071" from stored figures.
fn figure_line(f: &serde_json::Value) -> String {
    // Bundles store each figure as a serialised MeanStd.
    let stat = |key: &str| -> Option<String> {
        let figure: ser_train::metrics::MeanStd = serde_json::from_value(f[key].clone()).ok()?;
        Some(format!("{} %", figure.percent()))
    };
    let mut parts = Vec::new();
    for (label, key) in [("UA", "ua"), ("WA", "wa"), ("F1", "macro_f1")] {
        if let Some(value) = stat(key) {
            parts.push(format!("{label} {value}"));
        }
    }
    if let Some(ece) = f["ece"].as_f64() {
        parts.push(format!("ECE {ece:.3}"));
    }
    parts.join("  ")
}
