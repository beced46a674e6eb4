/* make_seeds OUT_DIR: write the generated part of the fuzz seed corpora (fuzz.sh --seeds):
 *   OUT_DIR/fuzz_audio/  20 ms of a tone in every container/codec libsndfile writes here
 *   OUT_DIR/fuzz_ckpt/   a checkpoint of a tiny model (hidden 2, GRU 2, 1 layer, 4-tap reverb)
 *                        written by ddsp_ckpt_write, with optimiser, state and history
 *                        (~80 KB: HDF5 groups cost ~1 KB each; fuzz.sh runs -max_len=131072)
 * Small on purpose: libFuzzer mutates bytes, and an input larger than -max_len is cut. */
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ddsp/ckpt.h"
#include "ddsp/util.h"

static int audio_seed(const char *dir, const char *name, int format, int channels, int rate) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    if (!sf_format_check(&info)) {
        fprintf(stderr, "make_seeds: %s: format not supported by this libsndfile, skipped\n", name);
        return 0;
    }
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) {
        fprintf(stderr, "make_seeds: %s: %s\n", path, sf_strerror(NULL));
        return 1;
    }
    enum { N = 320 };
    float x[N * 2];
    for (int i = 0; i < N; i++)
        for (int c = 0; c < channels; c++)
            x[i * channels + c] = 0.3f * sinf(6.2831853f * (440.0f + 220.0f * c) * i / rate);
    sf_writef_float(sf, x, N);
    return sf_close(sf) != 0;
}

static int ckpt_seed(const char *dir, const char *name, int with_optimizer, int reverb) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ddsp_model_config c;
    ddsp_model_config_preset(&c, "small");
    c.hidden = 2, c.gru_units = 2, c.n_layers = 1;
    c.synth.n_harmonics = 2, c.synth.n_noise_bands = 3;
    c.synth.reverb = reverb, c.synth.reverb_length = 4;
    ddsp_model m;
    ddsp_adam o = {0};
    ddsp_adam_config ac;
    ddsp_adam_config_default(&ac);
    ddsp_loss_config loss;
    ddsp_loss_config_default(&loss);
    ddsp_ckpt_history h = {0};
    if (ddsp_model_init(&m, &c) || (with_optimizer && ddsp_adam_init(&o, &ac, m.n_params))) {
        fprintf(stderr, "make_seeds: %s\n", ddsp_last_error());
        return 1;
    }
    ddsp_model_init_weights(&m, 1);
    for (int s = 1; s <= 2; s++) ddsp_ckpt_history_add(&h, s, 10.0 / s, 1.0, 3e-4, 100.0, 0.1 * s);
    ddsp_ckpt_history_add_valid(&h, 2, 4.0);
    ddsp_ckpt_info info;
    memset(&info, 0, sizeof info);
    info.state.step = 2, info.state.seed = 1, info.state.n_ranks = 1;
    info.history = &h;
    int rc = ddsp_ckpt_write(path, &m, with_optimizer ? &o : NULL, &loss, &info);
    if (rc) fprintf(stderr, "make_seeds: %s\n", ddsp_last_error());
    ddsp_ckpt_history_free(&h);
    ddsp_adam_free(&o);
    ddsp_model_free(&m);
    return rc != 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds OUT_DIR\n");
        return 2;
    }
    char audio[400], ckpt[400];
    snprintf(audio, sizeof audio, "%s/fuzz_audio", argv[1]);
    snprintf(ckpt, sizeof ckpt, "%s/fuzz_ckpt", argv[1]);
    mkdir(argv[1], 0755), mkdir(audio, 0755), mkdir(ckpt, 0755);
    int bad = 0;
    bad |= audio_seed(audio, "gen_pcm16.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1, 16000);
    bad |= audio_seed(audio, "gen_float_stereo.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 2, 16000);
    bad |= audio_seed(audio, "gen_ulaw.wav", SF_FORMAT_WAV | SF_FORMAT_ULAW, 1, 8000);
    bad |= audio_seed(audio, "gen_ima_adpcm.wav", SF_FORMAT_WAV | SF_FORMAT_IMA_ADPCM, 1, 16000);
    bad |= audio_seed(audio, "gen_ms_adpcm.wav", SF_FORMAT_WAV | SF_FORMAT_MS_ADPCM, 1, 16000);
    bad |= audio_seed(audio, "gen_wavex_pcm24.wav", SF_FORMAT_WAVEX | SF_FORMAT_PCM_24, 2, 48000);
    bad |= audio_seed(audio, "gen_pcm16.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 1, 22050);
    bad |= audio_seed(audio, "gen_double.au", SF_FORMAT_AU | SF_FORMAT_DOUBLE, 1, 16000);
    bad |= audio_seed(audio, "gen_pcm16.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1, 16000);
    bad |= audio_seed(audio, "gen_vorbis.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 1, 16000);
    bad |= audio_seed(audio, "gen_pcm16.caf", SF_FORMAT_CAF | SF_FORMAT_PCM_16, 1, 16000);
    bad |= audio_seed(audio, "gen_pcm16.w64", SF_FORMAT_W64 | SF_FORMAT_PCM_16, 1, 16000);
    bad |= audio_seed(audio, "gen_pcm16.rf64", SF_FORMAT_RF64 | SF_FORMAT_PCM_16, 1, 16000);
#ifdef SF_FORMAT_MPEG
    bad |= audio_seed(audio, "gen_layer3.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 1, 16000);
#endif
    bad |= ckpt_seed(ckpt, "gen_tiny.h5", 1, 1);
    return bad;
}
