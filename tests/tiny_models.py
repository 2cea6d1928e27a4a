"""Tiny randomly initialised causal LMs and an offline word-level tokenizer for fast tests.

Nothing here touches a hub: the tokenizer is built from a fixed word list, the models from a config.
The vocabulary is small on purpose, so that a near-uniform random model samples the step delimiter
often enough to exercise per-row stopping.
"""

from __future__ import annotations

import torch
from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "[UNK]"]
WORDS = [
    "\n\n", "\n", "system", "user", "assistant", "The", "answer", "is", "step", "so",
    "+", "-", "=", "1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "ки", "good", "bad",
]  # fmt: skip

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_tokenizer(
    padding_side: str = "left", merge_period: bool = False
) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose decode joins tokens with spaces; "\\n\\n" is one token.

    ``merge_period`` adds "." and ".\\n\\n" as tokens, so a step ending in "." merges with the
    delimiter after it, as Qwen's tokenizer does (the vocabulary, and so the models, differ).
    """
    words = [*WORDS, ".", ".\n\n"] if merge_period else WORDS
    vocab = {token: index for index, token in enumerate(SPECIALS + words)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    merged = r"\.\n\n|" if merge_period else ""
    pattern = Regex(merged + r"<\|[a-z_]+\|>|\n\n|\n|[A-Za-z]+|[0-9]|ки|[^\sA-Za-z0-9]")
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(" +"), behavior="removed"),
            pre_tokenizers.Split(pattern, behavior="isolated"),
        ]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        padding_side=padding_side,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_qwen2(
    vocab_size: int, seed: int = 0, layers: int = 2, hidden: int = 32, logit_scale: float = 1.0
) -> Qwen2ForCausalLM:
    """A random float32 Qwen2 causal LM; ``logit_scale`` sharpens its output distribution."""
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
        eos_token_id=2,
        pad_token_id=0,
        bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config).to(torch.float32).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(logit_scale)
    model.generation_config.eos_token_id = 2
    model.generation_config.pad_token_id = 0
    return model
