#!/usr/bin/env python3
"""Writes tests/data/mfcc_ref.h5: MFCCs of two deterministic test signals, computed with
torch's own STFT and the formulas of torchaudio 2.x (functional.py: melscale_fbanks htk/no
norm, amplitude_to_DB with top_db, create_dct ortho) as torchaudio.transforms.MFCC(
sample_rate, melkwargs={"n_fft": 2048, "hop_length": 512}) runs them, in float64.
(torchaudio itself is not installed here; torch 1.13 from Debian is.) Run:
    /usr/bin/python3 tests/data/make_mfcc_ref.py tests/data/mfcc_ref.h5
Datasets: x_<case> (N) float32 input, mfcc_<case> (40, T) float64, attribute sample_rate."""
import math
import sys

import h5py
import numpy as np
import torch


def melscale_fbanks(n_freqs, f_min, f_max, n_mels, sample_rate):
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs, dtype=torch.float64)
    hz2mel = lambda f: 2595.0 * math.log10(1.0 + f / 700.0)
    m_pts = torch.linspace(hz2mel(f_min), hz2mel(f_max), n_mels + 2, dtype=torch.float64)
    f_pts = 700.0 * (10.0 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.max(torch.zeros(1, dtype=torch.float64), torch.min(down, up))


def create_dct(n_mfcc, n_mels):
    n = torch.arange(float(n_mels), dtype=torch.float64)
    k = torch.arange(float(n_mfcc), dtype=torch.float64).unsqueeze(1)
    dct = torch.cos(math.pi / float(n_mels) * (n + 0.5) * k)
    dct[0] *= 1.0 / math.sqrt(2.0)
    dct *= math.sqrt(2.0 / float(n_mels))
    return dct.t()


def mfcc(x, sr):
    x = torch.tensor(x, dtype=torch.float64).unsqueeze(0)  # (1, N) as the collection calls it
    spec = torch.stft(x, 2048, 512, 2048, torch.hann_window(2048, dtype=torch.float64),
                      center=True, pad_mode="reflect", normalized=False, onesided=True,
                      return_complex=True).abs().pow(2.0)
    fb = melscale_fbanks(1025, 0.0, float(sr // 2), 128, sr)
    mel = torch.matmul(spec.transpose(-1, -2), fb).transpose(-1, -2)  # (1, 128, T)
    db = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
    db = db.reshape(-1, 1, db.shape[-2], db.shape[-1])
    db = torch.max(db, (db.amax(dim=(-3, -2, -1)) - 80.0).view(-1, 1, 1, 1)).reshape(1, 128, -1)
    out = torch.matmul(db.transpose(-1, -2), create_dct(40, 128)).transpose(-1, -2)
    return out[0].numpy()  # (40, T)


def signal(n, sr):
    """The test signal (stored with its MFCCs): a decaying harmonic tone,
    a chirp, and 0.1 s of silence at the end so that the top_db clamp is active."""
    t = np.arange(n, dtype=np.float64) / sr
    x = 0.5 * np.exp(-3.0 * t) * (np.sin(2 * np.pi * 440.0 * t) + 0.3 * np.sin(2 * np.pi * 1320.0 * t))
    x += 0.2 * np.sin(2 * np.pi * (200.0 * t + 1500.0 * t * t))
    x[t >= t[-1] - 0.1] = 0.0
    return x.astype(np.float32)


with h5py.File(sys.argv[1], "w") as f:
    for sr, n in ((16000, 9000), (44100, 20000)):
        x = signal(n, sr)
        f.create_dataset("x_%d" % sr, data=x, compression="gzip")
        d = f.create_dataset("mfcc_%d" % sr, data=mfcc(x, sr))
        d.attrs["sample_rate"] = sr
