"""Word-level tokenizer with byte fallback, trained on the instruction + scene + plan corpus.

Text is lower-cased and split into words (`\\w+`) and single punctuation marks. A word in the
vocabulary is one token; any other word becomes the UTF-8 bytes of " word" as <0xNN> tokens
(the leading space byte marks where it starts), so nothing is ever lost to <unk> and
`decode(encode(text)) == normalize(text)`. Special tokens are recognised only where the caller
allows them (plans); typed into an instruction, "<ACT>" is plain text.

The vocabulary is ordered: SPECIALS (fixed ids 0..6), the 256 bytes, then words by corpus
frequency. It is saved as JSON and travels inside planner checkpoints.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Iterable

FORMAT = "robot_skills.planner.tokenizer/1"
PAD, BOS, EOS, SEP, ACT, UNK, SCENE = "<pad>", "<bos>", "<eos>", "<sep>", "<ACT>", "<unk>", "<scene>"
SPECIALS = (PAD, BOS, EOS, SEP, ACT, UNK, SCENE)
PAD_ID, BOS_ID, EOS_ID, SEP_ID, ACT_ID, UNK_ID, SCENE_ID = range(len(SPECIALS))
BYTE_OFFSET = len(SPECIALS)
_PIECES = re.compile(r"\w+|[^\w\s]")
_SPECIAL_SPLIT = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")
_NO_SPACE_BEFORE = re.compile(r" ([,.;:!?)])")


def pieces(text: str) -> list[str]:
    """Lower-cased words and punctuation marks (no special tokens)."""
    return _PIECES.findall(text.lower())


def normalize(text: str) -> str:
    """The text `decode(encode(text))` gives back: lower case, single spaces between words,
    none before , . ; : ! ? )."""
    return _NO_SPACE_BEFORE.sub(r"\1", " ".join(pieces(text)))


class PlanTokenizer:
    def __init__(self, words: Iterable[str]):
        words = list(words)
        bad = [w for w in words if w in SPECIALS or not _PIECES.fullmatch(w) or w != w.lower()]
        if bad:
            raise ValueError(f"not valid vocabulary words: {bad[:5]}")
        self.words = words
        self.vocab = list(SPECIALS) + [f"<0x{b:02X}>" for b in range(256)] + words
        self.ids = {t: i for i, t in enumerate(self.vocab)}
        if len(self.ids) != len(self.vocab):
            raise ValueError("duplicate vocabulary words")

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # ------------------------------------------------------------ training, JSON
    @classmethod
    def fit(cls, texts: Iterable[str], min_count: int = 1, max_words: int | None = None
            ) -> PlanTokenizer:
        """Vocabulary = words seen at least `min_count` times, most frequent first (ties by
        spelling, so the same corpus always gives the same ids)."""
        counts = collections.Counter()
        for text in texts:
            for part in _SPECIAL_SPLIT.split(text):
                if part not in SPECIALS:
                    counts.update(pieces(part))
        ranked = sorted((w for w, c in counts.items() if c >= min_count),
                        key=lambda w: (-counts[w], w))
        return cls(ranked[:max_words])

    def to_dict(self) -> dict:
        return {"format": FORMAT, "specials": list(SPECIALS), "words": self.words}

    @classmethod
    def from_dict(cls, d: dict) -> PlanTokenizer:
        if d.get("format") != FORMAT or tuple(d.get("specials", ())) != SPECIALS:
            raise ValueError(f"not a {FORMAT} tokenizer (format {d.get('format')!r}, specials "
                             f"{d.get('specials')})")
        return cls(d["words"])

    def save(self, path: str) -> None:
        with open(path, "w") as f:
            json.dump(self.to_dict(), f)

    @classmethod
    def load(cls, path: str) -> PlanTokenizer:
        with open(path) as f:
            return cls.from_dict(json.load(f))

    # ------------------------------------------------------------ encode / decode
    def encode(self, text: str, *, allow_special: bool = False, byte_words=None) -> list[int]:
        """Token ids of `text` (no <bos>/<eos>). allow_special: "<ACT>" etc. are special tokens
        (plans); otherwise they are text. byte_words(word) -> bool: spell that in-vocabulary
        word as bytes anyway (training augmentation, so byte tokens are not unseen)."""
        if not isinstance(text, str):
            raise TypeError(f"expected text (str), got {type(text).__name__}")
        out: list[int] = []
        parts = _SPECIAL_SPLIT.split(text) if allow_special else [text]
        for part in parts:
            if allow_special and part in SPECIALS:
                out.append(self.ids[part])
                continue
            for w in pieces(part):
                i = self.ids.get(w)
                if i is None or (byte_words is not None and byte_words(w)):
                    out.extend(BYTE_OFFSET + b for b in (" " + w).encode("utf-8"))
                else:
                    out.append(i)
        return out

    def decode(self, ids: Iterable[int], *, skip_special: bool = False) -> str:
        """Text of `ids`; byte runs are decoded as UTF-8 (invalid bytes become U+FFFD)."""
        chunks: list[str] = []
        run = bytearray()
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.vocab):
                raise ValueError(f"token id {i} outside the vocabulary (size {len(self.vocab)})")
            if BYTE_OFFSET <= i < BYTE_OFFSET + 256:
                run.append(i - BYTE_OFFSET)
                continue
            if run:
                chunks.append(run.decode("utf-8", errors="replace"))
                run = bytearray()
            if not (skip_special and i < BYTE_OFFSET):
                chunks.append(" " + self.vocab[i])
        if run:
            chunks.append(run.decode("utf-8", errors="replace"))
        return _NO_SPACE_BEFORE.sub(r"\1", re.sub(r"\s+", " ", "".join(chunks)).strip())
