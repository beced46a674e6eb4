#!/usr/bin/python3
"""Regenerate the bad-input corpus in tests/data/bad (see README.md there).

usage: /usr/bin/python3 tests/data/bad/make_bad.py DDSP_BINARY [OUT_DIR]

Needs numpy and h5py (Debian: python3-numpy python3-h5py; install-deps.sh --bench has them).
WAVs are written byte by byte so every header field is exactly what the table says. The
HDF5 files start from a tiny dataset made by `ddsp prepare` (3 examples of 0.016 s) and
change one thing each (then h5repack'ed to a contiguous layout, which keeps them ~11 KB).
Deterministic: the same files every run (except the ddsp_version
attribute the dataset carries).
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import h5py
import numpy as np

ddsp = os.path.abspath(sys.argv[1])
out = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(__file__))
os.makedirs(out, exist_ok=True)


def tone(n, rate, freq=440.0, amp=0.3):
    t = np.arange(n) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def pcm(x, bits):
    """float [-1, 1) -> little-endian integer PCM bytes (8-bit WAV is unsigned)."""
    if bits == 8:
        return (np.round(x * 127) + 128).astype('u1').tobytes()
    if bits == 16:
        return np.round(x * 32767).astype('<i2').tobytes()
    if bits == 24:
        v = np.round(x * 8388607).astype('<i4').tobytes()
        return b''.join(v[i:i + 3] for i in range(0, len(v), 4))
    if bits == 32:
        return np.round(x * 2147483647).astype('<i4').tobytes()
    raise ValueError(bits)


def wav(name, data, channels=1, rate=16000, bits=16, tag=1, riff_size=None, data_size=None,
        magic=b'RIFF', wave=b'WAVE', fmt=True):
    """A canonical 44-byte-header WAV; every size field can be overridden."""
    block = (channels * bits // 8) & 0xFFFF
    fmt_chunk = struct.pack('<4sIHHIIHH', b'fmt ', 16, tag, channels, rate,
                            (rate * block) & 0xFFFFFFFF, block, bits) if fmt else b''
    body = wave + fmt_chunk + struct.pack('<4sI', b'data',
                                          len(data) if data_size is None else data_size) + data
    blob = magic + struct.pack('<I', len(body) if riff_size is None else riff_size) + body
    with open(os.path.join(out, name), 'wb') as f:
        f.write(blob)
    return blob


# ------------------------------------------------------------------------------- audio
sr = 16000
x = tone(1600, sr)                                   # 0.1 s at 16 kHz
open(os.path.join(out, 'empty.wav'), 'wb').close()
with open(os.path.join(out, 'garbage.wav'), 'wb') as f:
    f.write(np.random.default_rng(7).integers(0, 256, 512, dtype=np.uint8).tobytes())
with open(os.path.join(out, 'text.wav'), 'wb') as f:
    f.write(b'this is not audio\n' * 8)
wav('wrong_magic.wav', pcm(x, 16), magic=b'RIFQ')
wav('wrong_wave_id.wav', pcm(x, 16), wave=b'WAVX')
wav('no_fmt_chunk.wav', pcm(x, 16), fmt=False)
wav('header_only.wav', b'')
full = wav('_full.wav', pcm(x, 16))
os.remove(os.path.join(out, '_full.wav'))
with open(os.path.join(out, 'truncated.wav'), 'wb') as f:     # data chunk cut after 20 samples
    f.write(full[:44 + 40])
with open(os.path.join(out, 'truncated_header.wav'), 'wb') as f:  # cut inside the fmt chunk
    f.write(full[:30])
wav('huge_data_size.wav', pcm(x[:200], 16), data_size=0xFFFFFFF0)
wav('huge_riff_size.wav', pcm(x, 16), riff_size=0xFFFFFFF0)
wav('huge_channels.wav', pcm(x[:240], 16), channels=65535)
wav('zero_channels.wav', pcm(x[:200], 16), channels=0)
wav('zero_rate.wav', pcm(x[:200], 16), rate=0)
wav('odd_bits.wav', pcm(x, 16), bits=13)
nan = np.float32(x.copy())
nan[5] = np.nan
wav('nan.wav', nan.astype('<f4').tobytes(), bits=32, tag=3)
inf = np.float32(x.copy())
inf[100] = -np.inf
wav('inf.wav', inf.astype('<f4').tobytes(), bits=32, tag=3)
# valid, unusual: must be read (resampled to 16 kHz, downmixed to mono)
wav('one_sample.wav', pcm(np.array([0.25]), 16))
wav('rate_8k.wav', pcm(tone(800, 8000), 16), rate=8000)
wav('rate_48k.wav', pcm(tone(4800, 48000), 16), rate=48000)
st = np.stack([tone(1600, sr, 440), tone(1600, sr, 660)], axis=1).reshape(-1)
wav('stereo.wav', pcm(st, 16), channels=2)
wav('pcm24.wav', pcm(x, 24), bits=24)
wav('pcm8.wav', pcm(x, 8), bits=8)
wav('float32.wav', np.float32(x).astype('<f4').tobytes(), bits=32, tag=3)
wav('rate_1hz.wav', pcm(tone(4, 1, 0.1), 16), rate=1)             # 4 s at 1 Hz
wav('rate_huge.wav', pcm(x, 16), rate=0x7FFFFFFF)

# ------------------------------------------------------------------------------- HDF5
tmp = tempfile.mkdtemp()
try:
    wav_path = os.path.join(tmp, 'tone.wav')
    with open(wav_path, 'wb') as f:
        d = pcm(tone(800, sr), 16)
        f.write(b'RIFF' + struct.pack('<I', 36 + len(d)) + b'WAVE' +
                struct.pack('<4sIHHIIHH', b'fmt ', 16, 1, 1, sr, 2 * sr, 2, 16) +
                struct.pack('<4sI', b'data', len(d)) + d)
    env = dict(os.environ, DDSP_FFTW_PLANNER='estimate', OMP_NUM_THREADS='1',
               ASAN_OPTIONS='detect_leaks=0')  # a sanitizer build of ddsp works too
    subprocess.run([ddsp, 'prepare', 'tone.wav', '--out', 'ds.h5', '--example-secs', '0.016',
                    '--hop-secs', '0.016', '--valid-fraction', '0.25'], cwd=tmp, env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = os.path.join(tmp, 'ds.h5')

    def variant(name, edit=None, layout='CONTI'):
        path = os.path.join(out, name)
        shutil.copyfile(base, path)
        if edit:
            with h5py.File(path, 'r+') as f:
                edit(f)
            # h5py leaves deleted objects' space in the file; repacking also drops the
            # per-example chunk indexes (half the size of these tiny files)
            subprocess.run(['h5repack'] + (['-l', layout] if layout else []) + [path, path + '.tmp'],
                           check=True)
            os.replace(path + '.tmp', path)
        return path

    def replace(f, name, data):
        del f[name]
        f.create_dataset(name, data=data)

    variant('ok_dataset.h5')                                # the control: trains
    raw = open(base, 'rb').read()
    with open(os.path.join(out, 'ds_truncated.h5'), 'wb') as f:
        f.write(raw[:len(raw) // 2])
    with open(os.path.join(out, 'ds_text.h5'), 'wb') as f:
        f.write(b'not an HDF5 file\n')
    open(os.path.join(out, 'ds_empty.h5'), 'wb').close()
    variant('ds_no_format.h5', lambda f: f.attrs.__delitem__('format'))
    variant('ds_wrong_format.h5', lambda f: f.attrs.__setitem__('format', np.bytes_('ddsp-checkpoint')))
    variant('ds_version_2.h5', lambda f: f.attrs.__setitem__('format_version', np.int64(2)))
    variant('ds_version_string.h5', lambda f: f.attrs.__setitem__('format_version', np.bytes_('1')))
    variant('ds_missing_audio.h5', lambda f: f.__delitem__('audio'))
    variant('ds_missing_split.h5', lambda f: f.__delitem__('split'))
    variant('ds_missing_f0_confidence.h5', lambda f: f.__delitem__('f0_confidence'))
    variant('ds_audio_1d.h5', lambda f: replace(f, 'audio', f['audio'][()].reshape(-1)))
    variant('ds_f0_rows.h5', lambda f: replace(f, 'f0_hz', f['f0_hz'][()][:-1]))
    variant('ds_loudness_frames.h5', lambda f: replace(f, 'loudness_db', f['loudness_db'][()][:, :-1]))
    variant('ds_audio_int16.h5', lambda f: replace(f, 'audio', (f['audio'][()] * 32767).astype('<i2')))
    variant('ds_audio_strings.h5', lambda f: replace(f, 'audio', np.array([b'a', b'b', b'c'])))
    variant('ds_split_2d.h5', lambda f: replace(f, 'split', f['split'][()].reshape(1, 3)))
    variant('ds_split_value.h5', lambda f: replace(f, 'split', np.array([0, 7, 1], dtype='i1')))
    variant('ds_no_train.h5', lambda f: replace(f, 'split', np.ones(3, dtype='i1')))
    variant('ds_hop_mismatch.h5', lambda f: f.attrs.__setitem__('hop', np.int64(32)))
    variant('ds_rate_8k.h5', lambda f: (f.attrs.__setitem__('sample_rate', np.int64(8000)),
                                        f.attrs.__setitem__('hop', np.int64(32)),
                                        replace(f, 'audio', f['audio'][()][:, :128])))

    def nan_audio(f):
        a = f['audio'][()]
        a[:, 10] = np.nan
        replace(f, 'audio', a)
    variant('ds_nan_audio.h5', nan_audio)


    def huge_rows(f):
        # every per-example dataset declares 2^40 examples; nothing is stored for them
        E = 1 << 40
        for name in ('audio', 'f0_hz', 'f0_confidence', 'loudness_db'):
            cols = f[name].shape[1]
            del f[name]
            f.create_dataset(name, shape=(E, cols), dtype='f4', chunks=(1, cols))
        del f['split']
        f.create_dataset('split', shape=(E,), dtype='i1', chunks=(1 << 16,))
    variant('ds_huge_rows.h5', huge_rows, layout=None)

    def huge_cols(f):
        # examples of 2^40 samples (declared, not stored)
        T = 1 << 40
        for name in ('audio', 'f0_hz', 'f0_confidence', 'loudness_db'):
            del f[name]
            cols = T if name == 'audio' else T // 64
            f.create_dataset(name, shape=(3, cols), dtype='f4', chunks=(1, 1 << 16))
    variant('ds_huge_cols.h5', huge_cols, layout=None)

    def zero_samples(f):
        # examples of 0 samples and 0 frames
        for name in ('audio', 'f0_hz', 'f0_confidence', 'loudness_db'):
            replace(f, name, np.zeros((3, 0), dtype='f4'))
    variant('ds_zero_samples.h5', zero_samples)
finally:
    shutil.rmtree(tmp)
print('wrote', len([n for n in os.listdir(out) if n.endswith(('.wav', '.h5'))]), 'files to', out)
