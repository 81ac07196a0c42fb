"""The static decode path against eager generate, and dummy-weight runs shaped by reference lengths.

CPU only: the static path runs its decode step uncompiled here (CUDA graphs need a GPU); the GPU
check of the same equality is tests/benchmarks/gpu_targets.py --only tokens.
"""

import json
import threading

import pytest
from transformers import AutoTokenizer

from mlnb.backends.base import Request
from mlnb.backends.registry import get_backend
from mlnb.config import StageParams
from mlnb.data.cnndm import EMBEDDED_DATASET, load_cnndm
from mlnb.stages.loadgen_stage import RANDOM_WEIGHTS_NOTE, run_stage

pytestmark = pytest.mark.slow

TINY_LLAMA = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
    "vocab_size": 128256, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
    "bos_token_id": 128000, "eos_token_id": [128001, 128009], "tie_word_embeddings": False,
}


class _Recorder:
    def __init__(self, n):
        self.firsts, self.done, self.n = {}, {}, n
        self.all_done = threading.Event()

    def first_token(self, request, ids):
        self.firsts[request.request_id] = list(ids)

    def complete(self, request, ids, error=None):
        assert error is None, error
        self.done[request.request_id] = list(ids)
        if len(self.done) == self.n:
            self.all_done.set()


def _run(backend, requests):
    rec = _Recorder(len(requests))
    backend.start(rec)
    backend.submit(requests)
    assert rec.all_done.wait(300)
    backend.stop()
    return rec


def test_static_path_gives_the_greedy_tokens_of_eager_generate(embedded_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir)
    texts = ("The weather today is", "In the news this morning, the mayor of the town said", "A story about a cat:")
    prompts = [tokenizer(t).input_ids for t in texts]
    results = {}
    for path in ("eager", "static"):
        # samples=1: the cache holds the first record's prompt plus max_new_tokens.
        params = StageParams(model="embedded", samples=1, max_new_tokens=14, batch_size=4, scenario="Server",
                             decode_path=path, static_max_batch=4)
        backend = get_backend("hf")(params)
        backend.load()
        # Three rows of different prompt and output lengths: left padding, a padded fourth row, early ends.
        requests = [Request(i, i, p, True, 14 - 4 * i, 1) for i, p in enumerate(prompts)]
        results[path] = _run(backend, requests)
        if path == "static":
            facts = backend.describe()["static_decode"]
            assert facts["batch_sizes"] == [1, 2, 4] and facts["cuda_graphs"] is False
            assert backend.static_batches_run == 1  # one static batch of 4 for the three rows
    eager, static = results["eager"], results["static"]
    assert static.done == eager.done
    assert [len(static.done[i]) for i in range(3)] <= [14, 10, 6]
    assert static.firsts == {i: ids[:1] for i, ids in static.done.items()}


def _generate_alone(model, tokenizer, prompts, new_tokens):
    """Each prompt's greedy tokens from eager generate, run alone (exactly ``n`` new tokens each)."""
    import torch

    expected = []
    for ids, n in zip(prompts, new_tokens):
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                 pad_token_id=tokenizer.eos_token_id)
        expected.append(out[0, len(ids):].tolist())
    return expected


def test_rows_join_as_slots_free_and_the_ring_wraps_with_the_tokens_of_generate_alone(embedded_model_dir):
    """Continuous batching: 7 rows through 2 slots, each row's tokens as generate gives it run alone.

    The ring holds exactly the longest row (prompt + new tokens), so the write column wraps round many
    times while rows of other lengths join and leave; a mask or column slip would change tokens.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from mlnb.backends.static_decode import Row, StaticDecoder

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir)
    model = AutoModelForCausalLM.from_pretrained(embedded_model_dir, dtype=torch.float32).eval()
    texts = ["The weather today is", "Write a haiku about the sea.", "Name three colours:", "Once upon a time",
             "The capital of France is", "def add(a, b):", "A short story about a robot who learns to paint:"]
    prompts = [tokenizer(t).input_ids for t in texts]
    new_tokens = [9, 3, 12, 6, 1, 10, 5]
    eos = {tokenizer.eos_token_id}
    expected = _generate_alone(model, tokenizer, prompts, new_tokens)
    ring = max(len(p) + n for p, n in zip(prompts, new_tokens))
    decoder = StaticDecoder(model, [1, 2], ring, eos, tokenizer.eos_token_id, use_cuda_graphs=False,
                            prefill_tokens=24)  # small groups: several prefills, one chunked
    got, order = {}, []

    def on_token(row, tokens, done):
        if done:
            got[row.key] = list(tokens)
            order.append(row.key)

    decoder.generate([Row(p, n, n, False, key=i) for i, (p, n) in enumerate(zip(prompts, new_tokens))], on_token)
    assert [got[i] for i in range(len(prompts))] == expected
    assert order != sorted(order)  # short rows left before earlier long ones: they did not wait for a batch
    assert decoder.steps_run < sum(new_tokens)  # rows shared steps
    assert decoder.prefills_run >= 4 and decoder.live == 0


def _tiny_model(tmp_path):
    folder = tmp_path / "tiny-llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TINY_LLAMA))
    return folder


def test_dummy_weights_follow_reference_lengths_on_the_static_path(tmp_path, embedded_model_dir):
    model = _tiny_model(tmp_path)
    p = StageParams(run_dir=str(tmp_path), stage="offline", backend="hf", model=str(model), load_format="dummy",
                    samples=6, max_new_tokens=70, decode_path="static", static_max_batch=4,
                    min_query_count=6, min_duration_ms=0)
    summary = run_stage(p)
    assert summary.verdict in ("VALID", "INVALID") and summary.sut["errors"] == 0
    assert summary.engine["static_decode"]["batch_sizes"] == [4]
    assert any("random weights" in rule for rule in summary.relaxed_rules)
    assert summary.dataset["output_length"] == "reference"
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir)
    records = load_cnndm(EMBEDDED_DATASET)[:6]
    expected = {i: min(len(tokenizer.encode(r["output"], add_special_tokens=False)), 70) for i, r in enumerate(records)}
    rows = [json.loads(line) for line in (tmp_path / "offline" / "queries.jsonl").read_text().splitlines()]
    assert {r["sample_index"]: r["output_tokens"] for r in rows} == expected
    assert len(set(expected.values())) > 1  # the shape varies as the references do


def test_dummy_accuracy_stage_decodes_with_the_tokenizer_at_hand_and_says_it_is_meaningless(tmp_path):
    model = _tiny_model(tmp_path)
    p = StageParams(run_dir=str(tmp_path), stage="acc", backend="hf", model=str(model), load_format="dummy",
                    mode="accuracy", samples=3, max_new_tokens=12, batch_size=3)
    summary = run_stage(p)
    assert summary.accuracy["gen_num"] == 3
    assert summary.accuracy["targets_note"] == RANDOM_WEIGHTS_NOTE
    assert summary.verdict == "FAIL" and not summary.submittable


def test_deepseek_r1_stage_runs_on_the_static_path(tmp_path):
    """The static cache is sized from the stage's own workload, not from CNN/DailyMail's loader."""
    from mlnb.data.dsr1 import EMBEDDED_DATASET as DSR1_DATASET, load_dsr1, prompt_token_ids
    from mlnb.models.embedded import embedded_model_dir

    p = StageParams(run_dir=str(tmp_path), stage="dsr1", backend="hf", model="embedded", workload="deepseek-r1",
                    samples=2, max_new_tokens=4, decode_path="static", static_max_batch=2,
                    min_query_count=2, min_duration_ms=0)
    summary = run_stage(p)
    assert summary.sut["errors"] == 0
    facts = summary.engine["static_decode"]
    assert facts["batch_sizes"] == [2]
    records = load_dsr1(DSR1_DATASET)[:2]
    prompts = prompt_token_ids(records, AutoTokenizer.from_pretrained(embedded_model_dir())).token_ids
    assert facts["max_context"] == max(len(ids) for ids in prompts) + 4


def test_deepseek_r1_stage_with_random_weights_on_the_static_path(tmp_path):
    """An architecture-only folder has no tokenizer: the cache is sized from the tokenizer at hand's prompts."""
    p = StageParams(run_dir=str(tmp_path), stage="dsr1", backend="hf", model=str(_tiny_model(tmp_path)),
                    load_format="dummy", workload="deepseek-r1", samples=3, max_new_tokens=6,
                    decode_path="static", static_max_batch=4, min_query_count=3, min_duration_ms=0)
    summary = run_stage(p)
    assert summary.sut["errors"] == 0
    assert summary.engine["static_decode"]["batch_sizes"] == [4]


def test_singlestream_records_batch_one_alone():
    """One query in flight at a time: the static path sizes itself for batch 1, whatever static_max_batch says."""
    params = StageParams(model="embedded", samples=1, max_new_tokens=4, scenario="SingleStream", decode_path="static",
                         static_max_batch=4)
    backend = get_backend("hf")(params)
    backend.load()
    assert backend.describe()["static_decode"]["batch_sizes"] == [1]


def test_a_long_row_left_in_a_high_slot_moves_down_and_steps_shrink(embedded_model_dir):
    """Four rows in slots 0-3, three end early: the long one moves to slot 0 and the steps run at batch 1,
    with the tokens generate gives it alone (the cache, mask and inputs moved with it)."""
    import torch
    from transformers import AutoModelForCausalLM

    from mlnb.backends.static_decode import Row, StaticDecoder

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir)
    model = AutoModelForCausalLM.from_pretrained(embedded_model_dir, dtype=torch.float32).eval()
    prompts = [tokenizer(t).input_ids for t in ("Name three colours:", "The capital of France is", "Once upon a time",
                                                  "A short story about a robot who learns to paint:")]
    new_tokens = [2, 3, 2, 16]
    expected = _generate_alone(model, tokenizer, prompts, new_tokens)
    ring = max(len(p) + n for p, n in zip(prompts, new_tokens))
    decoder = StaticDecoder(model, [1, 2, 4], ring, {tokenizer.eos_token_id}, tokenizer.eos_token_id, use_cuda_graphs=False)
    got = {}
    decoder.generate([Row(p, n, n, False, key=i) for i, (p, n) in enumerate(zip(prompts, new_tokens))],
                     lambda row, tokens, done: done and got.__setitem__(row.key, list(tokens)))
    assert [got[i] for i in range(4)] == expected
    split = decoder.time_split()
    assert split["rows_moved"] == 1
    # 15 steps after the prefill: one at batch 4; then two rows live in slots 1 and 3, so the long row
    # moves to slot 0 and the step runs at batch 2; then 13 at batch 1 (without the move: all 15 at 4)
    assert decoder.steps_run == 15 and decoder.slots_stepped == 4 + 2 + 13 * 1
