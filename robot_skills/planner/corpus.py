"""Tokenised planner data: (instruction, scene, plan) samples from sim.instruction_samples as
fixed-layout arrays, and batches that are a pure function of (seed, step).

The training corpus is `train_samples` samples of the `train` split; the tokenizer is fitted on
it (instructions, scene descriptions and plans), so held-out phrasings may contain words it
spells as bytes. Two augmentations, both fixed per sample (seeded): `scene_dropout` replaces the
scene description by nothing (the planner must still answer without one, from the instruction
alone) and `byte_dropout` spells an instruction word as bytes (byte tokens are then not unseen
when an unknown word arrives).
"""

from __future__ import annotations

import numpy as np

from robot_skills.planner.config import PlannerConfig
from robot_skills.planner.sequence import encode_plan, encode_prompt, layout
from robot_skills.planner.tokenizer import PlanTokenizer
from sim.instruction_samples import InstructionSample, draw_samples


def corpus_texts(samples: list[InstructionSample]) -> list[str]:
    """What the tokenizer is fitted on."""
    return [t for s in samples for t in (s.instruction, s.scene, s.plan_text)]


def fit_tokenizer(samples: list[InstructionSample], min_count: int = 1) -> PlanTokenizer:
    return PlanTokenizer.fit(corpus_texts(samples), min_count=min_count)


def encode_samples(tok: PlanTokenizer, samples: list[InstructionSample], config: PlannerConfig,
                   *, scene_dropout: float = 0.0, byte_dropout: float = 0.0, seed: int = 0
                   ) -> dict[str, np.ndarray]:
    """Arrays of sequence.layout for the samples (augmented when the rates are > 0)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC0]))
    prompts, plans = [], []
    for s in samples:
        scene = "" if scene_dropout > 0 and rng.random() < scene_dropout else s.scene
        byte_words = (lambda _w: rng.random() < byte_dropout) if byte_dropout > 0 else None
        prompts.append(encode_prompt(tok, s.instruction, scene, config, byte_words=byte_words))
        plans.append(encode_plan(tok, s.plan_text, config))
    return layout(prompts, plans, config)


def training_corpus(data, config: PlannerConfig | None = None, tok: PlanTokenizer | None = None
                    ) -> tuple[PlanTokenizer, list[InstructionSample], dict | None]:
    """From the `data` section: (tokenizer fitted on the corpus unless given, samples, arrays
    when `config` is given)."""
    samples = draw_samples("train", data.train_samples)
    tok = tok or fit_tokenizer(samples, data.min_count)
    arrays = None
    if config is not None:
        arrays = encode_samples(tok, samples, config, scene_dropout=data.scene_dropout,
                                byte_dropout=data.byte_dropout, seed=data.seed)
    return tok, samples, arrays


def _epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int,
                   group: int) -> np.ndarray:
    """(n // batch_size, batch_size) rows of one epoch: a seeded permutation, cut into chunks of
    `group` batches, each chunk sorted by sequence length (so a batch holds sequences of
    similar length and trims to less padding), batch order shuffled again."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, epoch]))
    perm = rng.permutation(len(lengths))
    perm = perm[: len(perm) // batch_size * batch_size]
    chunk = batch_size * max(group, 1)
    for s in range(0, len(perm), chunk):
        part = perm[s:s + chunk]
        perm[s:s + chunk] = part[np.argsort(lengths[part], kind="stable")]
    rows = perm.reshape(-1, batch_size)
    return rows[rng.permutation(len(rows))]


def prompt_start(valid: np.ndarray, prompt_len: int, multiple: int = 16) -> int:
    """First column to keep: the longest prompt, widened to a multiple of `multiple`."""
    first = int(valid[:, :prompt_len].argmax(axis=1).min())
    return max(0, prompt_len - -(-(prompt_len - first) // multiple) * multiple)


def trim(arrays: dict[str, np.ndarray], prompt_len: int, multiple: int = 16
         ) -> dict[str, np.ndarray]:
    """Drops the columns that are padding in every row (left of the longest prompt, right of
    the longest plan), keeping widths multiples of `multiple` (few compiled shapes). Positions
    are relative, so the valid tokens compute exactly what they would untrimmed."""
    valid = arrays["valid"]
    lo = prompt_start(valid, prompt_len, multiple)
    used = valid[:, prompt_len:].any(axis=0)
    n = int(used.nonzero()[0].max()) + 1 if used.any() else 0
    hi = min(valid.shape[1], prompt_len + -(-max(n, 1) // multiple) * multiple)
    return {k: v[:, lo:hi] for k, v in arrays.items()}


def batch(arrays: dict[str, np.ndarray], step: int, batch_size: int, seed: int,
          prompt_len: int, group: int = 16) -> dict[str, np.ndarray]:
    """Batch `step` (pure in (arrays, step, seed)): length-grouped rows, trimmed."""
    n_batches = len(arrays["tokens"]) // batch_size
    if n_batches == 0:
        raise ValueError(f"corpus of {len(arrays['tokens'])} sequences is smaller than one batch "
                         f"({batch_size})")
    epoch, i = divmod(step, n_batches)
    lengths = arrays["valid"].sum(axis=1)
    idx = _epoch_batches(lengths, batch_size, seed, epoch, group)[i]
    return trim({k: v[idx] for k, v in arrays.items()}, prompt_len)
