#!/usr/bin/env python3
"""PyTorch twin of ser's `cnn1d-mfcc` (report 004's CNN) for speed comparison.

    python3 scripts/torch_cnn1d_bench.py [steps] [threads]

Trains on random 40 x 110 MFCC frames, batch 32, 7 classes (AdamW, forward + backward +
step) and prints samples/s; then times one-clip inference on one thread. Compare with
`cargo run --release -p ser-model --example nets_bench -- train`.
"""
import sys
import time

import torch
from torch import nn

CLASSES, FRAMES, BATCH = 7, 110, 32


def block(c_in, c_out):
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, 5, padding="same"),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Dropout(0.3),
    )


class Cnn1dMfcc(nn.Module):
    def __init__(self, n_in=40, classes=CLASSES):
        super().__init__()
        self.blocks = nn.Sequential(block(n_in, 256), block(256, 128), block(128, 64))
        self.hidden = nn.Linear(64, 64)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(64, classes)

    def forward(self, x):
        x = self.blocks(x).mean(dim=2)
        return self.out(self.drop(torch.relu(self.hidden(x))))


def train(steps, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = Cnn1dMfcc().train()
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    x = torch.rand(BATCH, 40, FRAMES) * 2 - 1
    y = torch.arange(BATCH) % CLASSES
    loss_fn = nn.CrossEntropyLoss()

    def step():
        optim.zero_grad()
        loss_fn(model(x), y).backward()
        optim.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    secs = time.perf_counter() - start
    print(f"pytorch {torch.__version__} cnn1d-mfcc train: {steps * BATCH / secs:.1f} samples/s "
          f"({1e3 * secs / steps:.1f} ms/step, batch {BATCH}, 40x{FRAMES}, {threads} threads)")


def infer():
    torch.set_num_threads(1)
    model = Cnn1dMfcc().eval()
    x = torch.rand(1, 40, FRAMES)
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        runs = 30
        start = time.perf_counter()
        for _ in range(runs):
            model(x)
        ms = 1e3 * (time.perf_counter() - start) / runs
    print(f"pytorch cnn1d-mfcc infer: {ms:.2f} ms per clip (1 thread)")


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    train(steps, threads)
    infer()
