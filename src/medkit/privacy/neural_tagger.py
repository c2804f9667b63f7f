"""medkit's contextual PHI tagger: the pretrained MiniLM-L6 encoder fine-tuned as a word-piece classifier.

Labels are ``O`` or the PHI type of the gold span a word piece overlaps (IO tagging, as the CRF). Notes
longer than ``max_len`` word pieces are cut into overlapping windows; a piece's probabilities are the mean
over the windows that hold it. The vocabulary is lower-cased, so a learned casing embedding (lower, Title,
UPPER, digits, other) is added to the input embeddings (zero at start: the pretrained model is unchanged
until training moves it). Training goes through :class:`medkit.training.Trainer` (AdamW, linear warm-up +
cosine decay, early stopping on the validation patients' word-piece average precision).

``torch``, ``safetensors`` and ``tokenizers`` are imported lazily: ``import medkit.privacy`` stays light.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

import numpy as np

from medkit.core.errors import DataError, NotFittedError
from medkit.privacy.phi import PhiSpan, Token

_SPECIAL, _LOWER, _TITLE, _UPPER, _DIGIT, _OTHER = range(6)


def _case(piece: str) -> int:
    s = piece.lstrip("#") or piece
    if any(c.isdigit() for c in s):
        return _DIGIT
    if not any(c.isalpha() for c in s):
        return _OTHER
    if s.isupper():
        return _UPPER if len(s) > 1 else _TITLE
    return _TITLE if s[0].isupper() else _LOWER


def piece_labels(offsets: Sequence[tuple[int, int]], spans: Sequence[PhiSpan]) -> list[str]:
    """IO label per word piece: the type of the first gold span (by start) the piece overlaps, else ``O``."""
    out = ["O"] * len(offsets)
    starts = [o[0] for o in offsets]
    for sp in sorted(spans):
        i = max(0, bisect.bisect_right(starts, sp.start) - 1)
        while i < len(offsets) and offsets[i][0] < sp.end:
            if offsets[i][1] > sp.start and out[i] == "O":
                out[i] = sp.type
            i += 1
    return out


def windows(n: int, size: int, step: int) -> list[tuple[int, int]]:
    """``[start, end)`` windows of at most ``size`` covering ``0..n`` with starts every ``step``."""
    if n <= size:
        return [(0, n)]
    out = [(s, min(s + size, n)) for s in range(0, n - size + step, step)]
    if out[-1][1] < n:
        out.append((n - size, n))
    return out


class TransformerPhiTagger:
    """Fine-tune MiniLM-L6 to tag PHI word pieces; score medkit tokens.

    Parameters
    ----------
    max_len
        Word pieces per window (plus [CLS]/[SEP]).
    step
        Window stride in word pieces (< ``max_len``: windows overlap so every piece has context).
    epochs, lr, batch_size, weight_decay
        Fine-tuning settings (AdamW through :class:`medkit.training.Trainer`).
    negative_fraction
        Share of training windows *without* any PHI that are kept (1.0: all); fewer makes an epoch faster and
        shifts probabilities up (the decision threshold is tuned afterwards anyway).
    patience
        Early stopping: stop after this many epochs without a better validation word-piece AP (``None``: run
        all ``epochs``). With ``epochs`` it is the training budget, so the result does not depend on machine load.
    max_seconds
        Wall-clock *safety cap* only (``None``: none). When it ends training, ``result_.out_of_time`` is true
        and the best validated weights so far are kept; callers should report it (the model is under-trained).
    seed, num_threads
        Reproducibility / CPU threads (torch).
    """

    def __init__(self, max_len: int = 128, step: int = 96, epochs: int = 3, lr: float = 5e-5, batch_size: int = 16,
                 weight_decay: float = 0.01, negative_fraction: float = 0.3, patience: int | None = None,
                 max_seconds: float | None = None, seed: int = 0, num_threads: int | None = 1) -> None:
        self.max_len = max_len
        self.step = step
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.negative_fraction = negative_fraction
        self.patience = patience
        self.max_seconds = max_seconds
        self.seed = seed
        self.num_threads = num_threads

    # ---------------------------------------------------------------- encoding
    def _encode(self, text: str) -> tuple[list[int], list[tuple[int, int]], list[int]]:
        ids, offs = self.pieces_.encode(text)
        cases = [_case(text[s:e]) for s, e in offs]
        return ids, offs, cases

    def _windows(self, ids: list[int], cases: list[int], labels: list[int] | None
                 ) -> list[tuple[list[int], list[int], list[int], int]]:
        """(ids, cases, labels, first piece index) per window, with [CLS]/[SEP] added (label -100)."""
        out = []
        for a, b in windows(len(ids), self.max_len - 2, self.step):
            lab = [-100] + (labels[a:b] if labels is not None else [-100] * (b - a)) + [-100]
            out.append(([self.pieces_.cls_id] + ids[a:b] + [self.pieces_.sep_id], [_SPECIAL] + cases[a:b] + [_SPECIAL],
                        lab, a))
        return out

    def _collate(self, batch: list[tuple[list[int], list[int], list[int], int]]) -> dict[str, Any]:
        import torch

        n = max(len(b[0]) for b in batch)
        ids = torch.full((len(batch), n), self.pieces_.pad_id, dtype=torch.long)
        case = torch.zeros((len(batch), n), dtype=torch.long)
        lab = torch.full((len(batch), n), -100, dtype=torch.long)
        for i, (a, c, y, _) in enumerate(batch):
            ids[i, :len(a)] = torch.tensor(a)
            case[i, :len(c)] = torch.tensor(c)
            lab[i, :len(y)] = torch.tensor(y)
        return {"ids": ids, "case": case, "labels": lab, "mask": torch.arange(n)[None, :] < torch.tensor(
            [len(b[0]) for b in batch])[:, None]}

    def _examples(self, texts: Sequence[str], gold: Sequence[Sequence[PhiSpan]], keep_negative: float,
                  rng: np.random.Generator) -> list[tuple[list[int], list[int], list[int], int]]:
        ex = []
        for text, g in zip(texts, gold, strict=True):
            if not text.strip():
                continue
            ids, offs, cases = self._encode(text)
            labs = [self.index_.get(t, 0) for t in piece_labels(offs, g)]
            for w in self._windows(ids, cases, labs):
                if any(y > 0 for y in w[2]) or rng.random() < keep_negative:
                    ex.append(w)
        return ex

    # ---------------------------------------------------------------- training
    def fit(self, texts: Sequence[str], gold: Sequence[Sequence[PhiSpan]], val_texts: Sequence[str] | None = None,
            val_gold: Sequence[Sequence[PhiSpan]] | None = None) -> TransformerPhiTagger:
        """Fine-tune on notes ``texts`` with gold spans; validation notes (other patients) pick the best epoch."""
        import torch

        from medkit.privacy.minilm import PieceClassifier, WordPieces, load_pretrained, load_tokenizer_json
        from medkit.training import Trainer

        if len(texts) != len(gold):
            raise DataError(f"{len(texts)} notes but {len(gold)} gold span lists", where="TransformerPhiTagger.fit",
                            fix="pass one list of gold spans per note")
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        torch.manual_seed(self.seed)
        self.pieces_ = WordPieces(load_tokenizer_json())
        self.classes_ = ["O"] + sorted({s.type for g in gold for s in g})
        self.index_ = {c: i for i, c in enumerate(self.classes_)}
        self.model_ = PieceClassifier(load_pretrained(), len(self.classes_))
        rng = np.random.default_rng(self.seed)
        train = self._examples(texts, gold, self.negative_fraction, rng)
        if not train:
            raise DataError("no training windows (all notes empty)", where="TransformerPhiTagger.fit",
                            fix="pass non-empty notes")
        val = self._examples(val_texts, val_gold, 1.0, rng) if val_texts is not None and val_gold is not None else None
        cfg = self.train_config(bool(val))
        trainer = Trainer(self.model_, _loss, cfg, val_fn=_val_ap if val else None, collate_fn=self._collate,
                          description="MiniLM PHI tagger")
        self.result_ = trainer.fit(train, val)  # type: ignore[arg-type]
        self.model_.eval()
        self.n_train_windows_ = len(train)
        return self

    def train_config(self, validated: bool) -> Any:
        """The :class:`~medkit.training.TrainConfig` of the fine-tune: ``epochs`` (and ``patience`` on the
        validation AP, when there are validation notes) bound it; ``max_seconds`` is only a safety cap."""
        from medkit.training import TrainConfig

        return TrainConfig(max_epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           weight_decay=self.weight_decay, scheduler="cosine", grad_clip=1.0,
                           patience=self.patience if validated else None,
                           monitor="val_ap" if validated else "train_loss", mode="max" if validated else "min",
                           seed=self.seed, progress=False, max_seconds=self.max_seconds, budget_check="step")

    # -------------------------------------------------------------- prediction
    def piece_probabilities(self, text: str) -> tuple[list[tuple[int, int]], np.ndarray]:
        """Word-piece offsets and class probabilities, shape (n_pieces, n_classes), window means."""
        import torch

        if not hasattr(self, "model_"):
            raise NotFittedError("TransformerPhiTagger is not fitted", where="TransformerPhiTagger",
                                 fix="call fit(texts, gold) first, or load a saved model")
        ids, offs, cases = self._encode(text)
        probs = np.zeros((len(ids), len(self.classes_)))
        count = np.zeros(len(ids))
        wins = self._windows(ids, cases, None)
        self.model_.eval()
        with torch.no_grad():
            for k in range(0, len(wins), 32):
                chunk = wins[k:k + 32]
                b = self._collate(chunk)
                p = torch.softmax(self.model_(b["ids"], b["mask"], b["case"]), -1).numpy()
                for j, (w, _, _, a) in enumerate(chunk):
                    m = len(w) - 2
                    probs[a:a + m] += p[j, 1:1 + m]
                    count[a:a + m] += 1
        return offs, probs / np.maximum(count, 1)[:, None]

    def phi_probability(self, text: str, tokens: Sequence[Token]) -> list[tuple[float, str]]:
        """Per medkit token: (P(PHI) = max over its word pieces of 1 - P(O), most likely PHI type there)."""
        if not tokens or not text.strip():
            return [(0.0, "Other") for _ in tokens]
        offs, probs = self.piece_probabilities(text)
        starts = [o[0] for o in offs]
        out = []
        for t in tokens:
            i = max(0, bisect.bisect_right(starts, t.start) - 1)
            best, typ = 0.0, "Other"
            while i < len(offs) and offs[i][0] < t.end:
                if offs[i][1] > t.start:
                    p = 1.0 - float(probs[i, 0])
                    if p >= best:
                        best, typ = p, self.classes_[1 + int(np.argmax(probs[i, 1:]))] if len(self.classes_) > 1 \
                            else "Other"
                i += 1
            out.append((best, typ))
        return out


def _loss(model: Any, batch: dict[str, Any]) -> Any:
    import torch

    logits = model(batch["ids"], batch["mask"], batch["case"])
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1),
                                             ignore_index=-100)


def _val_ap(model: Any, loader: Any) -> dict[str, float]:
    """Average precision of P(PHI) over the validation word pieces (threshold-free, so it ranks epochs)."""
    import torch
    from sklearn.metrics import average_precision_score

    ys, ps, loss = [], [], []
    for b in loader:
        logits = model(b["ids"], b["mask"], b["case"])
        loss.append(float(_loss(model, b)))
        keep = b["labels"] != -100
        ys.append((b["labels"][keep] > 0).numpy())
        ps.append((1 - torch.softmax(logits, -1)[..., 0])[keep].numpy())
    y, p = np.concatenate(ys), np.concatenate(ps)
    return {"val_ap": float(average_precision_score(y, p)) if y.any() else 0.0, "val_loss": float(np.mean(loss))}

