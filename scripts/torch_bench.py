#!/usr/bin/env python3
"""PyTorch twins of ser's networks, for training-speed comparison on the same CPU.

    python3 scripts/torch_bench.py [steps] [threads] [cnn1d-mfcc|cnn4]

Trains on random frames, batch 32, 7 classes (AdamW, forward + backward + step) and prints
samples/s; then times one-clip inference on one thread. `cnn1d-mfcc` is report 004's CNN on
40 x 110 MFCC frames; `cnn4` is the shipped model's network (four conv 3 + batch norm + ReLU +
max-pool blocks of 64, 64, 128, 128 channels, statistics pooling, dropout, one linear layer)
on 64 x 300 log-mel frames. Compare with
`cargo run --release -p ser-model --example nets_bench -- train [steps] [net]`.
"""
import sys
import time

import torch
from torch import nn

CLASSES, BATCH = 7, 32


def block(c_in, c_out, kernel, dropout):
    layers = [
        nn.Conv1d(c_in, c_out, kernel, padding="same"),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
        nn.MaxPool1d(2),
    ]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Cnn1dMfcc(nn.Module):
    """ser's `cnn1d-mfcc`: dropout after every block and before the output layer."""

    def __init__(self, n_in=40, classes=CLASSES):
        super().__init__()
        self.blocks = nn.Sequential(
            block(n_in, 256, 5, 0.3), block(256, 128, 5, 0.3), block(128, 64, 5, 0.3)
        )
        self.hidden = nn.Linear(64, 64)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(64, classes)

    def forward(self, x):
        x = self.blocks(x).mean(dim=2)
        return self.out(self.drop(torch.relu(self.hidden(x))))


class Cnn4(nn.Module):
    """ser's `cnn4` with `pooling = mean-std`: the mean and sqrt(biased variance + 1e-5) of
    each channel over time, dropout, one linear layer."""

    def __init__(self, n_in=64, classes=CLASSES):
        super().__init__()
        channels = [n_in, 64, 64, 128, 128]
        self.blocks = nn.Sequential(
            *[block(a, b, 3, 0.0) for a, b in zip(channels, channels[1:])]
        )
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(2 * 128, classes)

    def forward(self, x):
        x = self.blocks(x)
        mean = x.mean(dim=2)
        std = (x.var(dim=2, unbiased=False) + 1e-5).sqrt()
        return self.out(self.drop(torch.cat([mean, std], dim=1)))


NETS = {"cnn1d-mfcc": (Cnn1dMfcc, 40, 110), "cnn4": (Cnn4, 64, 300)}


def train(name, steps, threads):
    net, rows, frames = NETS[name]
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = net().train()
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    x = torch.rand(BATCH, rows, frames) * 2 - 1
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
    print(f"pytorch {torch.__version__} {name} train: {steps * BATCH / secs:.1f} samples/s "
          f"({1e3 * secs / steps:.1f} ms/step, batch {BATCH}, {rows}x{frames}, {threads} threads)")


def infer(name):
    net, rows, frames = NETS[name]
    torch.set_num_threads(1)
    model = net().eval()
    x = torch.rand(1, rows, frames)
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        runs = 30
        start = time.perf_counter()
        for _ in range(runs):
            model(x)
        ms = 1e3 * (time.perf_counter() - start) / runs
    print(f"pytorch {name} infer: {ms:.2f} ms per clip (1 thread)")


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    name = sys.argv[3] if len(sys.argv) > 3 else "cnn1d-mfcc"
    train(name, steps, threads)
    infer(name)
