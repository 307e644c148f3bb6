//! `ser merge PART.jsonl... --out all.csv`: joins the parts of a sharded `ser predict --out`
//! into one CSV (or JSON-lines) file, reporting duplicates and, given the file list the shards
//! shared, the files no part has.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::batch::{JsonLines, read_json_lines};
use super::predict::{FileResult, expand, write_csv_to};

#[derive(clap::Args)]
pub struct Args {
    /// The parts: JSON-lines files written by `ser predict --out`.
    #[arg(required = true)]
    parts: Vec<PathBuf>,
    /// The merged file: `.csv` (one row per file, as `ser predict --csv`) or `.jsonl`.
    #[arg(long)]
    out: PathBuf,
    /// The files the shards were given (folders, files or a CSV list, as for `ser
    /// predict`): those that no part has are listed, and the exit status says so.
    #[arg(long, num_args = 1.., value_name = "FILES")]
    expect: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut seen = HashSet::new();
    let mut results: Vec<FileResult> = Vec::new();
    let mut duplicates = 0usize;
    for part in &args.parts {
        let (lines, _) = read_json_lines::<FileResult>(part)?;
        for result in lines {
            if seen.insert(result.file.clone()) {
                results.push(result);
            } else {
                duplicates += 1;
            }
        }
    }
    write_merged(&args.out, &results)?;
    println!(
        "{}: {} files from {} parts, {duplicates} duplicate lines dropped",
        args.out.display(),
        results.len(),
        args.parts.len()
    );
    if args.expect.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let missing: Vec<String> = expand(&args.expect)?
        .into_iter()
        .map(|file| file.path.display().to_string())
        .filter(|file| !seen.contains(file))
        .collect();
    if missing.is_empty() {
        println!("every expected file is there");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{} expected files are in no part:", missing.len());
    for file in missing.iter().take(20) {
        eprintln!("  {file}");
    }
    if missing.len() > 20 {
        eprintln!("  ... and {} more", missing.len() - 20);
    }
    Ok(ExitCode::FAILURE)
}

fn write_merged(out: &std::path::Path, results: &[FileResult]) -> anyhow::Result<()> {
    let extension = out.extension().and_then(|e| e.to_str()).unwrap_or("");
    if extension.eq_ignore_ascii_case("jsonl") {
        if out.exists() {
            std::fs::remove_file(out)
                .with_context(|| format!("cannot replace {}", out.display()))?;
        }
        let (lines, _) = JsonLines::open_resuming::<serde_json::Value>(out)?;
        return results.iter().try_for_each(|r| lines.append(r));
    }
    if !extension.eq_ignore_ascii_case("csv") {
        anyhow::bail!("{}: the merged file is .csv or .jsonl", out.display());
    }
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot write {}", out.display()))?;
    let timeline = results.iter().any(FileResult::has_timeline);
    write_csv_to(std::io::BufWriter::new(file), results, timeline)
}
