"""A 2-layer Transformer encoder step: d_model 128, 4 heads, feed-forward 512, sequence 64, batch 32, float32,
batch first, dropout off; forward and backward of `encoder(x).sum()` (with and without a causal mask), in
learntorch and PyTorch.

    python bench/transformer_step.py [--rounds N]
"""
import numpy as np
from _harness import Case, run

D_MODEL, HEADS, FF, SEQ, BATCH = 128, 4, 512, 64, 32


def encoder_step(causal):
    def setup(T):
        T.manual_seed(0)
        layer = T.nn.TransformerEncoderLayer(D_MODEL, HEADS, FF, dropout=0.0, batch_first=True)
        kw = {} if T.__name__ == 'learntorch' else dict(enable_nested_tensor=False)
        enc = T.nn.TransformerEncoder(layer, 2, **kw)
        x = T.from_numpy(np.random.default_rng(0).standard_normal((BATCH, SEQ, D_MODEL))
                         .astype(np.float32))
        mask = T.nn.Transformer.generate_square_subsequent_mask(SEQ) if causal else None
        def step():
            enc(x, mask=mask, is_causal=causal if causal else None).sum().backward()
            enc.zero_grad()
        return step
    return setup


CASES = [Case('Transformer encoder 2x128, 4 heads, T=64, B=32 fwd+bwd', encoder_step(False)),
         Case('same, causal mask', encoder_step(True))]

if __name__ == '__main__':
    run(CASES, 'Transformer step')
