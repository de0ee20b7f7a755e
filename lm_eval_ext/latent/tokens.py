"""Tokens as bytes, the prefix-token set of a word, and which concepts a tokenizer can tell apart.

P(lang) at a layer is the probability mass of the vocabulary tokens that are prefixes of the
concept's word in that language, with and without the tokenizer's leading-space marker. A token
is a prefix when its bytes are a prefix of the word's UTF-8 bytes (or of a space and them):

- byte-level BPE (GPT-2, Llama 3, Qwen, SmolLM2): a token's characters map back to bytes through
  the GPT-2 byte table (``Ġ`` is the space), so a token holding the first byte of a Chinese
  character is a prefix of every word starting with that character;
- SentencePiece (Llama 2, Gemma, Mistral): ``▁`` is the space, byte-fallback pieces ``<0xE8>`` are
  one byte each, every other piece is its UTF-8 text.

Special tokens and tokens of whitespace alone (a bare space or ``▁``, a prefix of every word)
never count. The scheme is read from the tokenizer's decoder; any other is refused (the numbers
would be wrong), naming the tokenizer.

`select` keeps the concepts whose two masses can be told apart: target and English words differ,
neither word's first token is a prefix of the other word (so each language's own first token
counts for it alone), and in a translation the source word's first token is a prefix of neither
(copying the source would look like either); it drops concepts whose first target or English token
is a partial character (the first bytes of a multi-byte character, shared by every word starting
with them; common for CJK under byte-level BPE) and counts every drop by reason.

`exclusive_ids`: the masses are exclusive. A token that is a prefix of both words (``S`` of
Spanien and Spain, ``Bra`` of Brasilien and Brazil) is evidence for neither and counts for
neither; counted for both, as the definition read literally would, it pulls every share towards
one half (on SmolLM2's tokenizer 12 of the 45 German concepts that pass the filter still share
such a token).
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field

BYTE_LEVEL = "byte-level"
SENTENCEPIECE = "sentencepiece"
SP_SPACE = "\u2581"  # ▁

# why a concept was left out of a language pair (the output counts each)
DROP_REASONS = {
    "not_a_word": "the target word does not start with a letter (e.g. Japanese months 1月)",
    "same_as_english": "the target word is the English word (case-insensitive)",
    "duplicate": "another concept of the pair has the same target or English word",
    "partial_character": "the first target or English token is part of one character, shared by many words",
    "shared_first_token": "the target's or the English first token is a prefix of the other word too",
    "source_shares_first_token": "the source word's first token is a prefix of the target or the English word",
}


class TokenizerError(ValueError):
    """A tokenizer whose tokens cannot be mapped to bytes."""


def _byte_table() -> dict[str, int]:
    """GPT-2's reversible byte <-> printable character table: character -> byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


_BYTE_OF = _byte_table()


def _decoder_types(spec) -> list[str]:
    if not isinstance(spec, dict):
        return []
    out = [str(spec.get("type"))]
    for inner in spec.get("decoders") or []:
        out += _decoder_types(inner)
    if spec.get("type") == "Replace" and (spec.get("pattern") or {}).get("String") == SP_SPACE:
        out.append("ReplaceSpace")
    return out


def scheme_of(tokenizer) -> str:
    """`BYTE_LEVEL` or `SENTENCEPIECE`, from the tokenizer's decoder (fast tokenizers) or its
    SentencePiece model (slow ones); TokenizerError otherwise."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None) if backend is not None else None
    if decoder is not None:
        try:
            kinds = _decoder_types(json.loads(decoder.__getstate__()))
        except (TypeError, ValueError, AttributeError):
            kinds = [type(decoder).__name__]
        if "ByteLevel" in kinds:
            return BYTE_LEVEL
        if {"Metaspace", "ReplaceSpace", "ByteFallback"} & set(kinds):
            return SENTENCEPIECE
        raise TokenizerError(f"tokenizer {type(tokenizer).__name__} ({getattr(tokenizer, 'name_or_path', '')}): "
                             f"decoder {'+'.join(kinds)} is neither byte-level BPE nor SentencePiece; its tokens "
                             "cannot be mapped to bytes, so prefix-token masses would be wrong")
    if getattr(tokenizer, "sp_model", None) is not None:
        return SENTENCEPIECE
    raise TokenizerError(f"tokenizer {type(tokenizer).__name__} ({getattr(tokenizer, 'name_or_path', '')}) has "
                         "neither a tokenizers decoder nor a SentencePiece model; its tokens cannot be mapped to bytes")


def piece_bytes(piece: str, scheme: str) -> bytes | None:
    """The bytes a vocabulary entry stands for; None when it is not of the scheme's alphabet."""
    if scheme == BYTE_LEVEL:
        try:
            return bytes(_BYTE_OF[ch] for ch in piece)
        except KeyError:
            return None
    if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
        try:
            return bytes([int(piece[3:5], 16)])
        except ValueError:
            pass
    return piece.replace(SP_SPACE, " ").encode("utf-8")


def complete_prefix(data: bytes) -> str:
    """The longest prefix of `data` that is whole UTF-8 characters, decoded."""
    for cut in range(len(data), max(len(data) - 4, -1), -1):
        try:
            return data[:cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="ignore")


def is_partial_character(data: bytes) -> bool:
    """The token holds no whole character: only the first bytes of one (after leading spaces)."""
    data = data.lstrip(b" ")
    return bool(data) and complete_prefix(data) == ""


@dataclass
class Vocabulary:
    """A tokenizer's tokens as bytes (`token_bytes[id]`, None for special and foreign tokens)."""

    tokenizer: object
    scheme: str
    token_bytes: list
    by_bytes: dict = field(default_factory=dict)  # bytes -> [token ids]

    @classmethod
    def of(cls, tokenizer) -> "Vocabulary":
        scheme = scheme_of(tokenizer)
        size = len(tokenizer)
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        added = {}
        for tid, tok in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
            added[int(tid)] = tok
        pieces = tokenizer.convert_ids_to_tokens(list(range(size)))
        out = []
        for tid, piece in enumerate(pieces):
            if tid in special or piece is None or (tid in added and getattr(added[tid], "special", False)):
                out.append(None)
            elif tid in added:  # an added token is stored as its text, not in the scheme's alphabet
                out.append(str(getattr(added[tid], "content", piece)).encode("utf-8"))
            else:
                out.append(piece_bytes(piece, scheme))
        vocab = cls(tokenizer, scheme, out)
        for tid, data in enumerate(out):
            if data and data.strip():
                vocab.by_bytes.setdefault(data, []).append(tid)
        return vocab

    def prefix_ids(self, word: str) -> list[int]:
        """Token ids whose bytes are a prefix of the word's UTF-8 bytes or of a space and them
        (whitespace-only tokens excluded), ascending."""
        ids: set[int] = set()
        for form in (word.encode("utf-8"), b" " + word.encode("utf-8")):
            for end in range(1, len(form) + 1):
                ids.update(self.by_bytes.get(form[:end], ()))
        return sorted(ids)

    def first_token(self, word: str) -> tuple[int, bytes] | None:
        """The first token of the word as the tokenizer writes it alone, leading whitespace-only
        tokens (SentencePiece's dummy ``▁``) skipped."""
        for tid in self.tokenizer.encode(word, add_special_tokens=False):
            data = self.token_bytes[tid] if tid < len(self.token_bytes) else None
            if data is None or data.strip():
                return tid, data or b""
        return None


@dataclass
class Selection:
    kept: list  # of Concept, in pool order
    dropped: dict  # reason -> count (every reason, 0 included)

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())


def starts_with_letter(word: str) -> bool:
    return bool(word) and unicodedata.category(word[0]).startswith("L")


def select(pool, vocab: Vocabulary, target: str, source: str | None = None, english: str = "en") -> Selection:
    """The concepts of `pool` whose target and English masses `vocab` can tell apart (the module
    docstring); `source` for the translation prompt's source language."""
    dropped = dict.fromkeys(DROP_REASONS, 0)
    kept, seen_target, seen_english = [], set(), set()
    for concept in pool:
        tgt, en = concept.word(target), concept.word(english)
        reason = None
        first_t, first_e = vocab.first_token(tgt), vocab.first_token(en)
        if not starts_with_letter(tgt):
            reason = "not_a_word"
        elif tgt.casefold() == en.casefold():
            reason = "same_as_english"
        elif tgt.casefold() in seen_target or en.casefold() in seen_english:
            reason = "duplicate"
        elif first_t is None or first_e is None or is_partial_character(first_t[1]) \
                or is_partial_character(first_e[1]):
            reason = "partial_character"
        else:
            ids_t, ids_e = set(vocab.prefix_ids(tgt)), set(vocab.prefix_ids(en))
            if first_t[0] in ids_e or first_e[0] in ids_t:
                reason = "shared_first_token"
            elif source is not None and source not in (target, english):
                first_s = vocab.first_token(concept.word(source))
                if first_s is None or first_s[0] in ids_t | ids_e:
                    reason = "source_shares_first_token"
        if reason:
            dropped[reason] += 1
            continue
        seen_target.add(tgt.casefold())
        seen_english.add(en.casefold())
        kept.append(concept)
    return Selection(kept, dropped)


def exclusive_ids(vocab: Vocabulary, target_word: str, english_word: str) -> tuple[list[int], list[int], int]:
    """(target ids, English ids, how many tokens were prefixes of both and count for neither)."""
    t, e = set(vocab.prefix_ids(target_word)), set(vocab.prefix_ids(english_word))
    return sorted(t - e), sorted(e - t), len(t & e)
