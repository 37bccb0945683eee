"""A 2-layer bidirectional LSTM step: embedding 128, hidden 256, batch 32, sequence 50, float32; forward and backward
of `lstm(x)[0].sum()`, in learntorch and PyTorch (PyTorch runs its fused CPU LSTM kernels).

    python bench/lstm_step.py [--rounds N]

Also times a padded batch packed with `pack_padded_sequence` (lengths 10..50), the path seed 002's classifier
would take."""
import numpy as np
from _harness import Case, run

EMBED, HIDDEN, BATCH, STEPS = 128, 256, 32, 50


def lstm_step(packed):
    def setup(T):
        T.manual_seed(0)
        lstm = T.nn.LSTM(EMBED, HIDDEN, num_layers=2, bidirectional=True)
        x = T.from_numpy(np.random.default_rng(0).standard_normal((STEPS, BATCH, EMBED)).astype(np.float32))
        lengths = sorted(np.random.default_rng(1).integers(10, STEPS + 1, BATCH).tolist(), reverse=True)
        lengths[0] = STEPS
        def step():
            inp = T.nn.utils.rnn.pack_padded_sequence(x, lengths) if packed else x
            out, (h, c) = lstm(inp)
            (out.data if packed else out).sum().backward()
            lstm.zero_grad()
        return step
    return setup


CASES = [Case('BiLSTM 2x256, T=50, B=32 fwd+bwd', lstm_step(False)),
         Case('same, packed (lengths 10..50)', lstm_step(True))]

if __name__ == '__main__':
    run(CASES, 'LSTM step')
