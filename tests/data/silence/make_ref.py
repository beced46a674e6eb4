#!/usr/bin/python3
"""Writes tests/data/ref_silence.h5: the float64 reference MSS (shared/reference/mss_ref.py,
PyTorch autograd) of a target and an estimate with runs of exact digital silence, for
test_loss's check_silence_reference. Run from the repository root with ../shared beside it:
    tests/data/silence/make_ref.py
Signals: N = 8000 samples of seeded noise (int16 values / 32768, exact in float32).
  estimate silent on [0, 2500) (longer than every window, at the start), [4000, 4040)
  (shorter than the smallest window), [5200, 5900) and [7400, 8000) (the end);
  target silent on [2000, 3100) and [6900, 8000).
Configurations (one group each): l1, l1log add, l1log magenta, l2 at the default scales
(AVX-512 fused kernels), and l1 / l1log magenta at 2000,1000,96,48 (the portable kernels)."""
import os, subprocess, sys, tempfile
import numpy as np, h5py, soundfile as sf

ref = os.path.join(os.path.dirname(__file__), "../../../../shared/reference/mss_ref.py")
out = os.path.join(os.path.dirname(__file__), "../ref_silence.h5")
N = 8000
rng = np.random.default_rng(20261207)
t = (rng.standard_normal(N) * 0.1 * 32768).astype(np.int16)
e = (rng.standard_normal(N) * 0.1 * 32768).astype(np.int16)
for a, b in [(0, 2500), (4000, 4040), (5200, 5900), (7400, 8000)]:
    e[a:b] = 0
for a, b in [(2000, 3100), (6900, 8000)]:
    t[a:b] = 0
configs = [("l1", "add", "2048,1024,512,256,128,64"), ("l1log", "add", "2048,1024,512,256,128,64"),
           ("l1log", "magenta", "2048,1024,512,256,128,64"), ("l2", "add", "2048,1024,512,256,128,64"),
           ("l1", "add", "2000,1000,96,48"), ("l1log", "magenta", "2000,1000,96,48")]
with tempfile.TemporaryDirectory() as d, h5py.File(out, "w") as h:
    tw, ew = os.path.join(d, "t.wav"), os.path.join(d, "e.wav")
    sf.write(tw, t, 16000, subtype="PCM_16")
    sf.write(ew, e, 16000, subtype="PCM_16")
    h["target"] = t.astype(np.float32) / 32768
    h["estimate"] = e.astype(np.float32) / 32768
    for i, (loss, mode, scales) in enumerate(configs):
        r = os.path.join(d, "r.h5")
        subprocess.run([sys.executable, ref, "--target", tw, "--estimate", ew, "--out", r,
                        "--loss", loss, "--log-mode", mode, "--scales", scales, "--no-checks"],
                       check=True, stdout=subprocess.DEVNULL)
        with h5py.File(r, "r") as f:
            g = h.create_group("config_%d" % i)
            g.attrs["loss"], g.attrs["log_mode"], g.attrs["scales"] = loss, mode, scales
            g["loss"] = f["loss"][()]
            g["grad"] = f["grad"][:]
print("wrote", out)
