"""A tiny randomly initialised chat model for fast tests of the loop mechanics (a fixture,
not part of the package)."""

from __future__ import annotations

from pathlib import Path

import torch

TINY_WORDS = (
    "please kind thanks hello the a is what how do i you my me good bad cat dog help tell "
    "sister friend why sky blue rewrite answer question nice sorry yes no can will be to and"
).split()


def tiny_causal_lm(folder: str | Path, *, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """Save a tiny randomly initialised Llama-type chat model with a word-level tokenizer.

    For fast tests and demos of the loop mechanics (any Hugging Face causal LM works as the
    prompter or the frozen model): ~40-word vocabulary plus the SmolLM2 chat markers, a
    ChatML template, ``hidden`` width, ``layers`` layers, ``q_proj``/``v_proj`` like SmolLM2.
    Load it with ``alignpro_lite.llm.lm.load_causal_lm(folder)``. Returns ``folder``.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    special = ["<pad>", "<|im_start|>", "<|im_end|>", "<unk>"]
    vocab = {
        w: i for i, w in enumerate(special + ["system", "user", "assistant"] + list(TINY_WORDS))
    }
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<|im_start|>", eos_token="<|im_end|>",
        pad_token="<pad>", unk_token="<unk>", chat_template=template,
    )  # fmt: skip
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=512, tie_word_embeddings=True, pad_token_id=0,
        bos_token_id=1, eos_token_id=2, initializer_range=0.2,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
