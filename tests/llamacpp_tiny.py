"""A tiny random Qwen2 GGUF that llama.cpp loads in milliseconds, for engine tests without models.

Byte-level BPE vocabulary (the 256 bytes, "\\n\\n" as one merged token, and Qwen's control
tokens), a Qwen chat template, two layers of width 32. The weights are random but shaped so the
model is useful for testing stopping: every embedding carries a large constant in dimension 0,
which survives the (small) layers and the final norm, and the output head turns it into a logit
bonus for "\\n\\n" (and a smaller one for <|im_end|>), so sampled rows often end at the delimiter
and sometimes at end of sequence, while the rest of the logits still depend on the context.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
DOUBLE_NEWLINE = 256  # the id of the merged "\n\n" token


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map (what byte-level BPE vocabularies store)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def vocabulary() -> tuple[list[str], list[int], list[str]]:
    """Tokens, their types (1 normal, 3 control) and the BPE merges."""
    mapping = _bytes_to_unicode()
    tokens = [mapping[b] for b in range(256)]
    newline = mapping[ord("\n")]
    tokens.append(newline * 2)  # "\n\n", one token as in Qwen's vocabulary
    types = [1] * len(tokens)
    tokens += SPECIALS
    types += [3] * len(SPECIALS)
    return tokens, types, [f"{newline} {newline}"]


def write_tiny_gguf(
    path: Path, *, seed: int = 0, delimiter_bonus: float = 2.5, eos_bonus: float = 0.5
) -> Path:
    """Write the tiny model to ``path`` and return it."""
    import gguf

    tokens, types, merges = vocabulary()
    n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv = len(tokens), 32, 64, 2, 4, 2
    head_dim = n_embd // n_head
    rng = np.random.default_rng(seed)

    def weight(*shape: int, scale: float = 0.02) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_name("tiny-qwen2")
    writer.add_context_length(2048)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    end_of_text, _, im_end = (tokens.index(s) for s in SPECIALS)
    writer.add_bos_token_id(end_of_text)
    writer.add_eos_token_id(im_end)
    writer.add_pad_token_id(end_of_text)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    embeddings = weight(n_vocab, n_embd, scale=0.05)
    embeddings[:, 0] = 1.0
    writer.add_tensor("token_embd.weight", embeddings)
    for layer in range(n_layer):
        prefix = f"blk.{layer}."
        writer.add_tensor(prefix + "attn_norm.weight", np.ones(n_embd, np.float32))
        writer.add_tensor(prefix + "attn_q.weight", weight(n_embd, n_embd))
        writer.add_tensor(prefix + "attn_q.bias", weight(n_embd))
        writer.add_tensor(prefix + "attn_k.weight", weight(n_head_kv * head_dim, n_embd))
        writer.add_tensor(prefix + "attn_k.bias", weight(n_head_kv * head_dim))
        writer.add_tensor(prefix + "attn_v.weight", weight(n_head_kv * head_dim, n_embd))
        writer.add_tensor(prefix + "attn_v.bias", weight(n_head_kv * head_dim))
        writer.add_tensor(prefix + "attn_output.weight", weight(n_embd, n_embd))
        writer.add_tensor(prefix + "ffn_norm.weight", np.ones(n_embd, np.float32))
        writer.add_tensor(prefix + "ffn_gate.weight", weight(n_ff, n_embd))
        writer.add_tensor(prefix + "ffn_up.weight", weight(n_ff, n_embd))
        writer.add_tensor(prefix + "ffn_down.weight", weight(n_embd, n_ff))
    writer.add_tensor("output_norm.weight", np.ones(n_embd, np.float32))
    head = weight(n_vocab, n_embd, scale=1.0)
    head[:, 0] = 0.0
    scale = float(np.sqrt(n_embd))  # dimension 0 after the norm, about
    head[DOUBLE_NEWLINE, 0] = delimiter_bonus / scale
    head[im_end, 0] = eos_bonus / scale
    writer.add_tensor("output.weight", head)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
