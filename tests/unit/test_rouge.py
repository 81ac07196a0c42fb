"""ROUGE accuracy: hand-checked scores, post-processing, the accuracy log, accuracy.txt, targets.

rouge_score's tokenizer lowercases, turns every run of non-[a-z0-9] characters into a space,
and (use_stemmer=True) Porter-stems only tokens longer than 3 characters. Every expected
number below is worked out by hand from those rules in the comment above it.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from mlnb.accuracy import rouge
from mlnb.accuracy.accuracy_log import (
    AccuracyEntry,
    decode_token_hex,
    dedupe_by_qsl_idx,
    read_accuracy_log,
)
from mlnb.accuracy.rouge import (
    LLAMA_TARGETS,
    SPLITTER_NLTK,
    SPLITTER_PUNKT,
    RougeResult,
    active_splitter,
    all_passed,
    check_targets,
    evaluate_rouge,
    format_accuracy_txt,
    postprocess_text,
    rouge_per_sample,
    rouge_scores,
    split_sentences,
)
from mlnb.errors import InputError

# -- Hand-checked pairs ---------------------------------------------------------------------

# Pair A: word order differs, so rouge1, rouge2 and rougeL all differ.
#   reference  "The quick brown fox jumps over the lazy dog."
#     -> the quick brown fox jump over the lazi dog            (9 tokens; jumps->jump, lazy->lazi)
#   prediction "The lazy dog jumped over a quick fox."
#     -> the lazi dog jump over a quick fox                    (8 tokens; jumped->jump)
#   rouge1: common unigrams, clipped: the(min(2,1)=1) quick fox jump over lazi dog = 7
#           F = 2*7 / (9+8) = 14/17
#   rouge2: ref bigrams (8): the-quick quick-brown brown-fox fox-jump jump-over over-the the-lazi lazi-dog
#           pred bigrams (7): the-lazi lazi-dog dog-jump jump-over over-a a-quick quick-fox
#           common: the-lazi lazi-dog jump-over = 3 -> F = 2*3 / (8+7) = 6/15
#   rougeL: longest common subsequence is 3 (e.g. "the lazi dog" or "the jump over"; no 4th token
#           can extend any of them in order) -> F = 2*3 / (9+8) = 6/17
#   rougeLsum: one sentence, so it equals rougeL.
PAIR_A = ("The lazy dog jumped over a quick fox.", "The quick brown fox jumps over the lazy dog.")
PAIR_A_F = {"rouge1": 14 / 17, "rouge2": 6 / 15, "rougeL": 6 / 17, "rougeLsum": 6 / 17}

# Pair B: the same two sentences in swapped order (rougeLsum differs from rougeL).
#   reference  "Rain fell. Roads closed."  -> rain fell | road close   (roads->road, closed->close)
#   prediction "Roads closed. Rain fell."  -> road close | rain fell
#   rouge1: all 4 tokens match -> F = 1
#   rouge2: ref rain-fell fell-road road-close; pred road-close close-rain rain-fell
#           common 2 of 3 each -> F = 2/3
#   rougeL: over the whole text the LCS is 2 ("rain fell" or "road close") -> F = 2*2/(4+4) = 1/2
#   rougeLsum: sentence by sentence (after post-processing puts each on its own line), each
#           reference sentence is fully covered by one prediction sentence: 4 of 4 -> F = 1
PAIR_B = ("Roads closed. Rain fell.", "Rain fell. Roads closed.")
PAIR_B_F = {"rouge1": 1.0, "rouge2": 2 / 3, "rougeL": 1 / 2, "rougeLsum": 1.0}

# Pair C: only case and punctuation differ: both tokenize to "u s stock rose 3 5" -> all 1.
PAIR_C = ("u s stocks rose 3 5", "U.S. stocks ROSE 3.5%.")
PAIR_C_F = {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0, "rougeLsum": 1.0}


def _scored(pair: tuple[str, str]) -> dict[str, float]:
    prediction, reference = postprocess_text(pair)
    per_sample = rouge_per_sample([prediction], [reference])
    return {metric: values[0] for metric, values in per_sample.items()}


@pytest.mark.parametrize(
    "pair, expected",
    [(PAIR_A, PAIR_A_F), (PAIR_B, PAIR_B_F), (PAIR_C, PAIR_C_F)],
    ids=["reordered-words", "swapped-sentences", "case-and-punctuation"],
)
def test_rouge_per_sample_matches_hand_count(pair, expected):
    scored = _scored(pair)
    assert scored == pytest.approx(expected, abs=1e-12)


def test_rouge_lsum_needs_the_newlines():
    # Without post-processing the prediction is one line, so rougeLsum collapses to rougeL.
    raw = rouge_per_sample([PAIR_B[0]], [PAIR_B[1]])
    assert raw["rougeLsum"][0] == pytest.approx(raw["rougeL"][0]) == pytest.approx(0.5)
    assert _scored(PAIR_B)["rougeLsum"] == pytest.approx(1.0)


def test_rouge_scores_are_rounded_means_times_100():
    pairs = [PAIR_A, PAIR_B, PAIR_C]
    predictions = postprocess_text([p for p, _ in pairs])
    references = postprocess_text([r for _, r in pairs])
    # rouge1    (14/17 + 1 + 1)/3   = 0.941176... -> 94.1176
    # rouge2    (6/15 + 2/3 + 1)/3  = 0.688888... -> 68.8889
    # rougeL    (6/17 + 1/2 + 1)/3  = 0.617647... -> 61.7647
    # rougeLsum (6/17 + 1 + 1)/3    = 0.784313... -> 78.4314
    assert rouge_scores(predictions, references) == {
        "rouge1": 94.1176,
        "rouge2": 68.8889,
        "rougeL": 61.7647,
        "rougeLsum": 78.4314,
    }
    assert all(type(v) is float for v in rouge_scores(predictions, references).values())


def test_rouge_scores_reject_mismatched_lengths():
    with pytest.raises(ValueError):
        rouge_per_sample(["a"], [])


# -- Post-processing and sentence splitting -------------------------------------------------


def test_postprocess_strips_and_puts_one_sentence_per_line():
    assert postprocess_text(["  Hello world.  Bye now.\n"]) == ["Hello world.\nBye now."]
    assert postprocess_text(["", "   "]) == ["", ""]


def test_active_splitter_is_reported():
    assert active_splitter() in (SPLITTER_NLTK, SPLITTER_PUNKT)


# Typical news sentences, split the way NLTK's English Punkt (punkt_tab) splits them. These
# include NLTK's known quirks: a period after an abbreviation followed by a capitalised word is
# kept ("a.m. Officers") unless the next word is a frequent sentence starter ("U.S. The"), and
# "No." is not an abbreviation in the English model.
NEWS_SPLITS = [
    (
        "Dr. Smith arrived at 3.5 p.m. on Jan. 5. He left soon after.",
        ["Dr. Smith arrived at 3.5 p.m. on Jan. 5.", "He left soon after."],
    ),
    (
        "The U.S. economy grew 3.5% in the third quarter. Analysts had expected 2.9%.",
        ["The U.S. economy grew 3.5% in the third quarter.", "Analysts had expected 2.9%."],
    ),
    ("He moved to the U.S. The move cost $3.5 million.", ["He moved to the U.S.", "The move cost $3.5 million."]),
    (
        "Mr. Obama met Mrs. Clinton in Washington, D.C. on Tuesday. They spoke for an hour.",
        ["Mr. Obama met Mrs. Clinton in Washington, D.C. on Tuesday.", "They spoke for an hour."],
    ),
    (
        "Sen. John McCain (R-Ariz.) said the bill was flawed. \"We can do better,\" he said.",
        ["Sen. John McCain (R-Ariz.) said the bill was flawed.", "\"We can do better,\" he said."],
    ),
    (
        "Police say the suspect, 34, was arrested at 11 a.m. Officers found a gun.",
        ["Police say the suspect, 34, was arrested at 11 a.m. Officers found a gun."],
    ),
    (
        "Shares fell 3.5 per cent. The FTSE 100 closed at 6,500.2 points.",
        ["Shares fell 3.5 per cent.", "The FTSE 100 closed at 6,500.2 points."],
    ),
    ("Apple Inc. reported earnings. Microsoft Corp. did too.", ["Apple Inc. reported earnings.", "Microsoft Corp. did too."]),
    ("line one\nline two. Line three.", ["line one\nline two.", "Line three."]),
]


@pytest.mark.parametrize("text, expected", NEWS_SPLITS, ids=range(len(NEWS_SPLITS)))
def test_split_sentences_on_news_text(text, expected):
    assert split_sentences(text) == expected


@pytest.fixture
def nltk_punkt_tab(tmp_path, monkeypatch):
    """Install an English punkt_tab in a private NLTK data folder, written from the punkt
    package's model (which is NLTK's punkt_tab English model converted), so the NLTK branch runs."""
    nltk = pytest.importorskip("nltk")
    punkt = pytest.importorskip("punkt")
    model = punkt.load_model("english")
    folder = tmp_path / "tokenizers" / "punkt_tab" / "english"
    folder.mkdir(parents=True)
    (folder / "abbrev_types.txt").write_text("".join(f"{a}\n" for a in sorted(model.abbrev_types)))
    (folder / "sent_starters.txt").write_text("".join(f"{s}\n" for s in sorted(model.sent_starters)))
    (folder / "collocations.tab").write_text("".join(f"{a}\t{b}\n" for a, b in sorted(model.collocations)))
    (folder / "ortho_context.tab").write_text(
        "".join(f"{t}\t{v}\n" for t, v in sorted(model.ortho_context.items()))
    )
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path), *nltk.data.path])
    _clear_splitter_caches()
    yield
    monkeypatch.undo()
    _clear_splitter_caches()


def _clear_splitter_caches() -> None:
    import nltk.tokenize

    rouge._splitter.cache_clear()
    cached = getattr(nltk.tokenize, "_get_punkt_tokenizer", None)
    if cached is not None and hasattr(cached, "cache_clear"):
        cached.cache_clear()


def test_nltk_is_used_when_its_data_is_installed_and_agrees(nltk_punkt_tab):
    assert active_splitter() == SPLITTER_NLTK
    for text, expected in NEWS_SPLITS:
        assert split_sentences(text) == expected


# -- Accuracy log ---------------------------------------------------------------------------


def _hex(ids: list[int]) -> str:
    return struct.pack(f"<{len(ids)}i", *ids).hex().upper()


def _write_log(path: Path, records: list[dict]) -> Path:
    # LoadGen's layout: one object per line inside an array.
    path.write_text("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")
    return path


def test_decode_is_int32_little_endian():
    # 1 -> 01 00 00 00, 256 -> 00 01 00 00, 128000 = 0x0001F400 -> 00 F4 01 00, -1 -> FF FF FF FF
    ids = decode_token_hex("01000000" "00010000" "00F40100" "FFFFFFFF")
    assert ids.dtype == np.int32
    assert ids.tolist() == [1, 256, 128000, -1]
    assert decode_token_hex("").tolist() == []


def test_read_accuracy_log_in_file_order(tmp_path):
    log = _write_log(
        tmp_path / "mlperf_log_accuracy.json",
        [
            {"seq_id": 0, "qsl_idx": 7, "data": _hex([5, 6, 7]), "token_count": 3},
            {"seq_id": 1, "qsl_idx": 2, "data": _hex([128009]), "token_data": _hex([9])},
        ],
    )
    entries = read_accuracy_log(log)
    assert [(e.seq_id, e.qsl_idx, e.token_count) for e in entries] == [(0, 7, 3), (1, 2, None)]
    assert entries[0].token_ids.tolist() == [5, 6, 7]
    assert entries[0].first_token_ids is None
    assert entries[1].token_ids.tolist() == [128009]
    assert entries[1].first_token_ids.tolist() == [9]


def test_empty_performance_log(tmp_path):
    log = tmp_path / "mlperf_log_accuracy.json"
    log.write_text("[\n]\n")
    assert read_accuracy_log(log) == []
    with pytest.raises(InputError, match="no samples"):
        evaluate_rouge(log, ["x"], FakeTokenizer())


def test_dedupe_keeps_first_occurrence():
    def entry(seq_id: int, qsl_idx: int) -> AccuracyEntry:
        return AccuracyEntry(seq_id, qsl_idx, np.array([seq_id], dtype=np.int32))

    kept = dedupe_by_qsl_idx([entry(0, 3), entry(1, 1), entry(2, 3), entry(3, 1), entry(4, 0)])
    assert [(e.seq_id, e.qsl_idx) for e in kept] == [(0, 3), (1, 1), (4, 0)]


def test_missing_log(tmp_path):
    with pytest.raises(InputError, match="not found") as info:
        read_accuracy_log(tmp_path / "absent.json")
    assert "absent.json" in str(info.value)


def test_invalid_json(tmp_path):
    log = tmp_path / "cut.json"
    log.write_text('[\n{ "seq_id" : 0, "qsl_idx" : 1, "data" : "0100')
    with pytest.raises(InputError, match="not valid JSON") as info:
        read_accuracy_log(log)
    assert "cut.json" in str(info.value)


@pytest.mark.parametrize("bad", ["0G000000", "010000", 12])
def test_bad_hex_names_file_and_entry(tmp_path, bad):
    log = _write_log(
        tmp_path / "acc.json",
        [{"seq_id": 0, "qsl_idx": 0, "data": _hex([1])}, {"seq_id": 1, "qsl_idx": 1, "data": bad}],
    )
    with pytest.raises(InputError) as info:
        read_accuracy_log(log)
    assert "acc.json" in str(info.value) and "entry 1" in str(info.value) and "'data'" in str(info.value)


def test_entry_without_qsl_idx(tmp_path):
    log = _write_log(tmp_path / "acc.json", [{"seq_id": 0, "data": ""}])
    with pytest.raises(InputError, match="entry 0.*qsl_idx"):
        read_accuracy_log(log)


def test_reads_real_loadgen_fixture():
    fixture = Path(__file__).parents[1] / "fixtures" / "loadgen" / "offline_accuracy" / "mlperf_log_accuracy.json"
    if not fixture.exists():
        pytest.skip("LoadGen accuracy fixture not generated")
    entries = read_accuracy_log(fixture)
    assert entries
    for entry in entries:
        assert entry.token_ids.dtype == np.int32
        if entry.token_count is not None:
            assert entry.token_count == entry.token_ids.size


# -- evaluate_rouge with a stand-in tokenizer ------------------------------------------------


class FakeTokenizer:
    """Token id i is word WORDS[i]; id 0 is an end-of-sequence special token."""

    WORDS = ["</s>", "Rain", "fell.", "Roads", "closed.", "Hello", "world.", " ", "Bye", "now."]

    def batch_decode(self, sequences, skip_special_tokens=False):
        texts = []
        for ids in sequences:
            words = [self.WORDS[i] for i in np.asarray(ids).tolist() if not (skip_special_tokens and i == 0)]
            texts.append(" ".join(words))
        return texts


def test_evaluate_rouge_counts_characters_after_postprocessing(tmp_path):
    log = _write_log(
        tmp_path / "mlperf_log_accuracy.json",
        [
            # decodes to "Roads closed. Rain fell." (EOS dropped)
            {"seq_id": 0, "qsl_idx": 1, "data": _hex([3, 4, 1, 2, 0]), "token_count": 5},
            # decodes to "Hello world.   Bye now." (id 7 is a space: three spaces between sentences)
            {"seq_id": 1, "qsl_idx": 0, "data": _hex([5, 6, 7, 8, 9])},
            # a repeat of qsl_idx 1: ignored
            {"seq_id": 2, "qsl_idx": 1, "data": _hex([5])},
        ],
    )
    references = ["Hello world. Bye now.", "Rain fell. Roads closed."]
    result = evaluate_rouge(log, references, FakeTokenizer())

    # post-processed predictions: "Roads closed.\nRain fell." (13 + 1 + 10 = 24 characters)
    #                             "Hello world.\nBye now."    (12 + 1 + 8 = 21 characters)
    assert [s.prediction for s in result.samples] == ["Roads closed.\nRain fell.", "Hello world.\nBye now."]
    assert result.gen_len == 24 + 21
    assert result.gen_num == 2
    assert result.gen_tok_len == 10
    assert [(s.qsl_idx, s.n_tokens) for s in result.samples] == [(1, 5), (0, 5)]
    # sample 1 is PAIR_B (rouge1 1, rougeL 1/2), sample 2 matches exactly
    assert result.samples[0].rouge1 == pytest.approx(100.0)
    assert result.samples[0].rougeL == pytest.approx(50.0)
    assert result.rouge1 == 100.0
    assert result.rouge2 == round((2 / 3 + 1) / 2 * 100, 4)
    assert result.rougeL == 75.0
    assert result.rougeLsum == 100.0
    assert result.splitter == active_splitter()
    assert type(result.gen_len) is int and type(result.gen_num) is int


def test_evaluate_rouge_rejects_index_beyond_dataset(tmp_path):
    log = _write_log(tmp_path / "acc.json", [{"seq_id": 0, "qsl_idx": 5, "data": _hex([1])}])
    with pytest.raises(InputError, match="qsl_idx 5"):
        evaluate_rouge(log, ["only one"], FakeTokenizer())


# -- evaluate_rouge with a real Hugging Face tokenizer --------------------------------------


@pytest.fixture(scope="module")
def hf_tokenizer():
    folder = os.environ.get("MLNB_TEST_TOKENIZER")
    if not folder:
        pytest.skip("set MLNB_TEST_TOKENIZER to a Hugging Face tokenizer folder to run this test")
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(folder)


def test_evaluate_rouge_end_to_end_with_hf_tokenizer(tmp_path, hf_tokenizer):
    references = [
        "Dr. Smith arrived on Jan. 5. He left soon after.",
        "The U.S. economy grew 3.5% in the third quarter. Analysts had expected 2.9%.",
        "Rain fell. Roads closed.",
    ]
    predictions = {0: references[0], 1: "The economy grew in the third quarter.", 2: "Roads closed. Rain fell."}
    eos = hf_tokenizer.eos_token_id
    records = []
    for seq_id, qsl_idx in enumerate([2, 0, 1]):
        ids = hf_tokenizer(predictions[qsl_idx], add_special_tokens=False)["input_ids"]
        ids = ids + ([eos] if eos is not None else [])
        records.append({"seq_id": seq_id, "qsl_idx": qsl_idx, "data": _hex(ids), "token_count": len(ids)})
    log = _write_log(tmp_path / "mlperf_log_accuracy.json", records)

    result = evaluate_rouge(log, references, hf_tokenizer)

    expected_preds = postprocess_text([predictions[i] for i in (2, 0, 1)])
    assert [s.prediction for s in result.samples] == expected_preds  # special tokens skipped
    assert result.gen_len == sum(len(p) for p in expected_preds)
    assert result.gen_num == 3
    expected = rouge_scores(expected_preds, postprocess_text([references[i] for i in (2, 0, 1)]))
    assert {m: result.metric(m) for m in expected} == expected
    assert result.samples[1].rouge1 == pytest.approx(100.0)  # qsl_idx 0 reproduced verbatim
    assert result.samples[0].rougeL == pytest.approx(50.0)  # PAIR_B again
    assert [s.n_tokens for s in result.samples] == [r["token_count"] for r in records]


# -- accuracy.txt ---------------------------------------------------------------------------


def _result(**overrides) -> RougeResult:
    values = dict(rouge1=38.8638, rouge2=16.2134, rougeL=24.5295, rougeLsum=35.8712, gen_len=3077653, gen_num=5000)
    values.update(overrides)
    return RougeResult(splitter=SPLITTER_PUNKT, **values)


def test_accuracy_txt_line_matches_checker_regexes():
    # numpy scalars (what np.sum returns) must still print as plain numbers
    line = format_accuracy_txt(_result(gen_len=np.int64(3077653), gen_num=np.int64(5000), rougeLsum=np.float64(35.8712)))
    assert line == (
        "{'rouge1': '38.8638', 'rouge2': '16.2134', 'rougeL': '24.5295', "
        "'rougeLsum': '35.8712', 'gen_len': 3077653, 'gen_num': 5000}"
    )
    assert "np." not in line
    assert re.match(r".*'rouge1':\s'([\d.]+)'.*", line).group(1) == "38.8638"
    assert re.match(r".*'gen_len':\s([\d.]+).*", line).group(1) == "3077653"
    assert re.match(r".*'rougeLsum':\s'([\d.]+)'.*", line).group(1) == "35.8712"


def test_accuracy_txt_keeps_four_decimals():
    line = format_accuracy_txt(_result(rouge2=40.0))
    assert "'rouge2': '40.0000'" in line


# -- Targets --------------------------------------------------------------------------------


def _at_reference(benchmark: str, **overrides) -> RougeResult:
    t = LLAMA_TARGETS[benchmark]
    values = {k: t[k] for k in ("rouge1", "rouge2", "rougeL", "rougeLsum")}
    values.update(gen_len=int(t["gen_len"]), gen_num=int(t["gen_num"]))
    values.update(overrides)
    return RougeResult(splitter=SPLITTER_PUNKT, **values)


def _by_metric(checks):
    return {c.metric: c for c in checks}


@pytest.mark.parametrize("benchmark", ["llama3.1-8b", "llama3.1-8b-edge"])
def test_reference_values_pass(benchmark):
    checks = check_targets(_at_reference(benchmark), benchmark)
    assert [c.metric for c in checks] == ["rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len", "gen_num"]
    assert all_passed(checks)
    assert _by_metric(checks)["rouge1"].upper is None
    assert _by_metric(checks)["gen_len"].upper == pytest.approx(LLAMA_TARGETS[benchmark]["gen_len"] * 1.1)


@pytest.mark.parametrize("benchmark", ["llama3.1-8b", "llama3.1-8b-edge"])
@pytest.mark.parametrize("metric", ["rouge1", "rouge2", "rougeL", "rougeLsum"])
def test_rouge_boundary_at_99_percent(benchmark, metric):
    floor = LLAMA_TARGETS[benchmark][metric] * 0.99
    above = _by_metric(check_targets(_at_reference(benchmark, **{metric: floor + 1e-4}), benchmark))[metric]
    below = _by_metric(check_targets(_at_reference(benchmark, **{metric: floor - 1e-4}), benchmark))[metric]
    assert above.passed and not below.passed
    assert above.lower == pytest.approx(floor)


@pytest.mark.parametrize(
    "fraction, passes", [(0.89, False), (0.9001, True), (1.0, True), (1.0999, True), (1.11, False)]
)
def test_gen_len_band(fraction, passes):
    reference = LLAMA_TARGETS["llama3.1-8b"]["gen_len"]
    result = _at_reference("llama3.1-8b", gen_len=int(reference * fraction))
    check = _by_metric(check_targets(result, "llama3.1-8b"))["gen_len"]
    assert check.passed is passes


def test_subset_run_fails_gen_num():
    checks = check_targets(_at_reference("llama3.1-8b-edge", gen_num=100), "llama3.1-8b-edge")
    assert not _by_metric(checks)["gen_num"].passed
    assert not all_passed(checks)


def test_loadgen_model_key_spelling_is_accepted():
    assert all_passed(check_targets(_at_reference("llama3.1-8b-edge"), "llama3_1-8b-edge"))


def test_unknown_benchmark():
    with pytest.raises(InputError, match="llama2-70b"):
        check_targets(_at_reference("llama3.1-8b"), "llama2-70b")
