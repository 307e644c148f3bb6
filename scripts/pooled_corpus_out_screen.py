"""Corpus-out screen of classical models on pooled features (issue 16): RAVDESS -> ASED and
ASED -> RAVDESS over the five emotions both have, with and without per-speaker normalisation
of the pooled vectors, for several feature subsets. A research aid, not part of the product:
it asks whether the ASED -> RAVDESS ceiling (37-42 % UA for every network recipe) is the
network's or the data's.

    ser features --set pooled-rich --npy OUT/rav  $(find ../shared/data/ravdess -name '*.flac')
    ser features --set pooled-rich --npy OUT/ased $(tail -n +2 ../shared/data/ased/MANIFEST.csv | cut -d, -f1 | sed 's|^|../shared/data/ased/|')
    python scripts/pooled_corpus_out_screen.py OUT ../shared/data   # needs numpy, scikit-learn
"""
import csv
import os
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score
from sklearn.svm import SVC

RAVDESS = {"01": "neutral", "03": "happy", "04": "sad", "05": "angry", "06": "fearful"}


def ravdess(features, data):
    x, y, s = [], [], []
    for actor in sorted(d for d in os.listdir(f"{data}/ravdess") if d.startswith("Actor_")):
        for name in sorted(os.listdir(f"{data}/ravdess/{actor}")):
            parts = name.split(".")[0].split("-")
            if parts[2] in RAVDESS:
                x.append(np.load(f"{features}/rav/{name.split('.')[0]}.npy").ravel())
                y.append(RAVDESS[parts[2]])
                s.append("r" + parts[6])
    return np.array(x), np.array(y), np.array(s)


def ased(features, data):
    x, y, s = [], [], []
    for row in csv.DictReader(open(f"{data}/ased/MANIFEST.csv")):
        stem = os.path.basename(row["path"]).split(".")[0]
        x.append(np.load(f"{features}/ased/{stem}.npy").ravel())
        y.append(row["emotion"])
        s.append("a" + row["speaker"])
    return np.array(x), np.array(y), np.array(s)


def by_speaker(x, speakers, scale):
    """Each speaker's mean (and with `scale` standard deviation) per dimension removed."""
    x = x.copy()
    for sp in np.unique(speakers):
        m = speakers == sp
        x[m] -= x[m].mean(0)
        if scale:
            x[m] /= x[m].std(0) + 1e-6
    return x


def ua_both_ways(r, a, columns, model):
    out = []
    for (xtr, ytr), (xte, yte) in [((r[0], r[1]), (a[0], a[1])), ((a[0], a[1]), (r[0], r[1]))]:
        xtr, xte = xtr[:, columns], xte[:, columns]
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        fitted = model().fit((xtr - mu) / sd, ytr)
        out.append(100 * recall_score(yte, fitted.predict((xte - mu) / sd), average="macro"))
    return out


def main(features, data):
    r, a = ravdess(features, data), ased(features, data)
    # pooled-rich: means then stds of 40 MFCC, 40 deltas, 40 delta-deltas, 12 chroma and 6
    # scalars (138 rows), then 5 F0 statistics.
    rows = lambda sel: np.array([i for i in sel] + [138 + i for i in sel])
    subsets = {
        "all 281": np.arange(281),
        "MFCC": rows(range(40)),
        "MFCC + deltas": rows(range(120)),
        "MFCC + scalars + F0": np.r_[rows(range(40)), rows(range(132, 138)), 276 + np.arange(5)],
    }
    models = {
        "svm-rbf C=1": lambda: SVC(C=1),
        "logistic C=0.1": lambda: LogisticRegression(C=0.1, max_iter=2000),
    }
    print("| normalisation | features | model | RAVDESS -> ASED | ASED -> RAVDESS |")
    print("|---|---|---|---|---|")
    for norm in ["none", "speaker mean", "speaker mean + std"]:
        rn, an = r, a
        if norm != "none":
            scale = norm.endswith("std")
            rn = (by_speaker(r[0], r[2], scale), r[1], r[2])
            an = (by_speaker(a[0], a[2], scale), a[1], a[2])
        for subset, columns in subsets.items():
            if norm == "none" and subset != "all 281":
                continue
            for name, model in models.items():
                ra, ar = ua_both_ways(rn, an, columns, model)
                print(f"| {norm} | {subset} | {name} | {ra:.1f} | {ar:.1f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
